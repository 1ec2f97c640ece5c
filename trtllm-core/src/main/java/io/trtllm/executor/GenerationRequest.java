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

    /**
     * Checks this request against an executor's limits, before it is queued.
     *
     * @throws IllegalArgumentException for a prompt + max_tokens beyond {@code maxSeqLen}, or more logprobs or
     *                                  prompt logprobs than the vocabulary has tokens
     */
    void checkFits(int maxSeqLen, int vocabSize) {
        // Compared as a long: max_tokens comes from callers and may be anything up to 2^31 - 1.
        long total = (long) promptTokenIds.length + maxTokens;
        if (total > maxSeqLen) {
            throw new IllegalArgumentException("request " + requestId + ": prompt (" + promptTokenIds.length
                    + " tokens) + max_tokens (" + maxTokens + ") = " + total + " exceeds max_seq_len " + maxSeqLen);
        }
        if (sampling.logprobs() > vocabSize) {
            throw new IllegalArgumentException("request " + requestId + ": logprobs (" + sampling.logprobs()
                    + ") exceeds the vocabulary size " + vocabSize);
        }
        if (promptLogprobs > vocabSize) {
            throw new IllegalArgumentException("request " + requestId + ": prompt_logprobs (" + promptLogprobs
                    + ") exceeds the vocabulary size " + vocabSize);
        }
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
