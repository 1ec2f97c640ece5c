package io.trtllm.api;

import java.util.List;

/**
 * The result of one generation request.
 *
 * @param requestId      id of the request
 * @param prompt         the prompt text (empty when the request gave token ids)
 * @param promptTokenIds the prompt's token ids
 * @param outputs        the completions
 * @param finished       whether generation has ended
 * @param metrics        timings and counts
 * @param promptLogprobs for prompt tokens 1 .. n-1 (the first has no context), when
 *                       {@code prompt_logprobs} was asked for; else empty
 */
public record RequestOutput(String requestId, String prompt, int[] promptTokenIds, List<CompletionOutput> outputs,
                            boolean finished, RequestMetrics metrics, List<TokenLogprob> promptLogprobs) {
    public RequestOutput {
        promptTokenIds = promptTokenIds.clone();
        outputs = List.copyOf(outputs);
        promptLogprobs = List.copyOf(promptLogprobs);
    }

    /** An output without prompt log-probabilities. */
    public RequestOutput(String requestId, String prompt, int[] promptTokenIds, List<CompletionOutput> outputs,
                         boolean finished, RequestMetrics metrics) {
        this(requestId, prompt, promptTokenIds, outputs, finished, metrics, List.of());
    }

    @Override
    public int[] promptTokenIds() {
        return promptTokenIds.clone();
    }

    /** The first (usually only) completion. */
    public CompletionOutput output() {
        return outputs.getFirst();
    }
}
