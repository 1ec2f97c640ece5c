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
 */
public record RequestOutput(String requestId, String prompt, int[] promptTokenIds, List<CompletionOutput> outputs,
                            boolean finished, RequestMetrics metrics) {
    public RequestOutput {
        promptTokenIds = promptTokenIds.clone();
        outputs = List.copyOf(outputs);
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
