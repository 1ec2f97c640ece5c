package io.trtllm.executor;

import io.trtllm.sampling.SamplingConfig;

/**
 * What the executor needs to run one request: token ids in, how to pick each token, and when to
 * stop. Built by the API layer from {@code SamplingParams}, validated there.
 *
 * @param requestId      caller-visible id (unique among live requests)
 * @param promptTokenIds the prompt
 * @param maxTokens      most tokens to generate
 * @param sampling       how to pick tokens; its end ids (EOS unless ignored, and stop ids) end generation
 * @param sequenceIndex  which of a request's samples this is (n / best_of): sample i draws from the
 *                       i-th split of the seed's random stream, so each depends only on the seed
 * @param promptLogprobs top-N log-probabilities to report for every prompt token after the first,
 *                       or -1 for none (then the prompt's logits are not computed)
 */
public record GenerationRequest(String requestId, int[] promptTokenIds, int maxTokens, SamplingConfig sampling,
                                int sequenceIndex, int promptLogprobs) {
    public GenerationRequest {
        if (promptTokenIds.length == 0) {
            throw new IllegalArgumentException("request " + requestId + ": the prompt is empty");
        }
        if (maxTokens <= 0) {
            throw new IllegalArgumentException("request " + requestId + ": max_tokens must be > 0, got " + maxTokens);
        }
        if (promptLogprobs < -1) {
            throw new IllegalArgumentException("request " + requestId + ": promptLogprobs must be >= -1, got " + promptLogprobs);
        }
        if (sequenceIndex < 0) {
            throw new IllegalArgumentException("request " + requestId + ": sequenceIndex must be >= 0, got " + sequenceIndex);
        }
        promptTokenIds = promptTokenIds.clone();
    }

    /** A single-sample request. */
    public GenerationRequest(String requestId, int[] promptTokenIds, int maxTokens, SamplingConfig sampling) {
        this(requestId, promptTokenIds, maxTokens, sampling, 0, -1);
    }

    @Override
    public int[] promptTokenIds() {
        return promptTokenIds.clone();
    }
}
