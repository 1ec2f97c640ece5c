package io.trtllm.executor;

import java.util.List;
import org.jspecify.annotations.Nullable;
import io.trtllm.sampling.SampledToken;

/**
 * One beam of a beam search as the listener sees it ({@link GenerationListener#onBeams}).
 *
 * @param tokenIds          its generated tokens (a final end token included when it ended with one)
 * @param cumulativeLogprob sum of its tokens' log-probabilities (log_softmax of the raw logits)
 * @param score             what ranks it: {@link BeamSearchConfig#score}
 * @param logprobs          per token, when the request asked for logprobs (top-N of each position); else empty
 * @param finishReason      {@code STOP} when it ended with an end token or a stop string, {@code LENGTH} at
 *                          max_tokens, null while it is alive
 */
public record BeamHypothesis(int[] tokenIds, double cumulativeLogprob, double score, List<SampledToken> logprobs,
                             @Nullable FinishReason finishReason) {
    public BeamHypothesis {
        tokenIds = tokenIds.clone();
        logprobs = List.copyOf(logprobs);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }
}
