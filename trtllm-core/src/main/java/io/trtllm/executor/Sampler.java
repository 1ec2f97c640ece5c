package io.trtllm.executor;

import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.TokenSampler;
import io.trtllm.runtime.TokenSampling;
import java.util.random.RandomGenerator;

/**
 * Picks the next token of a sequence from its row of logits: the {@link LogitsProcessor} chain on a
 * copy of the row (the runner's logits are never modified), then argmax when greedy, else one draw
 * from the sequence's own random generator ({@link SamplingState#random()}), so results depend only
 * on the request's seed, never on what else is in the batch.
 *
 * <p>An instance keeps scratch buffers the size of the vocabulary and reuses them: one per thread
 * that samples (not thread-safe). Greedy decoding without penalties reads the row in place.
 */
public final class Sampler {
    private float[] row = new float[0];
    private double[] weights = new double[0];
    private final TokenSampler tokenSampler = new TokenSampler();

    /**
     * Chooses the next token from {@code logits[offset .. offset + vocab)}, records it in
     * {@code state} ({@link SamplingState#append}), and returns it with the log-probabilities the
     * config asks for ({@link SampledToken}: those of the raw logits).
     *
     * @throws IllegalStateException when the processors banned every token
     */
    public SampledToken sample(float[] logits, int offset, int vocab, SamplingState state) {
        SamplingConfig config = state.config();
        int token;
        if (config.greedy() && !config.penalizes() && !state.belowMinTokens()) {
            token = argmax(logits, offset, vocab);
        } else if (drawsAsTheRunner(state)) {
            // The runner's draw (the same key and step), made here because the row came to the host (logprobs,
            // prompt logprobs): a seeded sequence's tokens do not depend on what else was asked or on the mode.
            token = tokenSampler.sample(logits, offset, vocab, tokenSampling(state));
            if (token < 0) {
                throw new IllegalStateException("no token to draw: every probability is zero (NaN or infinite logits)");
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
                : logprobs(logits, offset, vocab, token, Math.min(config.logprobs(), vocab));
        state.append(token);
        return result;
    }

    /**
     * Whether the next token of {@code state}'s sequence is the plain argmax of the raw logits (greedy,
     * nothing that changes a logit, no log-probabilities): the runner may then choose it itself
     * ({@link io.trtllm.runtime.SequenceChunk.LogitsMode#ARGMAX}) and send back only its id.
     */
    public static boolean plainArgmax(SamplingState state) {
        SamplingConfig config = state.config();
        return config.greedy() && !config.penalizes() && !state.belowMinTokens()
                && config.logprobs() == SamplingConfig.NO_LOGPROBS;
    }

    /**
     * Whether the next token of {@code state}'s sequence is a plain draw that the runner may make itself
     * ({@link SequenceChunk.LogitsMode#SAMPLE}, on the GPU for CUDA) and send back only its id: sampling
     * (temperature &gt; 0, top-k other than 1) shaped by temperature, top-k, top-p and min-p alone, which
     * is what {@link io.trtllm.runtime.TokenSampler} implements. Not when anything else touches the row
     * or needs it afterwards:
     * <ul>
     *   <li>penalties (repetition, presence, frequency) and bans (bad token ids, bad words): they read
     *       the sequence's tokens;</li>
     *   <li>min_tokens while it still bans the end tokens (from then on the draw is plain);</li>
     *   <li>log-probabilities (also what best_of &gt; n asks for, to rank its samples, and what each
     *       beam-search step asks for): they need the raw row.</li>
     * </ul>
     * The n sequences of a request (n = best_of) qualify one by one: each has its own state and key. The
     * choice depends only on the sequence's own state, so its tokens never depend on the batch. The
     * draws come from the sequence's key ({@link SamplingState#drawKey()}) and step, not from
     * {@link SamplingState#random()}: both depend only on the seed, but the two paths draw differently.
     */
    public static boolean plainDraw(SamplingState state) {
        return drawsAsTheRunner(state) && state.config().logprobs() == SamplingConfig.NO_LOGPROBS;
    }

    /**
     * Whether the next token of {@code state}'s sequence is drawn from temperature, top-k, top-p and min-p
     * alone ({@link io.trtllm.runtime.TokenSampler} with {@link #tokenSampling}), wherever the draw is
     * made: by the runner ({@link #plainDraw}) or here, when the row comes to the host anyway.
     */
    public static boolean drawsAsTheRunner(SamplingState state) {
        SamplingConfig config = state.config();
        return !config.greedy() && !config.penalizes() && !state.belowMinTokens();
    }

    /** What the runner needs to draw the next token of a {@link #plainDraw} sequence. */
    public static TokenSampling tokenSampling(SamplingState state) {
        SamplingConfig c = state.config();
        return new TokenSampling(c.temperature(), c.topK(), c.topP(), c.minP(), state.drawKey(), state.generatedTokens());
    }

    /**
     * Records {@code token}, chosen by the runner (the argmax, see {@link #plainArgmax}, or its own draw,
     * see {@link #plainDraw}), in {@code state}.
     *
     * @throws IllegalStateException when the runner found no token to draw (it returns -1 when every
     *                               probability is zero: NaN or infinite logits)
     */
    public SampledToken chosen(int token, SamplingState state) {
        if (token < 0) {
            throw new IllegalStateException("the runner found no token to draw: every probability is zero "
                    + "(NaN or infinite logits)");
        }
        state.append(token);
        return SampledToken.of(token);
    }

    /** Index of the largest logit; the lowest such index on ties (as {@code torch.argmax}): {@link ModelRunner#argmax}. */
    public static int argmax(float[] logits, int offset, int n) {
        return ModelRunner.argmax(logits, offset, n);
    }

    /**
     * Log-probabilities of a position under the raw distribution ({@code log_softmax} of the
     * unmodified logits, in double precision): of {@code tokenId}, and of the {@code topN} most likely
     * tokens, most likely first. Also what prompt_logprobs needs, with {@code tokenId} the actual next
     * prompt token.
     */
    public static SampledToken logprobs(float[] logits, int offset, int vocab, int tokenId, int topN) {
        if (tokenId < 0 || tokenId >= vocab) {
            throw new IllegalArgumentException("token id must be in [0, " + vocab + "), got " + tokenId);
        }
        float max = logits[offset + argmax(logits, offset, vocab)];
        double sum = 0;
        for (int i = offset; i < offset + vocab; i++) {
            sum += Math.exp(logits[i] - max);
        }
        double logZ = max + Math.log(sum);
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
