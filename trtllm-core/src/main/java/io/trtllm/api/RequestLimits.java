package io.trtllm.api;

/**
 * What an {@link LLM} refuses before anything is queued: prompts it cannot hold, sizes beyond its
 * engine's limits, and features this version does not combine. Each refusal is an
 * {@link IllegalArgumentException} naming the value and the limit.
 *
 * @param maxInputLen  longest prompt
 * @param maxSeqLen    longest prompt + output
 * @param vocabSize    the model's vocabulary size (prompt ids and logprobs counts must fit it)
 * @param maxQueueSize most requests waiting: best_of samples (or beams) wait together
 */
record RequestLimits(int maxInputLen, int maxSeqLen, int vocabSize, int maxQueueSize) {

    /** Refuses what this version does not do yet, rather than doing something else silently. */
    static void checkSupported(SamplingParams params, boolean streaming) {
        if (streaming && params.useBeamSearch()) {
            throw new IllegalArgumentException("streaming does not support use_beam_search; use generate or generateAsync");
        }
        if (params.useBeamSearch() && (!params.stop().isEmpty() || params.logprobs() != null || params.promptLogprobs() != null)) {
            throw new IllegalArgumentException("use_beam_search does not support stop strings, logprobs or prompt_logprobs");
        }
        if (streaming && params.bestOf() > 1) {
            throw new IllegalArgumentException("streaming supports n = best_of = 1 for now (n=" + params.n() + ", best_of="
                    + params.bestOf() + "); use generate or generateAsync");
        }
    }

    /** Refuses a prompt or parameters beyond these limits. */
    void check(int[] promptIds, SamplingParams params) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed");
        }
        if (promptIds.length > maxInputLen) { // before the ids: a huge prompt is refused without reading it
            throw new IllegalArgumentException("prompt (" + promptIds.length + " tokens) exceeds the engine's max_input_len "
                    + maxInputLen);
        }
        for (int id : promptIds) {
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException("prompt token id " + id + " is out of range [0, " + vocabSize + ")");
            }
        }
        // Sums and products of caller-given sizes are taken as longs: each may be up to 2^31 - 1.
        long total = (long) promptIds.length + params.maxTokens();
        if (total > maxSeqLen) {
            throw new IllegalArgumentException("prompt (" + promptIds.length + " tokens) + max_tokens ("
                    + params.maxTokens() + ") = " + total + " exceeds max_seq_len " + maxSeqLen);
        }
        if (params.logprobs() != null && params.logprobs() > vocabSize) {
            throw new IllegalArgumentException("logprobs (" + params.logprobs() + ") exceeds the vocabulary size " + vocabSize);
        }
        if (params.promptLogprobs() != null && params.promptLogprobs() > vocabSize) {
            throw new IllegalArgumentException("prompt_logprobs (" + params.promptLogprobs() + ") exceeds the vocabulary size "
                    + vocabSize);
        }
        // best_of samples (or beams) wait in the queue together: more than it holds could never all be admitted.
        if (params.bestOf() > maxQueueSize) {
            throw new IllegalArgumentException((params.useBeamSearch() ? "the beam width" : "best_of") + " ("
                    + params.bestOf() + ") exceeds max_queue_size " + maxQueueSize);
        }
        // Each beam-search step asks for the 2 × width most likely tokens.
        if (params.useBeamSearch() && 2L * params.bestOf() > vocabSize) {
            throw new IllegalArgumentException("the beam width (" + params.bestOf() + ") needs 2 × " + params.bestOf()
                    + " candidate tokens per step, more than the vocabulary size " + vocabSize);
        }
    }
}
