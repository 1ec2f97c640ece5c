package io.trtllm.runtime;

import io.trtllm.model.ModelConfig;
import io.trtllm.sampling.Sampler;
import org.jspecify.annotations.Nullable;

/**
 * A backend's forward pass. It computes; it does not decide: which tokens run and which KV-cache
 * blocks they use come in the {@link Batch}. Not thread-safe: one executor thread drives it.
 */
public interface ModelRunner extends AutoCloseable {

    /** The model this runner computes. */
    ModelConfig config();

    /** The paged KV cache this runner owns. */
    KvCacheSpec kvCache();

    /** Backend name for logs and health ("cpu", "cuda"). */
    String backend();

    /** How this runner computes, for logs and benchmarks (kernels, threads, device). */
    default String description() {
        return backend();
    }

    /**
     * Runs one forward pass: writes the keys and values of every new token into its sequence's
     * blocks and returns, per chunk (same order as the batch), what its {@link SequenceChunk#logits() mode}
     * asks for: its logits rows ({@link SequenceChunk.LogitsMode#LAST}, {@link SequenceChunk.LogitsMode#ALL}),
     * the token it chose ({@link SequenceChunk.LogitsMode#ARGMAX}, {@link SequenceChunk.LogitsMode#SAMPLE}),
     * or nothing.
     *
     * @throws IllegalArgumentException if a chunk's block table does not cover its positions, a block
     *                                  id or token id is out of range, or a position exceeds the model's limit
     */
    ForwardResult forward(Batch batch);

    /**
     * Whether this runner overlaps passes: {@link #launch} returns once the pass is queued on the device, so the
     * executor schedules and stages the next pass while this one computes, and a chunk of the next pass may take
     * its token from this one's choice without a round trip through the host ({@link Batch#previousChunk}).
     * False (the default): the executor never sets {@link Batch#previousChunk} and each pass is awaited before the
     * next is scheduled.
     */
    default boolean overlaps() {
        return false;
    }

    /**
     * Starts one forward pass as {@link #forward} computes it and returns a handle to its result. A runner that
     * {@link #overlaps()} returns at once and accepts the next {@code launch} before this pass is awaited (at most
     * one pass launched and not awaited at a time; passes awaited in launch order); a chunk of the next pass whose
     * {@link Batch#previousChunk(int)} is {@code p} takes as its only token the token this pass chose for its chunk
     * {@code p} (an {@link SequenceChunk.LogitsMode#ARGMAX} or {@link SequenceChunk.LogitsMode#SAMPLE} chunk).
     * The default runs {@link #forward} at once.
     *
     * @throws IllegalArgumentException as {@link #forward}, and for a {@link Batch#previousChunk} of a runner
     *                                  that does not overlap or of no chosen token of the previous pass
     * @throws IllegalStateException    when a second pass would be in flight
     */
    default PendingPass launch(Batch batch) {
        if (batch.chainsTokens()) {
            throw new IllegalArgumentException(backend() + " runner does not overlap passes: no chunk can take its "
                    + "token from the previous pass");
        }
        ForwardResult result = forward(batch);
        return () -> result;
    }

    /**
     * Whether {@link #launch(Batch, boolean[])} works: a pass of an overlapping runner may be launched before the
     * token masks of some of its chunks are known (guided decoding: a mask follows from the token the pass in
     * flight is still choosing). The runner then computes the pass up to its logits rows and chooses those
     * chunks' tokens only once {@link MaskedPass#masks} has given the masks. False (the default): every mask
     * comes in its chunk.
     */
    default boolean takesMasksLater() {
        return false;
    }

    /**
     * As {@link #launch(Batch)}, but the chunks {@code i} with {@code masksLater[i]} set ({@link SequenceChunk.LogitsMode#ARGMAX}
     * or {@link SequenceChunk.LogitsMode#SAMPLE}, without a mask of their own) choose their tokens under masks given
     * later, to {@link MaskedPass#masks}, which must come before the pass is awaited and before the next launch.
     * Launching, then awaiting the pass before, then giving the masks lets the device compute this pass's layers
     * while the host advances the guides and computes the masks.
     *
     * @throws UnsupportedOperationException when {@link #takesMasksLater()} is false
     * @throws IllegalArgumentException      as {@link #launch(Batch)}, for a {@code masksLater} of another length
     *                                       than the batch, or set on a chunk that chooses no token or has a mask
     */
    default MaskedPass launch(Batch batch, boolean[] masksLater) {
        throw new UnsupportedOperationException(backend() + " runner does not take token masks after the launch");
    }

    /**
     * The greedy choice, what a runner returns for {@link SequenceChunk.LogitsMode#ARGMAX} and what the
     * sampler picks at temperature 0: the index of the largest of {@code n} logits at {@code offset}, the
     * lowest such index on ties (as {@code torch.argmax}); {@link Sampler#argmax} defines it.
     */
    static int argmax(float[] logits, int offset, int n) {
        return Sampler.argmax(logits, offset, n);
    }

    /**
     * The error after which this runner computes nothing more (for CUDA, a device error such as an illegal
     * memory access, which corrupts the context), or null while it is usable. When a pass fails and this is
     * set, the executor stops: it fails every request and refuses new ones, rather than failing them one
     * pass at a time. Errors that leave the runner usable (bad input, out of memory for one pass) keep it null.
     */
    default @Nullable Throwable failure() {
        return null;
    }

    /**
     * Whether {@link #copyBlocks} works. Without it the executor recomputes a beam's positions in a block it
     * must copy (slower, same result).
     */
    default boolean copiesBlocks() {
        return false;
    }

    /**
     * Copies the keys and values of every slot of KV block {@code pairs[2i]} into block {@code pairs[2i + 1]},
     * in every layer, before the next {@link #forward}: the copy on write of a block that beams of a beam
     * search shared and one of them is about to write into.
     *
     * @throws UnsupportedOperationException when {@link #copiesBlocks()} is false
     * @throws IllegalArgumentException      for an odd length or a block id out of range
     */
    default void copyBlocks(int[] pairs) {
        throw new UnsupportedOperationException(backend() + " runner does not copy KV blocks");
    }

    /** Bytes of device (GPU) memory this runner holds: weights, KV cache, workspace; -1 on the CPU. */
    default long deviceMemoryBytes() {
        return -1;
    }

    @Override
    void close();
}
