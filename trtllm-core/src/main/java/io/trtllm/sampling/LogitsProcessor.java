package io.trtllm.sampling;

import java.util.Arrays;

/**
 * Rewrites one row of logits, {@code logits[offset .. offset + vocab)}, in place, in the order of
 * Hugging Face's {@code GenerationMixin._get_logits_processor}:
 *
 * <ol>
 *   <li>repetition penalty (HF {@code RepetitionPenaltyLogitsProcessor}) over prompt and output;</li>
 *   <li>presence and frequency penalties (OpenAI/vLLM) over the output — HF has none; vLLM applies them
 *       right after the repetition penalty, and so do we;</li>
 *   <li>bad token ids and bad words (HF {@code NoBadWordsLogitsProcessor});</li>
 *   <li>min_tokens: end tokens banned while too few tokens were generated
 *       (HF {@code MinNewTokensLengthLogitsProcessor});</li>
 *   <li>the sequence's {@link TokenMask}, if it has one (guided decoding): tokens it may not take next;</li>
 *   <li>the warpers, skipped when decoding greedily: temperature, top-k, top-p, min-p (HF
 *       {@code TemperatureLogitsWarper}, {@code TopKLogitsWarper}, {@code TopPLogitsWarper},
 *       {@code MinPLogitsWarper}).</li>
 * </ol>
 *
 * A banned or cut token gets {@code -Infinity}, as in HF ({@code filter_value}). Every warper keeps at
 * least one token ({@code min_tokens_to_keep = 1}). Rows must not hold NaN.
 *
 * <p>Penalties visit only the tokens that occurred; bans only the banned ids. Warpers are O(vocab)
 * passes: top-k by partial selection, top-p by a histogram of probability mass that narrows the sort
 * to the nucleus (never a sort of the whole vocabulary unless p is so close to 1 that the nucleus
 * reaches 32 nats below the top).
 */
public final class LogitsProcessor {
    private static final float BANNED = Float.NEGATIVE_INFINITY;
    /** Top-p's histogram: buckets of logits below the maximum, 1/32 nat wide, 32 nats in all. */
    private static final int TOP_P_BUCKETS = 1024;
    private static final double TOP_P_BUCKETS_PER_NAT = 32;

    private LogitsProcessor() {
    }

    /** Every processor of the sequence's config and its mask, in order; the warpers only when not greedy. */
    public static void process(float[] logits, int offset, int vocab, SamplingState state) {
        applyPenalties(logits, offset, vocab, state);
        TokenMask mask = state.mask();
        if (mask != null) {
            mask.apply(logits, offset, vocab, state);
        }
        if (!state.config().greedy()) {
            applyWarpers(logits, offset, vocab, state.config());
        }
    }

    /** Steps 1–4: what changes the distribution itself (greedy and beam search use these too). */
    public static void applyPenalties(float[] logits, int offset, int vocab, SamplingState state) {
        applyRepetitionPenalty(logits, offset, vocab, state);
        applyPresenceAndFrequencyPenalties(logits, offset, vocab, state);
        applyBadWords(logits, offset, vocab, state);
        applyMinTokens(logits, offset, vocab, state);
    }

    /** Step 6: temperature, top-k, top-p, min-p. The config must not be greedy (temperature 0). */
    public static void applyWarpers(float[] logits, int offset, int vocab, SamplingConfig config) {
        applyTemperature(logits, offset, vocab, config.temperature());
        applyTopK(logits, offset, vocab, config.topK());
        applyTopP(logits, offset, vocab, config.topP());
        applyMinP(logits, offset, vocab, config.minP());
    }

    /**
     * HF's repetition penalty: for every token of the prompt and output (each once), a negative logit
     * is multiplied by the penalty, any other divided by it — so a penalty above 1 always makes the
     * token less likely.
     */
    public static void applyRepetitionPenalty(float[] logits, int offset, int vocab, SamplingState state) {
        TokenCounts seen = state.contextCounts();
        if (seen == null) {
            return;
        }
        float penalty = state.config().repetitionPenalty();
        for (int i = 0; i < seen.size(); i++) {
            int token = seen.token(i);
            if (token < vocab) {
                float v = logits[offset + token];
                logits[offset + token] = v < 0 ? v * penalty : v / penalty;
            }
        }
    }

