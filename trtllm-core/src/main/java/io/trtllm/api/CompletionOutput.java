package io.trtllm.api;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One generated continuation of a prompt, as of the last update.
 *
 * @param index             which of the request's outputs this is (0 for a single output)
 * @param text              the text generated so far (detokenized, without the prompt; trimmed at a stop
 *                          string unless {@code include_stop_str_in_output})
 * @param tokenIds          the token ids generated so far (an ending stop/EOS token included)
 * @param cumulativeLogprob sum of the chosen tokens' log-probabilities (raw model distribution), whenever they
 *                          were computed: with {@code logprobs}, {@code best_of > n}, beam search or generation
 *                          logits; null otherwise (greedy and sampled rows chosen on the device have none)
 * @param logprobs          per generated token, when {@code logprobs} was asked for; else empty
 * @param finishReason      named as TensorRT-LLM's {@code finish_reason}: {@code stop} (the end-of-sequence id,
 *                          end_id, a stop token or a stop string), {@code length} (max_tokens or the
 *                          sequence-length limit), {@code cancelled}, or null while running
 * @param stopReason        the stop string (String) or stop token id (Integer) that ended it; null for the
 *                          end-of-sequence id, as in TensorRT-LLM
 * @param textDiff          text added since the previous update of a stream (the whole text otherwise)
 * @param tokenIdsDiff      token ids added since the previous update of a stream (all otherwise)
 * @param generationLogits  the logits row each generated token was chosen from, when
 *                          {@code return_generation_logits} was asked for (in the final output), else null
 */
public record CompletionOutput(int index, String text, int[] tokenIds, @Nullable Double cumulativeLogprob,
                               List<TokenLogprob> logprobs, @Nullable String finishReason, @Nullable Object stopReason,
                               String textDiff, int[] tokenIdsDiff, @Nullable Logits generationLogits) {
    public static final String STOP = "stop";
    public static final String LENGTH = "length";
    public static final String CANCELLED = "cancelled";

    public CompletionOutput {
        tokenIds = tokenIds.clone();
        tokenIdsDiff = tokenIdsDiff.clone();
        logprobs = List.copyOf(logprobs);
    }

    /** An output without generation logits. */
    public CompletionOutput(int index, String text, int[] tokenIds, @Nullable Double cumulativeLogprob,
                            List<TokenLogprob> logprobs, @Nullable String finishReason, @Nullable Object stopReason,
                            String textDiff, int[] tokenIdsDiff) {
        this(index, text, tokenIds, cumulativeLogprob, logprobs, finishReason, stopReason, textDiff, tokenIdsDiff, null);
    }

    /** A final output without log-probabilities: the diffs are the whole output. */
    public CompletionOutput(int index, String text, int[] tokenIds, @Nullable String finishReason) {
        this(index, text, tokenIds, null, List.of(), finishReason, null, text, tokenIds);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    @Override
    public int[] tokenIdsDiff() {
        return tokenIdsDiff.clone();
    }

    /** Whether generation of this output has ended. */
    public boolean finished() {
        return finishReason != null;
    }
}
