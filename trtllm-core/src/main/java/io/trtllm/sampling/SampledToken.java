package io.trtllm.sampling;

/**
 * A token chosen at one position, with log-probabilities when they were asked for.
 *
 * <p>Log-probabilities are those of the model's raw distribution — {@code log_softmax} of the
 * unmodified logits — as TensorRT-LLM and vLLM return by default, not of the distribution after
 * penalties, temperature and top-k/p; so they do not depend on the sampling settings, and a chosen
 * token that top-k would now forbid still has its true probability; so does a guided sequence's, unless its
 * {@link TokenMask#masksLogprobs() mask says} they are of the masked distribution (beam search's steps): the
 * allowed tokens renormalized, top tokens allowed ones only, fewer than asked for where fewer are allowed.
 *
 * <p>The arrays belong to this record (no copies are made: one is built per generated token); do
 * not modify them.
 *
 * @param tokenId      the token
 * @param logprob      its log-probability, or NaN when none was computed
 * @param topTokenIds  the most likely tokens of the position, most likely first (ties: lowest id
 *                     first); empty when none were asked for
 * @param topLogprobs  their log-probabilities, same order
 */
public record SampledToken(int tokenId, float logprob, int[] topTokenIds, float[] topLogprobs) {
    private static final int[] NO_IDS = new int[0];
    private static final float[] NO_LOGPROBS = new float[0];

    public SampledToken {
        if (topTokenIds.length != topLogprobs.length) {
            throw new IllegalArgumentException("topTokenIds and topLogprobs differ in length: "
                    + topTokenIds.length + " vs " + topLogprobs.length);
        }
    }

    /** A token without log-probabilities. */
    public static SampledToken of(int tokenId) {
        return new SampledToken(tokenId, Float.NaN, NO_IDS, NO_LOGPROBS);
    }

    /** Whether {@link #logprob()} was computed. */
    public boolean hasLogprob() {
        return !Float.isNaN(logprob);
    }
}
