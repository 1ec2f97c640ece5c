package io.trtllm.runtime;

import io.trtllm.model.RankShard;
import org.jspecify.annotations.Nullable;

/**
 * One rank's part of a split model's forward pass ({@link RankGroupRunner} drives them in lockstep, a thread
 * each): it computes its shard of every layer of its stage, exchanging activations with the other ranks
 * through its {@link Communicator}s. Not thread-safe: its own thread calls it.
 */
public interface RankRunner extends AutoCloseable {

    /** Which part of the model this rank computes. */
    RankShard shard();

    /**
     * Runs this rank's part of the pass over {@code batch} (already checked against the whole model). The
     * rank that ends the pass (TP rank 0 of the last stage) returns its result; the others return null.
     *
     * @throws CommunicatorException when the group failed or timed out in a collective
     */
    @Nullable ForwardResult forward(Batch batch);

    /** Bytes of device memory this rank holds; -1 on the CPU. */
    default long deviceMemoryBytes() {
        return -1;
    }

    @Override
    void close();
}
