package io.trtllm.executor;

/**
 * What the executor needs to run one request: token ids in, how to pick each token, and when to
 * stop. Built by the API layer from {@code SamplingParams}, validated there.
 *
 * @param requestId      caller-visible id (unique among live requests)
 * @param promptTokenIds the prompt
 * @param maxTokens      most tokens to generate
 * @param sampling       how to pick tokens; its end ids (EOS unless ignored, and stop ids) end generation
 */
public record GenerationRequest(String requestId, int[] promptTokenIds, int maxTokens, SamplingConfig sampling) {
    public GenerationRequest {
        if (promptTokenIds.length == 0) {
            throw new IllegalArgumentException("request " + requestId + ": the prompt is empty");
        }
        if (maxTokens <= 0) {
            throw new IllegalArgumentException("request " + requestId + ": max_tokens must be > 0, got " + maxTokens);
        }
        promptTokenIds = promptTokenIds.clone();
    }

    @Override
    public int[] promptTokenIds() {
        return promptTokenIds.clone();
    }
}