    /**
     * OpenAI's penalties as vLLM applies them, over generated tokens only:
     * {@code logit -= frequency_penalty * count; logit -= presence_penalty * (count > 0)}.
     */
    public static void applyPresenceAndFrequencyPenalties(float[] logits, int offset, int vocab, SamplingState state) {
        TokenCounts counts = state.outputCounts();
        if (counts == null) {
            return;
        }
        float presence = state.config().presencePenalty();
        float frequency = state.config().frequencyPenalty();
        for (int i = 0; i < counts.size(); i++) {
            int token = counts.token(i);
            if (token < vocab) {
                logits[offset + token] -= frequency * counts.countAt(i);
                logits[offset + token] -= presence;
            }
        }
    }

    /**
     * Bans every bad token id, and the last token of every bad word whose other tokens end the
     * sequence (prompt included, as HF matches against {@code input_ids}).
     */
    public static void applyBadWords(float[] logits, int offset, int vocab, SamplingState state) {
        SamplingConfig config = state.config();
        for (int id : config.bannedIds()) {
            ban(logits, offset, vocab, id);
        }
        int[] tokens = state.tokenArray();
        int length = state.length();
        for (int[] word : config.bannedWords()) {
            int prefix = word.length - 1;
            if (prefix > length) {
                continue;
            }
            boolean matches = true;
            for (int j = 0; j < prefix && matches; j++) {
                matches = tokens[length - prefix + j] == word[j];
            }
            if (matches) {
                ban(logits, offset, vocab, word[prefix]);
            }
        }
    }

    /** Bans the end tokens while fewer than min_tokens tokens were generated. */
    public static void applyMinTokens(float[] logits, int offset, int vocab, SamplingState state) {
        if (state.belowMinTokens()) {
            for (int id : state.config().endIds()) {
                ban(logits, offset, vocab, id);
            }
        }
    }

