package io.trtllm.sampling;

/**
 * The log-normalizer of a row of logits, {@code logZ = log Σ exp(row)}: a token's log-probability is
 * {@code (float) (logit - logZ)}, as {@link Sampler#logprobs} and beam search compute it.
 *
 * <p>Computed as {@code max + log Σ exp(row[i] - max)}, the sum in double. With the Vector API
 * ({@link Simd}) the exponentials are {@link VectorExp#exp} (≤ 2 ulp of float from {@code Math.exp}) summed in
 * float lanes over blocks of 16 vectors, each block's sum then added in double: the relative error of the sum,
 * and so the absolute error of {@code logZ}, stays below {@link #VECTOR_ERROR} (2 ulp from exp plus ≤ 20 float
 * roundings per block, ≈ 1.4e-6; typically ~1e-7), against the scalar double {@code Math.exp} sum. A
 * log-probability is a float, whose own rounding near -10 is ≈ 1e-6, so both give the same value or neighbours.
 */
public final class LogSoftmax {
    /** Bound of the vector path's error in {@code logZ} against the scalar one, in nats (see the class comment). */
    public static final double VECTOR_ERROR = 2e-6;

    private LogSoftmax() {
    }

    /**
     * {@code log Σ exp(row[offset + i])} over {@code [0, length)}, given the row's largest value {@code max}
     * (for example the first of {@link TopN#select}): {@code -Infinity} when every logit is {@code -Infinity}.
     */
    public static double logNormalizer(float[] row, int offset, int length, float max) {
        if (max == Float.NEGATIVE_INFINITY) {
            return Double.NEGATIVE_INFINITY;
        }
        double sum = Simd.ENABLED && Float.isFinite(max) ? VectorRows.sumExp(row, offset, length, max)
                : scalarSumExp(row, offset, length, max);
        return max + Math.log(sum);
    }

    /** The reference: {@code Σ Math.exp(row[i] - max)} in double. */
    static double scalarSumExp(float[] row, int offset, int length, float max) {
        double sum = 0;
        for (int i = offset; i < offset + length; i++) {
            sum += Math.exp(row[i] - max);
        }
        return sum;
    }
}
