package io.trtllm.sampling;

import java.util.Arrays;

/**
 * Draws one token from a row of logits as {@link TokenSampling} says: the host's reference of
 * {@link RowNeed#DRAW} (the runtime's {@code SequenceChunk.LogitsMode.SAMPLE}), which the CPU runner uses
 * and the CUDA kernel {@code sample_rows} mirrors (same thresholds, same integer weights, same uniform number).
 *
 * <p>With {@code v = logit / temperature} and {@code max} the largest v:
 * <ol>
 *   <li>top-k keeps {@code v >= } the k-th largest v (ties kept, as Hugging Face);</li>
 *   <li>every kept token weighs {@code w = floor(exp(v - max) · 2^40)}, an integer, so that sums are exact
 *       and do not depend on the order of additions (a device adds in parallel); tokens more than
 *       ≈27.7 nats below the top weigh 0 and are never drawn (probability below 2^-40 · 1/sum);</li>
 *   <li>top-p keeps tokens in the order logit descending, id ascending, up to and including the first at
 *       which the cumulative weight reaches {@code ceil(p · S)} (S: the weight kept by top-k), as the
 *       {@link LogitsProcessor#applyTopP} does with probabilities;</li>
 *   <li>min-p keeps {@code (double) v - max >= ln(min_p)}, as {@link LogitsProcessor#applyMinP};</li>
 *   <li>the draw: {@code r = floor(u · W)} for the uniform u of the sequence's key and step and W the total
 *       weight kept; the token is the first, in id order, whose cumulative weight exceeds r.</li>
 * </ol>
 * So the distribution is {@link LogitsProcessor#applyWarpers} then softmax, up to the
 * rounding of weights to 2^-40 of the top token's.
 *
 * <p>O(vocab): top-k and top-p find their bucket (1/32 nat wide, below the maximum) from a histogram and
 * sort only that bucket's tokens. Keeps scratch buffers between calls: one instance per thread.
 */
public final class TokenSampler {
    /** Buckets of v below the row's maximum, 1/32 nat wide; the last holds everything further below. */
    private static final int BUCKETS = 1024;
    private static final float BUCKETS_PER_NAT = 32f;
    /** A weight exp(v - max) ∈ (0, 1] as an integer: 40 fractional bits. */
    static final float FIX_ONE = 0x1p40f;

    private float[] values = new float[0];
    /** {@link #weight} of each value, before any filter. */
    private long[] weights = new long[0];
    private final long[] buckets = new long[BUCKETS];
    private long[] keys = new long[64];
    private float[] floats = new float[64];

    // The filter of the row being sampled (see filter()).
    private float max;
    private float topKThreshold;
    private boolean topP;
    private float topPThreshold;
    private int topPLastId;
    private double logMinP;

    /**
     * The token drawn from {@code logits[offset .. offset + vocab)}, or -1 when no token has a weight
     * (NaN or infinite logits).
     */
    public int sample(float[] logits, int offset, int vocab, TokenSampling sampling) {
        filter(logits, offset, vocab, sampling);
        long total = 0;
        for (int i = 0; i < vocab; i++) {
            total += keptWeight(i);
        }
        if (total == 0) {
            return -1;
        }
        long r = Math.min((long) (sampling.uniform() * (double) total), total - 1);
        long cumulative = 0;
        for (int i = 0; i < vocab; i++) {
            cumulative += keptWeight(i);
            if (cumulative > r) {
                return i;
            }
        }
        throw new AssertionError("the cumulative weight " + cumulative + " never exceeded " + r);
    }

    /** The distribution {@link #sample} draws from: each token's kept weight over the total (all 0 if none). */
    public double[] probabilities(float[] logits, int offset, int vocab, TokenSampling sampling) {
        filter(logits, offset, vocab, sampling);
        double[] p = new double[vocab];
        long total = 0;
        for (int i = 0; i < vocab; i++) {
            long w = keptWeight(i);
            p[i] = w;
            total += w;
        }
        if (total > 0) {
            for (int i = 0; i < vocab; i++) {
                p[i] /= total;
            }
        }
        return p;
    }

