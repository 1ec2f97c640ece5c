package io.trtllm.sampling;

import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Picks the next token of a sequence from its row of logits: the {@link LogitsProcessor} chain on a
 * copy of the row (the runner's logits are never modified), then argmax when greedy, else one draw
 * from the sequence's own random generator ({@link SamplingState#random()}), so results depend only
 * on the request's seed, never on what else is in the batch.
 *
 * <p>It also decides what it needs of the row ({@link #need}): when nothing but temperature, top-k, top-p
 * and min-p shapes the choice and no log-probability is asked for, a runner may choose the token where the
 * logits are and send back its id ({@link #chosen} records it); otherwise the row comes here ({@link #sample}).
 *
 * <p>An instance keeps scratch buffers the size of the vocabulary and reuses them: one per thread
 * that samples (not thread-safe). Greedy decoding without penalties reads the row in place.
 */
public final class Sampler {
    private float[] row = new float[0];
    /** The raw row with the sequence's mask applied: what a masked sequence's log-probabilities are of. */
    private float[] masked = new float[0];
    private double[] weights = new double[0];
    private final TokenSampler tokenSampler = new TokenSampler();

    /**
     * What choosing the next token of {@code state}'s sequence needs of its row; it depends only on the
     * sequence's own state, so its tokens never depend on the batch:
     * <ul>
     *   <li>{@link RowNeed#ARGMAX}: greedy (temperature 0 or top-k 1), nothing that changes a logit, no
     *       log-probabilities;</li>
     *   <li>{@link RowNeed#DRAW}: sampling shaped by temperature, top-k, top-p and min-p alone, which is what
     *       {@link TokenSampler} implements, with {@link #tokenSampling};</li>
     *   <li>{@link RowNeed#ROW} when anything else touches the row or needs it afterwards: penalties
     *       (repetition, presence, frequency) and bans (bad token ids, bad words), which read the sequence's
     *       tokens; min_tokens while it still bans the end tokens (from then on the choice is plain); a
     *       {@link TokenMask} without a bitmask form (one with it leaves the choice to the runner, given the
     *       bitmask: {@link #bitmask}); log-probabilities (also what best_of &gt; n asks for, to rank its samples, and
     *       what each beam-search step asks for), which need the raw row.</li>
     * </ul>
     * The n sequences of a request (n = best_of) qualify one by one: each has its own state and key. Draws
     * come from the sequence's key ({@link SamplingState#drawKey()}) and step, not from
     * {@link SamplingState#random()}: both depend only on the seed, but the two paths draw differently.
     */
    public static RowNeed need(SamplingState state) {
        if (state.config().logprobs() != SamplingConfig.NO_LOGPROBS) {
            return RowNeed.ROW;
        }
        TokenMask mask = state.mask();
        boolean plain = state.rowUntouched() || (state.onlyMasked() && mask != null && mask.hasBitmask());
        if (!plain) {
            return RowNeed.ROW;
        }
        return state.config().greedy() ? RowNeed.ARGMAX : RowNeed.DRAW;
    }

    /**
     * The bitmask of the tokens {@code state}'s sequence may take next, for a runner that chooses its
     * {@link RowNeed#ARGMAX} or {@link RowNeed#DRAW} token itself ({@link TokenBitmask} layout over
     * {@code vocab} tokens), or null when the sequence has no mask.
     */
    public static long @Nullable [] bitmask(SamplingState state, int vocab) {
        TokenMask mask = state.mask();
        if (mask == null) {
            return null;
        }
        long[] words = new long[TokenBitmask.words(vocab)];
        mask.fillBitmask(words, state);
        return words;
    }

    /**
     * Chooses the next token from {@code logits[offset .. offset + vocab)}, records it in
     * {@code state} ({@link SamplingState#append}), and returns it with the log-probabilities the
     * config asks for ({@link SampledToken}: those of the raw logits).
     *
     * @throws IllegalStateException when the processors banned every token
     */
    public SampledToken sample(float[] logits, int offset, int vocab, SamplingState state) {
        SamplingConfig config = state.config();
        TokenMask mask = state.mask();
        // Log-probabilities of a mask that asks for them are those of the masked raw row: the mask is applied
        // first (it depends on nothing but the sequence's tokens so far, so applying it twice changes nothing).
        float[] raw = logits;
        int rawOffset = offset;
        if (mask != null && mask.masksLogprobs() && config.logprobs() != SamplingConfig.NO_LOGPROBS) {
            raw = maskedRow(vocab);
            System.arraycopy(logits, offset, raw, 0, vocab);
            mask.apply(raw, 0, vocab, state);
            rawOffset = 0;
        }
        int token;
        if (state.rowUntouched() && config.greedy()) {
            token = argmax(logits, offset, vocab);
        } else if (state.rowUntouched()) {
            // The runner's draw (the same key and step), made here because the row came to the host (logprobs,
            // prompt logprobs): a seeded sequence's tokens do not depend on what else was asked or on the mode.
            token = tokenSampler.sample(logits, offset, vocab, tokenSampling(state));
            if (token < 0) {
                throw new IllegalStateException("no token to draw: every probability is zero (NaN or infinite logits)");
            }
        } else if (state.onlyMasked()) {
            // The choice a runner makes with the mask's bitmask (argmax, or the draw of the sequence's key and
            // step), so that a masked sequence's tokens do not depend on where its row was reduced either.
            float[] work = row(vocab);
            System.arraycopy(raw, rawOffset, work, 0, vocab);
            if (raw == logits) {
                mask.apply(work, 0, vocab, state);
            }
            if (config.greedy()) {
                token = argmax(work, 0, vocab);
                if (work[token] == Float.NEGATIVE_INFINITY) {
                    throw new IllegalStateException("the token mask allows no token; nothing to choose from");
                }
            } else {
                token = tokenSampler.sample(work, 0, vocab, tokenSampling(state));
                if (token < 0) {
                    throw new IllegalStateException("no token to draw: the token mask allows none, or every allowed "
                            + "probability is zero");
                }
            }
        } else {
            float[] work = row(vocab);
            System.arraycopy(logits, offset, work, 0, vocab);
            LogitsProcessor.process(work, 0, vocab, state);
            if (config.greedy()) {
                token = argmax(work, 0, vocab);
                if (work[token] == Float.NEGATIVE_INFINITY) {
                    throw new IllegalStateException("every token is banned; nothing to choose from");
                }
            } else {
                token = draw(work, vocab, weights(vocab), state.random());
            }
        }
        SampledToken result = config.logprobs() == SamplingConfig.NO_LOGPROBS
                ? SampledToken.of(token)
                : logprobs(raw, rawOffset, vocab, token, Math.min(config.logprobs(), vocab));
        if (raw != logits && result.topTokenIds().length > 0) {
            result = withoutBanned(result);
        }
        state.append(token);
        return result;
    }

    /** {@code t} less the top tokens a mask banned (log-probability -Infinity), which the top list never names. */
    private static SampledToken withoutBanned(SampledToken t) {
        int[] ids = t.topTokenIds();
        float[] lps = t.topLogprobs();
        int n = 0;
        while (n < lps.length && lps[n] != Float.NEGATIVE_INFINITY) {
            n++;
        }
        return n == lps.length ? t : new SampledToken(t.tokenId(), t.logprob(), java.util.Arrays.copyOf(ids, n),
                java.util.Arrays.copyOf(lps, n));
    }

    /** What a runner needs to draw the next token of a {@link RowNeed#DRAW} sequence. */
    public static TokenSampling tokenSampling(SamplingState state) {
        SamplingConfig c = state.config();
        return new TokenSampling(c.temperature(), c.topK(), c.topP(), c.minP(), state.drawKey(), state.generatedTokens());
    }

    /**
     * Records {@code token}, chosen by the runner (the argmax of a {@link RowNeed#ARGMAX} sequence, or its own
     * draw for a {@link RowNeed#DRAW} one), in {@code state}.
     *
     * @param token the token id, or a negative value when the runner found no token to draw (every
     *              probability zero: NaN or infinite logits)
     * @throws IllegalStateException when the runner found no token to draw
     */
    public SampledToken chosen(int token, SamplingState state) {
        if (token < 0) {
            throw new IllegalStateException("the runner found no token to draw: every probability is zero "
                    + "(NaN or infinite logits)");
        }
        state.append(token);
        return SampledToken.of(token);
    }

    /**
     * The greedy choice: the index of the largest of {@code n} logits at {@code offset}, the lowest such index
     * on ties (as {@code torch.argmax}); a NaN wins only as the first element, later ones are passed over.
     * What a runner returns for {@link RowNeed#ARGMAX}.
     */
    public static int argmax(float[] logits, int offset, int n) {
        int best = 0;
        float max = logits[offset];
        for (int i = 1; i < n; i++) {
            float v = logits[offset + i];
            if (v > max) {
                max = v;
                best = i;
            }
        }
        return best;
    }

    /**
     * Log-probabilities of a position under the raw distribution ({@code log_softmax} of the
     * unmodified logits, normalized by {@link LogSoftmax#logNormalizer}): of {@code tokenId}, and of the
     * {@code topN} most likely tokens, most likely first. Also what prompt_logprobs needs, with {@code tokenId}
     * the actual next prompt token.
     */
    public static SampledToken logprobs(float[] logits, int offset, int vocab, int tokenId, int topN) {
        if (tokenId < 0 || tokenId >= vocab) {
            throw new IllegalArgumentException("token id must be in [0, " + vocab + "), got " + tokenId);
        }
        return logprobs(logits, offset, vocab, tokenId, topN,
                LogSoftmax.logNormalizer(logits, offset, vocab, logits[offset + argmax(logits, offset, vocab)]));
    }

    /** As {@link #logprobs(float[], int, int, int, int)}, with the row's {@code logZ} already known. */
    public static SampledToken logprobs(float[] logits, int offset, int vocab, int tokenId, int topN, double logZ) {
        if (tokenId < 0 || tokenId >= vocab) {
            throw new IllegalArgumentException("token id must be in [0, " + vocab + "), got " + tokenId);
        }
        int[] top = TopN.of(logits, offset, vocab, topN);
        float[] topLogprobs = new float[top.length];
        for (int i = 0; i < top.length; i++) {
            topLogprobs[i] = (float) (logits[offset + top[i]] - logZ);
        }
        return new SampledToken(tokenId, (float) (logits[offset + tokenId] - logZ), top, topLogprobs);
    }

    /** One draw from the softmax of {@code row[0 .. vocab)}; banned ({@code -Infinity}) entries never win. */
    private static int draw(float[] row, int vocab, double[] weights, RandomGenerator random) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, row[i]);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw new IllegalStateException("every token is banned; nothing to sample from");
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            float v = row[i];
            double w = v == Float.NEGATIVE_INFINITY ? 0 : Math.exp(v - max);
            weights[i] = w;
            sum += w;
        }
        double r = random.nextDouble() * sum;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            double w = weights[i];
            if (w > 0) {
                cumulative += w;
                last = i;
                if (r < cumulative) {
                    return i;
                }
            }
        }
        return last; // r landed on the rounding error of the sum
    }

    private float[] maskedRow(int vocab) {
        if (masked.length < vocab) {
            masked = new float[vocab];
        }
        return masked;
    }

    private float[] row(int vocab) {
        if (row.length < vocab) {
            row = new float[vocab];
        }
        return row;
    }

    private double[] weights(int vocab) {
        if (weights.length < vocab) {
            weights = new double[vocab];
        }
        return weights;
    }
}
