package io.trtllm.sampling;

/**
 * Which tokens one sequence may take next: applied to its row of logits after the penalties and bans and
 * before the warpers and the draw ({@link LogitsProcessor#process}), so that top-k, top-p and min-p choose
 * among the allowed tokens only. Log-probabilities stay those of the raw row.
 *
 * <p>This is where guided decoding plugs in: a grammar compiled once per schema and tokenizer, whose state
 * advances with the sequence's tokens ({@link SamplingState#token}), bans every token that cannot continue
 * it. A masked sequence's row comes to the host ({@link RowNeed#ROW}); unmasked sequences pay nothing.
 */
@FunctionalInterface
public interface TokenMask {

    /**
     * Bans, in {@code logits[offset .. offset + vocab)}, every token the sequence of {@code state} may not take
     * next, by setting its logit to {@code -Infinity}; leaves the others untouched.
     */
    void apply(float[] logits, int offset, int vocab, SamplingState state);
}
