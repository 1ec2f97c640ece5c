package io.trtllm.sampling;

/**
 * What a runner needs to draw a sequence's next token itself ({@link RowNeed#DRAW}; the runtime's
 * {@code SequenceChunk.LogitsMode.SAMPLE}): one token from {@code softmax(logits / temperature)} after
 * top-k, top-p and min-p, in that order and with the semantics of {@link LogitsProcessor} (Hugging Face's
 * warpers), drawn with the uniform number {@link #uniform()} of this sequence's key and step. {@link TokenSampler} is the
 * reference on the host; a device backend computes the same thresholds and weights and uses the same
 * uniform, so that for equal logits both pick the same token, and a sequence's draws depend only on its
 * key and step, never on the batch around it.
 *
 * @param temperature logits are divided by it (&gt; 0; greedy requests never come here)
 * @param topK        keep the tokens whose scaled logit is at least the k-th largest (0 = off)
 * @param topP        keep the most likely tokens, logit descending then id ascending, up to and including
 *                    the one at which their probability reaches p (1 = off)
 * @param minP        drop tokens less likely than {@code minP} times the most likely one (0 = off)
 * @param key         the sequence's random key (from its seed, or random)
 * @param step        index of this draw in the sequence (tokens it generated before it)
 */
public record TokenSampling(float temperature, int topK, float topP, float minP, long key, int step) {
    /** SplittableRandom's increment: {@link #uniform} is the (step + 1)-th double of {@code new SplittableRandom(key)}. */
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private static final double DOUBLE_UNIT = 0x1.0p-53;

    public TokenSampling {
        SamplingChecks.checkWarpers(temperature, topK, topP, minP);
        if (temperature == 0) {
            throw new IllegalArgumentException("temperature must be > 0 to draw a token (0 means greedy), got " + temperature);
        }
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
    }

    /** The uniform number in [0, 1) of this draw: {@link #uniform(long, int) uniform(key, step)}. */
    public double uniform() {
        return uniform(key, step);
    }

    /**
     * A counter-based uniform number in [0, 1): SplitMix64's output for counter {@code step + 1} of
     * stream {@code key}, 53 bits. Equal to the (step + 1)-th {@code nextDouble()} of
     * {@code new SplittableRandom(key)}; a device computes it with the same 64-bit integer operations.
     */
    public static double uniform(long key, int step) {
        long z = key + (step + 1L) * GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * DOUBLE_UNIT;
    }

    /** {@code ln(minP)}, the bound on {@code logit - max} that min-p keeps; -Infinity when min-p is off. */
    public double logMinP() {
        return minP > 0 ? Math.log(minP) : Double.NEGATIVE_INFINITY;
    }
}
