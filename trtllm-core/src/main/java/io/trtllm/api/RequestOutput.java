package io.trtllm.api;

import java.util.List;
import org.jspecify.annotations.Nullable;

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
 * @param contextLogits  the logits of every prompt position when {@code return_context_logits} was asked for
 *                       (in the final output), else null
 */
public record RequestOutput(String requestId, String prompt, int[] promptTokenIds, List<CompletionOutput> outputs,
                            boolean finished, RequestMetrics metrics, List<TokenLogprob> promptLogprobs,
                            @Nullable Logits contextLogits) {
    public RequestOutput {
        promptTokenIds = promptTokenIds.clone();
        outputs = List.copyOf(outputs);
        promptLogprobs = List.copyOf(promptLogprobs);
    }

    /** An output without context logits. */
    public RequestOutput(String requestId, String prompt, int[] promptTokenIds, List<CompletionOutput> outputs,
                         boolean finished, RequestMetrics metrics, List<TokenLogprob> promptLogprobs) {
        this(requestId, prompt, promptTokenIds, outputs, finished, metrics, promptLogprobs, null);
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
