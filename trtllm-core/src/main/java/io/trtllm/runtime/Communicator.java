package io.trtllm.runtime;

import java.lang.foreign.MemorySegment;
import org.jspecify.annotations.Nullable;

/**
 * The collectives the ranks of a split model exchange data through (NCCL's, in its words): one
 * communicator per rank of a group (the TP ranks of a stage, or the stages of a pipeline). Buffers are
 * float32 {@link MemorySegment}s: heap arrays ({@link MemorySegment#ofArray(float[])}) for the in-process
 * implementation of the CPU backend, device memory for NCCL. Every rank of the group calls a collective in
 * the same order with the same sizes, each from its own thread.
 *
 * <p>A failure never hangs the group: a collective that waits longer than the group's timeout, or whose
 * group was {@link #abort aborted} (a rank failed), throws {@link CommunicatorException} on every rank,
 * and every later call fails at once.
 */
public interface Communicator extends AutoCloseable {

    /** This rank within the group, {@code [0, size)}. */
    int rank();

    /** Ranks in the group. */
    int size();

    /**
     * Replaces {@code floats} on every rank by their element-wise sum over the ranks. Every rank gets the same
     * bits (the sum is taken once, in one order), so that replicated state stays identical across ranks.
     */
    void allReduceSum(MemorySegment floats);

    /** Copies every rank's {@code send} into {@code receive}, rank {@code r}'s at {@code r × send.byteSize()}. */
    void allGather(MemorySegment send, MemorySegment receive);

    /** Sends {@code floats} to rank {@code peer}, which receives them with {@link #receive}; need not wait for it. */
    void send(MemorySegment floats, int peer);

    /** Fills {@code floats} with what rank {@code peer} {@link #send sent}, in order; waits for it. */
    void receive(MemorySegment floats, int peer);

    /**
     * Fails the group: every rank's pending and later calls throw {@link CommunicatorException} naming
     * {@code cause} (NCCL's {@code ncclCommAbort}). Idempotent; the first cause wins.
     */
    void abort(Throwable cause);

    /** Why the group failed, or null while it is usable. */
    @Nullable Throwable failure();

    /** {@link #allReduceSum(MemorySegment)} of {@code count} floats of a heap array at {@code offset}. */
    default void allReduceSum(float[] floats, int offset, int count) {
        allReduceSum(MemorySegment.ofArray(floats).asSlice(offset * 4L, count * 4L));
    }

    /** Frees what the communicator holds; the group's other ranks close theirs. */
    @Override
    void close();
}
