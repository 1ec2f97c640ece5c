package io.trtllm.api;

/**
 * Log-probabilities at one generated position: of the chosen token and of the most likely ones,
 * from the model's raw distribution ({@code log_softmax} of the logits before any sampling
 * processor, as TensorRT-LLM and vLLM report them).
 *
 * @param tokenId      the chosen token
 * @param logprob      its log-probability
 * @param topTokenIds  the most likely tokens, most likely first
 * @param topLogprobs  their log-probabilities
 */
public record TokenLogprob(int tokenId, float logprob, int[] topTokenIds, float[] topLogprobs) {
    public TokenLogprob {
        topTokenIds = topTokenIds.clone();
        topLogprobs = topLogprobs.clone();
    }

    @Override
    public int[] topTokenIds() {
        return topTokenIds.clone();
    }

    @Override
    public float[] topLogprobs() {
        return topLogprobs.clone();
    }
}
