package io.trtllm.sampling;

/**
 * Which tokens one sequence may take next: applied to its row of logits after the penalties and bans and
 * before the warpers and the draw ({@link LogitsProcessor#process}), so that top-k, top-p and min-p choose
 * among the allowed tokens only. Log-probabilities stay those of the raw row (as vLLM's default), unless the
 * mask {@link #masksLogprobs() says otherwise}: beam search's steps rank continuations by those of the masked
 * row, so that every beam stays inside the guide.
 *
 * <p>This is where guided decoding plugs in: a grammar compiled once per schema and tokenizer, whose state
 * advances with the sequence's tokens ({@link SamplingState#token}), bans every token that cannot continue
 * it. A mask that can write itself as a bitmask ({@link #hasBitmask}) lets a runner choose the token where the
 * logits are (the runtime's {@code SequenceChunk.tokenMask}, applied in the device's sampling kernel on CUDA);
 * otherwise, or when penalties or log-probabilities need the row anyway, the row comes to the host
 * ({@link RowNeed#ROW}). Unmasked sequences pay nothing.
 */
@FunctionalInterface
public interface TokenMask {

    /** Makes one mask per sequence (each of a request's n sequences advances its own). */
    @FunctionalInterface
    interface Source {
        /** A mask at the start of a sequence's output. */
        TokenMask newMask();
    }

    /**
     * Bans, in {@code logits[offset .. offset + vocab)}, every token the sequence of {@code state} may not take
     * next, by setting its logit to {@code -Infinity}; leaves the others untouched.
     */
    void apply(float[] logits, int offset, int vocab, SamplingState state);

    /**
     * Whether the log-probabilities of the sequence are those of the raw row with this mask applied (the allowed
     * tokens, renormalized; top tokens only allowed ones, fewer where fewer are allowed) rather than of the raw
     * row.
     */
    default boolean masksLogprobs() {
        return false;
    }

    /** Whether {@link #fillBitmask} writes this mask (false: it exists only as {@link #apply}). */
    default boolean hasBitmask() {
        return false;
    }

    /**
     * Writes the tokens the sequence of {@code state} may take next into {@code words} ({@link TokenBitmask}'s
     * layout, {@code TokenBitmask.words(vocab)} long), for a runner to apply where the logits are.
     *
     * @throws UnsupportedOperationException when {@link #hasBitmask()} is false
     */
    default void fillBitmask(long[] words, SamplingState state) {
        throw new UnsupportedOperationException("this token mask has no bitmask form");
    }

    /**
     * The tokens the sequence of {@code state} may take next as an immutable {@link Bitmask} over {@code vocab}
     * tokens (at least): what a runner is handed per step. The default copies {@link #fillBitmask} into a new one;
     * a mask that keeps its bitmasks (a guide's, one per automaton state) returns its shared instance, so that
     * nothing is allocated or copied and a device runner can skip uploading a mask it already holds.
     *
     * @throws UnsupportedOperationException when {@link #hasBitmask()} is false
     */
    default Bitmask bitmask(SamplingState state, int vocab) {
        long[] words = new long[TokenBitmask.words(vocab)];
        fillBitmask(words, state);
        return Bitmask.owning(words);
    }
}
