package io.trtllm.api;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * How to pick each next token, and when to stop. Defaults follow TensorRT-LLM's
 * {@code SamplingParams} where they make sense for a library: temperature 1, no top-k/top-p cut.
 *
 * @param maxTokens    most tokens to generate (> 0)
 * @param temperature  0 means greedy (argmax); otherwise logits are divided by it before sampling
 * @param topK         keep only the k most likely tokens (0 = no limit)
 * @param topP         keep the smallest set of tokens whose probability reaches p (1 = no limit)
 * @param seed         seed for this request's random draws, or null for a random seed
 * @param ignoreEos    whether to keep generating past the end-of-sequence token
 * @param stopTokenIds extra token ids that end generation (the token is not part of the text)
 */
public record SamplingParams(
        int maxTokens,
        float temperature,
        int topK,
        float topP,
        @Nullable Long seed,
        boolean ignoreEos,
        List<Integer> stopTokenIds) {

    public static final int DEFAULT_MAX_TOKENS = 32;

    public SamplingParams {
        if (maxTokens <= 0) {
            throw new IllegalArgumentException("max_tokens must be > 0, got " + maxTokens);
        }
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 disables it), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        stopTokenIds = List.copyOf(stopTokenIds);
    }

    /** Whether tokens are chosen by argmax. */
    public boolean greedy() {
        return temperature == 0f;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Greedy decoding of up to {@code maxTokens} tokens. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().maxTokens(maxTokens).temperature(0).build();
    }

    /** Builder with TensorRT-LLM-like defaults. */
    public static final class Builder {
        private int maxTokens = DEFAULT_MAX_TOKENS;
        private float temperature = 1f;
        private int topK;
        private float topP = 1f;
        private @Nullable Long seed;
        private boolean ignoreEos;
        private List<Integer> stopTokenIds = List.of();

        private Builder() {
        }

        public Builder maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            return this;
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

        public Builder seed(@Nullable Long seed) {
            this.seed = seed;
            return this;
        }

        public Builder ignoreEos(boolean ignoreEos) {
            this.ignoreEos = ignoreEos;
            return this;
        }

        public Builder stopTokenIds(List<Integer> stopTokenIds) {
            this.stopTokenIds = stopTokenIds;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(maxTokens, temperature, topK, topP, seed, ignoreEos, stopTokenIds);
        }
    }
}
