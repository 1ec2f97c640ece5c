package io.trtllm.executor;

import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * What the executor needs to run one request: token ids in, and how to pick and when to stop.
 * Built by the API layer from {@code SamplingParams}; validated there.
 *
 * @param requestId    caller-visible id (unique among live requests)
 * @param promptTokenIds the prompt
 * @param maxTokens    most tokens to generate
 * @param temperature  0 = greedy
 * @param topK         0 = off
 * @param topP         1 = off
 * @param seed         per-request seed, or null for a random one
 * @param ignoreEos    whether EOS ids do not end generation
 * @param stopTokenIds ids that end generation (not part of the text)
 */
public record GenerationRequest(String requestId, int[] promptTokenIds, int maxTokens, float temperature, int topK,
                                float topP, @Nullable Long seed, boolean ignoreEos, Set<Integer> stopTokenIds) {
    public GenerationRequest {
        if (promptTokenIds.length == 0) {
            throw new IllegalArgumentException("request " + requestId + ": the prompt is empty");
        }
        if (maxTokens <= 0) {
            throw new IllegalArgumentException("request " + requestId + ": max_tokens must be > 0, got " + maxTokens);
        }
        promptTokenIds = promptTokenIds.clone();
        stopTokenIds = Set.copyOf(stopTokenIds);
    }

    @Override
    public int[] promptTokenIds() {
        return promptTokenIds.clone();
    }
}