    /** Divides every logit by the temperature (> 0; 1 changes nothing). */
    public static void applyTemperature(float[] logits, int offset, int vocab, float temperature) {
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be > 0 to scale logits (0 means greedy), got "
                    + temperature);
        }
        if (temperature == 1f) {
            return;
        }
        for (int i = offset; i < offset + vocab; i++) {
            logits[i] /= temperature;
        }
    }

    /**
     * HF's top-k: bans every token whose logit is below the k-th largest; tokens tied with the k-th
     * are kept, so more than k may survive. {@code k <= 0} or {@code k >= vocab} keeps all.
     */
    public static void applyTopK(float[] logits, int offset, int vocab, int k) {
        if (k <= 0 || k >= vocab) {
            return;
        }
        float threshold = TopN.kthLargest(logits, offset, vocab, k);
        for (int i = offset; i < offset + vocab; i++) {
            if (logits[i] < threshold) {
                logits[i] = BANNED;
            }
        }
    }

    /**
     * HF's top-p (nucleus): keeps the most likely tokens, in descending order, up to and including the
     * first one at which their cumulative probability reaches p (HF removes tokens whose ascending
     * cumulative probability is {@code <= 1 - p}: the same set). Probabilities are the softmax of the
     * row as it is now, so after top-k they are renormalized over the survivors. Equal logits are
     * ordered by token id, lowest first. {@code p >= 1} keeps all.
     *
     * <p>Without a sort of the vocabulary: one pass adds each token's probability mass to a histogram
     * of logit buckets (1/32 nat wide, below the maximum), which tells in which bucket the cumulative
     * mass crosses p; only the tokens of that bucket and those above it are sorted — a prefix of the
     * full order, since equal logits share a bucket.
     */
    public static void applyTopP(float[] logits, int offset, int vocab, float topP) {
        if (topP >= 1f) {
            return;
        }
        float max = BANNED;
        int finite = 0;
        for (int i = offset; i < offset + vocab; i++) {
            float v = logits[i];
            if (v > BANNED) {
                finite++;
                max = Math.max(max, v);
            }
        }
        if (finite <= 1) {
            return;
        }
        double[] mass = new double[TOP_P_BUCKETS];
        double sum = 0;
        for (int i = offset; i < offset + vocab; i++) {
            float v = logits[i];
            if (v > BANNED) {
                double p = Math.exp(v - max);
                sum += p;
                mass[bucket(v, max)] += p;
            }
        }
        int crossing = TOP_P_BUCKETS - 1;
        double cumulative = 0;
        for (int b = 0; b < TOP_P_BUCKETS; b++) {
            cumulative += mass[b];
            if (cumulative >= topP * sum) {
                crossing = b;
                break;
            }
        }
        int lastKept = nucleusEnd(logits, offset, vocab, max, sum, topP, crossing);
        if (lastKept < 0 && crossing < TOP_P_BUCKETS - 1) {
            // the exact sum in sorted order fell a rounding error short of the histogram's: take all
            lastKept = nucleusEnd(logits, offset, vocab, max, sum, topP, TOP_P_BUCKETS - 1);
        }
        if (lastKept < 0) {
            return; // rounding left the total just below p: keep everything
        }
        float threshold = logits[offset + lastKept];
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (v < threshold || (v == threshold && i > lastKept)) {
                logits[offset + i] = BANNED;
            }
        }
    }

    /** Bucket of a logit: how far below the maximum, in 1/32 nat; all beyond 32 nats share the last. */
    private static int bucket(float v, float max) {
        double b = ((double) max - v) * TOP_P_BUCKETS_PER_NAT;
        return b >= TOP_P_BUCKETS - 1 ? TOP_P_BUCKETS - 1 : (int) b;
    }

    /**
     * Sorts the tokens of buckets {@code 0..lastBucket} (logit descending, id ascending) and walks
     * them until the cumulative probability reaches p: the id of the last token kept, or -1 if it
     * never does.
     */
    private static int nucleusEnd(float[] logits, int offset, int vocab, float max, double sum, float topP,
                                  int lastBucket) {
        int count = 0;
        long[] keys = new long[64];
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (v > BANNED && bucket(v, max) <= lastBucket) {
                if (count == keys.length) {
                    keys = Arrays.copyOf(keys, count * 2);
                }
                keys[count++] = descendingKey(v, i);
            }
        }
        Arrays.sort(keys, 0, count);
        double cumulative = 0;
        for (int j = 0; j < count; j++) {
            int id = (int) keys[j];
            cumulative += Math.exp(logits[offset + id] - max) / sum;
            if (cumulative >= topP) {
                return id;
            }
        }
        return -1;
    }

    /** A long whose natural order is logit descending, then id ascending (no boxing, no comparator). */
    private static long descendingKey(float logit, int id) {
        int bits = Float.floatToRawIntBits(logit + 0f); // + 0f turns -0.0 into 0.0
        int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // signed int order = float order
        return ((long) ~ordered << 32) | id;
    }

    /**
     * HF's min-p: bans tokens whose probability is below {@code minP} times the top token's, that is
     * whose logit is below {@code max + ln(minP)}. {@code minP <= 0} keeps all.
     */
    public static void applyMinP(float[] logits, int offset, int vocab, float minP) {
        if (minP <= 0f) {
            return;
        }
        float max = BANNED;
        for (int i = offset; i < offset + vocab; i++) {
            max = Math.max(max, logits[i]);
        }
        double logMinP = Math.log(minP);
        for (int i = offset; i < offset + vocab; i++) {
            if ((double) logits[i] - max < logMinP) {
                logits[i] = BANNED;
            }
        }
    }

    private static void ban(float[] logits, int offset, int vocab, int token) {
        if (token < vocab) {
            logits[offset + token] = BANNED;
        }
    }
}
