package io.trtllm.sampling;

import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * The numeric part of a request's sampling settings, as the executor sees it: everything
 * {@link LogitsProcessor} and {@link Sampler} need, with strings already turned into token ids, checked by
 * {@link SamplingChecks}. The API's {@code SamplingParams} builds one (it depends on this package, never the
 * reverse).
 *
 * <p>Arrays are copied on the way in; the public accessors return copies. Code in this package reads
 * the arrays through package-private accessors without copying, because it does so once per token.
 *
 * @param temperature       0 means greedy; otherwise logits are divided by it (Hugging Face's
 *                          {@code TemperatureLogitsWarper})
 * @param topK              keep the tokens whose logit is at least the k-th largest (0 = off)
 * @param topP              keep the most likely tokens until their probability reaches p (1 = off)
 * @param minP              drop tokens less likely than {@code minP} times the most likely one (0 = off)
 * @param repetitionPenalty Hugging Face's multiplicative penalty on tokens of the prompt and the output
 *                          (1 = off)
 * @param presencePenalty   subtracted once from the logit of every token the output already has (0 = off)
 * @param frequencyPenalty  subtracted from a token's logit once per occurrence in the output (0 = off)
 * @param minTokens         end tokens are banned until this many tokens have been generated
 * @param endTokenIds       tokens that end the sequence (end-of-sequence unless ignored, and the stop
 *                          token ids); banned while {@code minTokens} is not reached
 * @param badTokenIds       tokens that are never generated
 * @param badWords          multi-token sequences that are never completed: the last token of each is
 *                          banned when the sequence ends with the others
 * @param seed              seed of the request's random generator, or null for a random one
 * @param logprobs          how many top log-probabilities to return per generated token; 0 returns only
 *                          the chosen token's, {@link #NO_LOGPROBS} computes none
 * @param guide             where each sequence gets its {@link TokenMask} (guided decoding: a compiled
 *                          grammar), or null for none; compared by identity
 */
