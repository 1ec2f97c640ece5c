package io.trtllm.executor;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from one row of logits: argmax when greedy, else temperature, top-k and
 * top-p (in that order, as Hugging Face's logits processors apply them) and a draw from the
 * request's own random generator, so results depend only on the request's seed.
 */
public final class Sampler {

    private Sampler() {
    }

    /** Index of the largest logit; the first one on ties (as {@code torch.argmax}). */
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
     * Chooses a token id from {@code logits[offset .. offset + vocab)}.
     *
     * @param temperature 0 for argmax, else the logits' divisor
     * @param topK        keep the k most likely tokens (0 = all)
     * @param topP        keep the smallest set reaching probability p (1 = all)
     */
    public static int sample(float[] logits, int offset, int vocab, float temperature, int topK, float topP,
                             RandomGenerator random) {
        if (temperature == 0f) {
            return argmax(logits, offset, vocab);
        }
        float invT = 1f / temperature;
        if (topK == 0 && topP == 1f) {
            return sampleAll(logits, offset, vocab, invT, random);
        }
        // Candidates sorted by logit, descending; top-k cuts the list before the softmax.
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[offset + b], logits[offset + a]));
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
        double max = logits[offset + order[0]] * invT;
        double[] probs = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            probs[i] = Math.exp(logits[offset + order[i]] * invT - max);
            sum += probs[i];
        }
        if (topP < 1f) {
            double cumulative = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cumulative += probs[i] / sum;
                if (cumulative >= topP) {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) {
                sum += probs[i];
            }
        }
        double r = random.nextDouble() * sum;
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += probs[i];
            if (r < acc) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    private static int sampleAll(float[] logits, int offset, int vocab, float invT, RandomGenerator random) {
        double max = logits[offset + argmax(logits, offset, vocab)] * invT;
        double[] probs = new double[vocab];
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            probs[i] = Math.exp(logits[offset + i] * invT - max);
            sum += probs[i];
        }
        double r = random.nextDouble() * sum;
        double acc = 0;
        for (int i = 0; i < vocab; i++) {
            acc += probs[i];
            if (r < acc) {
                return i;
            }
        }
        return argmax(logits, offset, vocab);
    }
}