    /** A token's weight: {@code floor(exp(v - max) · 2^40)} in float arithmetic, as the device computes it. */
    static long weight(float v, float max) {
        if (v == Float.NEGATIVE_INFINITY) {
            // A banned token (a guide's mask, a bad word) weighs 0 either way (exp(-inf) = 0, and -inf - -inf is NaN):
            // skipping exp makes a masked row cheaper to draw from instead of dearer (exp's special-value path).
            return 0;
        }
        float w = (float) Math.exp(v - max) * FIX_ONE;
        return w > 0 ? (long) w : 0; // NaN weighs nothing
    }

    private static int bucket(float v, float max) {
        float d = (max - v) * BUCKETS_PER_NAT;
        return d < BUCKETS - 1 ? (int) d : BUCKETS - 1; // NaN: the last
    }

    private long keptWeight(int i) {
        float v = values[i];
        if (v < topKThreshold) {
            return 0;
        }
        if (topP && (v < topPThreshold || (v == topPThreshold && i > topPLastId))) {
            return 0;
        }
        if ((double) v - max < logMinP) {
            return 0;
        }
        return weights[i];
    }

    private void filter(float[] logits, int offset, int vocab, TokenSampling s) {
        if (vocab <= 0 || offset < 0 || offset + vocab > logits.length) {
            throw new IllegalArgumentException("row [" + offset + ", " + (offset + vocab) + ") is not within " + logits.length
                    + " logits");
        }
        if (values.length < vocab) {
            values = new float[vocab];
            weights = new long[vocab];
        }
        float[] v = values;
        float t = s.temperature();
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            v[i] = logits[offset + i] / t + 0f; // + 0f: -0.0 counts as 0.0, as in every comparison
            m = Math.max(m, v[i]);
        }
        max = m;
        for (int i = 0; i < vocab; i++) {
            weights[i] = weight(v[i], m);
        }
        topKThreshold = s.topK() > 0 && s.topK() < vocab ? kthLargest(vocab, s.topK()) : Float.NEGATIVE_INFINITY;
        topP = s.topP() < 1f;
        if (topP) {
            nucleus(vocab, s.topP());
        }
        logMinP = s.logMinP();
    }

    /** The k-th largest value: its bucket from a histogram of counts, then a sort of that bucket. */
    private float kthLargest(int vocab, int k) {
        long[] count = buckets;
        Arrays.fill(count, 0);
        for (int i = 0; i < vocab; i++) {
            count[bucket(values[i], max)]++;
        }
        int b = 0;
        long before = 0;
        while (before + count[b] < k) {
            before += count[b++];
        }
        int n = 0;
        if (floats.length < count[b]) {
            floats = new float[(int) count[b]];
        }
        for (int i = 0; i < vocab; i++) {
            if (bucket(values[i], max) == b) {
                floats[n++] = values[i];
            }
        }
        Arrays.sort(floats, 0, n);
        return floats[n - (int) (k - before)];
    }

    /**
     * Top-p's last kept token: the bucket where the cumulative weight (tokens kept by top-k, best first)
     * reaches {@code ceil(p · S)}, from a histogram of weights; then that bucket's tokens in order.
     */
    private void nucleus(int vocab, float p) {
        long[] mass = buckets;
        Arrays.fill(mass, 0);
        long total = 0;
        for (int i = 0; i < vocab; i++) {
            float v = values[i];
            if (v >= topKThreshold) {
                long w = weights[i];
                mass[bucket(v, max)] += w;
                total += w;
            }
        }
        if (total == 0) {
            topP = false;
            return;
        }
        long target = Math.min((long) Math.ceil((double) p * (double) total), total);
        int b = 0;
        long before = 0;
        while (before + mass[b] < target) {
            before += mass[b++];
        }
        long need = target - before;
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            float v = values[i];
            if (v >= topKThreshold && bucket(v, max) == b && weights[i] > 0) {
                if (n == keys.length) {
                    keys = Arrays.copyOf(keys, n * 2);
                }
                keys[n++] = descendingKey(v, i);
            }
        }
        Arrays.sort(keys, 0, n);
        long cumulative = 0;
        for (int j = 0; j < n; j++) {
            int id = (int) keys[j];
            cumulative += weights[id];
            if (cumulative >= need) {
                topPThreshold = values[id];
                topPLastId = id;
                return;
            }
        }
        throw new AssertionError("bucket " + b + " holds less weight than its histogram says");
    }

    /** A long whose natural order is value descending, then id ascending. */
    private static long descendingKey(float value, int id) {
        int bits = Float.floatToRawIntBits(value);
        int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // signed int order = float order
        return ((long) ~ordered << 32) | id;
    }
}