public record SamplingConfig(
        float temperature,
        int topK,
        float topP,
        float minP,
        float repetitionPenalty,
        float presencePenalty,
        float frequencyPenalty,
        int minTokens,
        int[] endTokenIds,
        int[] badTokenIds,
        int[][] badWords,
        @Nullable Long seed,
        int logprobs,
        TokenMask.@Nullable Source guide) {

    /** {@link #logprobs()} value meaning that no log-probability is computed. */
    public static final int NO_LOGPROBS = -1;

    public SamplingConfig {
        SamplingChecks.checkWarpers(temperature, topK, topP, minP);
        SamplingChecks.checkPenalties(repetitionPenalty, presencePenalty, frequencyPenalty);
        SamplingChecks.checkMinTokens(minTokens);
        if (logprobs < NO_LOGPROBS) {
            throw new IllegalArgumentException("logprobs must be >= 0, or " + NO_LOGPROBS + " for none, got " + logprobs);
        }
        endTokenIds = checkedIds("end token id", endTokenIds);
        badTokenIds = checkedIds("bad token id", badTokenIds);
        int[][] words = new int[badWords.length][];
        for (int i = 0; i < words.length; i++) {
            if (badWords[i].length == 0) {
                throw new IllegalArgumentException("bad word " + i + " has no tokens");
            }
            words[i] = checkedIds("bad word token id", badWords[i]);
        }
        badWords = words;
    }

    /** Settings without a guide. */
    public SamplingConfig(float temperature, int topK, float topP, float minP, float repetitionPenalty,
                          float presencePenalty, float frequencyPenalty, int minTokens, int[] endTokenIds,
                          int[] badTokenIds, int[][] badWords, @Nullable Long seed, int logprobs) {
        this(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, minTokens,
                endTokenIds, badTokenIds, badWords, seed, logprobs, null);
    }

    /** These settings with {@code guide} giving each sequence its mask (null: none). */
    public SamplingConfig withGuide(TokenMask.@Nullable Source guide) {
        return new SamplingConfig(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                minTokens, endTokenIds, badTokenIds, badWords, seed, logprobs, guide);
    }

    private static int[] checkedIds(String what, int[] ids) {
        for (int id : ids) {
            if (id < 0) {
                throw new IllegalArgumentException(what + " must be >= 0, got " + id);
            }
        }
        return ids.clone();
    }

    /** Whether tokens are chosen by argmax: temperature 0 or top-k 1, as in TensorRT-LLM. */
    public boolean greedy() {
        return temperature == 0f || topK == 1;
    }

    /**
     * Whether a penalty or a ban can change a logit, min_tokens aside (that one depends on how many
     * tokens a sequence has: {@link SamplingState}). False lets greedy decoding skip copying the logits.
     */
    public boolean penalizes() {
        return repetitionPenalty != 1f || presencePenalty != 0f || frequencyPenalty != 0f
                || badTokenIds.length > 0 || badWords.length > 0;
    }

    /**
     * A new random generator for one of the request's sequences. Sequence 0 draws from
     * {@code new SplittableRandom(seed)}; sequence i > 0 from the i-th {@link SplittableRandom#split()}
     * of it, so the n sequences of a request are independent and each depends only on the seed.
     */
    public RandomGenerator newRandom(int sequenceIndex) {
        if (sequenceIndex < 0) {
            throw new IllegalArgumentException("sequence index must be >= 0, got " + sequenceIndex);
        }
        if (seed == null) {
            return new SplittableRandom();
        }
        var root = new SplittableRandom(seed);
        RandomGenerator random = root;
        for (int i = 0; i < sequenceIndex; i++) {
            random = root.split();
        }
        return random;
    }

    @Override
    public int[] endTokenIds() {
        return endTokenIds.clone();
    }

    @Override
    public int[] badTokenIds() {
        return badTokenIds.clone();
    }

    @Override
    public int[][] badWords() {
        int[][] copy = new int[badWords.length][];
        for (int i = 0; i < copy.length; i++) {
            copy[i] = badWords[i].clone();
        }
        return copy;
    }

    /** Whether {@code tokenId} ends the sequence: one of {@link #endTokenIds()}. */
    public boolean isEndToken(int tokenId) {
        for (int end : endTokenIds) {
            if (end == tokenId) {
                return true;
            }
        }
        return false;
    }

    int[] endIds() {
        return endTokenIds;
    }

    int[] bannedIds() {
        return badTokenIds;
    }

    int[][] bannedWords() {
        return badWords;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SamplingConfig c
                && Float.compare(temperature, c.temperature) == 0 && topK == c.topK
                && Float.compare(topP, c.topP) == 0 && Float.compare(minP, c.minP) == 0
                && Float.compare(repetitionPenalty, c.repetitionPenalty) == 0
                && Float.compare(presencePenalty, c.presencePenalty) == 0
                && Float.compare(frequencyPenalty, c.frequencyPenalty) == 0
                && minTokens == c.minTokens && Arrays.equals(endTokenIds, c.endTokenIds)
                && Arrays.equals(badTokenIds, c.badTokenIds) && Arrays.deepEquals(badWords, c.badWords)
                && Objects.equals(seed, c.seed) && logprobs == c.logprobs && guide == c.guide;
    }

    @Override
    public int hashCode() {
        int h = Objects.hash(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                minTokens, seed, logprobs);
        h = 31 * h + Arrays.hashCode(endTokenIds);
        h = 31 * h + Arrays.hashCode(badTokenIds);
        h = 31 * h + System.identityHashCode(guide);
        return 31 * h + Arrays.deepHashCode(badWords);
    }

    @Override
    public String toString() {
        return "SamplingConfig[temperature=" + temperature + ", topK=" + topK + ", topP=" + topP + ", minP=" + minP
                + ", repetitionPenalty=" + repetitionPenalty + ", presencePenalty=" + presencePenalty
                + ", frequencyPenalty=" + frequencyPenalty + ", minTokens=" + minTokens
                + ", endTokenIds=" + Arrays.toString(endTokenIds) + ", badTokenIds=" + Arrays.toString(badTokenIds)
                + ", badWords=" + Arrays.deepToString(badWords) + ", seed=" + seed + ", logprobs=" + logprobs + ", guide=" + guide + "]";
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder whose defaults change nothing: temperature 1, no cuts, no penalties, no logprobs. */
    public static final class Builder {
        private float temperature = 1f;
        private int topK;
        private float topP = 1f;
        private float minP;
        private float repetitionPenalty = 1f;
        private float presencePenalty;
        private float frequencyPenalty;
        private int minTokens;
        private int[] endTokenIds = new int[0];
        private int[] badTokenIds = new int[0];
        private int[][] badWords = new int[0][];
        private @Nullable Long seed;
        private int logprobs = NO_LOGPROBS;
        private TokenMask.@Nullable Source guide;

        private Builder() {
        }

        public Builder temperature(float temperature) {
            this.temperature = temperature;
            return this;
        }

        public Builder topK(int topK) {
            this.topK = topK;
            return this;
        }

        public Builder topP(float topP) {
            this.topP = topP;
            return this;
        }

        public Builder minP(float minP) {
            this.minP = minP;
            return this;
        }

        public Builder repetitionPenalty(float repetitionPenalty) {
            this.repetitionPenalty = repetitionPenalty;
            return this;
        }

        public Builder presencePenalty(float presencePenalty) {
            this.presencePenalty = presencePenalty;
            return this;
        }

        public Builder frequencyPenalty(float frequencyPenalty) {
            this.frequencyPenalty = frequencyPenalty;
            return this;
        }

        public Builder minTokens(int minTokens) {
            this.minTokens = minTokens;
            return this;
        }

        public Builder endTokenIds(int... endTokenIds) {
            this.endTokenIds = endTokenIds;
            return this;
        }

        public Builder badTokenIds(int... badTokenIds) {
            this.badTokenIds = badTokenIds;
            return this;
        }

        public Builder badWords(int[]... badWords) {
            this.badWords = badWords;
            return this;
        }

        public Builder seed(@Nullable Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder logprobs(int logprobs) {
            this.logprobs = logprobs;
            return this;
        }

        public Builder guide(TokenMask.@Nullable Source guide) {
            this.guide = guide;
            return this;
        }

        public SamplingConfig build() {
            return new SamplingConfig(temperature, topK, topP, minP, repetitionPenalty, presencePenalty,
                    frequencyPenalty, minTokens, endTokenIds, badTokenIds, badWords, seed, logprobs, guide);
        }
    }
}
