package io.trtllm.api;

import org.jspecify.annotations.Nullable;

/**
 * What an {@link LLM} refuses before anything is queued: prompts it cannot hold, sizes beyond its
 * engine's limits, and features this version does not combine. Each refusal is an
 * {@link IllegalArgumentException} naming the value and the limit.
 *
 * @param maxInputLen  longest prompt
 * @param maxSeqLen    longest prompt + output
 * @param vocabSize    the model's vocabulary size (prompt ids and logprobs counts must fit it)
 * @param maxQueueSize most requests waiting: best_of samples (or beams) wait together
 * @param maxBeamWidth widest beam search ({@code LlmArgs.maxBeamWidth})
 */
record RequestLimits(int maxInputLen, int maxSeqLen, int vocabSize, int maxQueueSize, int maxBeamWidth) {

    /** Refuses what this version does not do yet, rather than doing something else silently. */
    static void checkSupported(SamplingParams params, boolean streaming) {
        if (params.useBeamSearch() && (params.returnContextLogits() || params.returnGenerationLogits())) {
            throw new IllegalArgumentException("use_beam_search does not support return_context_logits or "
                    + "return_generation_logits");
        }
        if (params.useBeamSearch() && params.promptLogprobs() != null) {
            throw new IllegalArgumentException("use_beam_search does not support prompt_logprobs");
        }
        if (streaming && params.bestOf() > 1 && !params.useBeamSearch()) {
            throw new IllegalArgumentException("streaming supports n = best_of = 1 for now (n=" + params.n() + ", best_of="
                    + params.bestOf() + "); use generate or generateAsync");
        }
    }

    /** Ids a request names must be tokens of the model: one beyond the vocabulary could never be generated. */
    private void checkTokenIds(String field, java.util.List<Integer> ids) {
        for (int id : ids) {
            if (id >= vocabSize) {
                throw new IllegalArgumentException(field + " holds " + id + ", out of range [0, " + vocabSize + ")");
            }
        }
    }

    /**
     * Without a tokenizer ({@code skip_tokenizer_init}) a request must be token ids, and may not ask for
     * what needs text (stop strings, bad words); its output text is empty.
     */
    static void checkWithoutTokenizer(int @Nullable [] promptIds, SamplingParams params) {
        if (promptIds == null) {
            throw new IllegalArgumentException("skip_tokenizer_init is set: give the prompt as token ids, not text");
        }
        if (!params.stop().isEmpty() || !params.bad().isEmpty()) {
            throw new IllegalArgumentException("skip_tokenizer_init is set: stop and bad strings need a tokenizer; use "
                    + "stop_token_ids and bad_token_ids");
        }
    }

    /** {@code a × b}, or Long.MAX_VALUE where it would overflow (sizes a caller gives may each be near 2^31). */
    private static long saturatedProduct(long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
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
        checkTokenIds("stop_token_ids", params.stopTokenIds());
        checkTokenIds("bad_token_ids", params.badTokenIds());
        if (params.endId() != null && params.endId() >= vocabSize) {
            throw new IllegalArgumentException("end_id " + params.endId() + " is out of range [0, " + vocabSize + ")");
        }
        if (params.logprobs() != null && params.logprobs() > vocabSize) {
            throw new IllegalArgumentException("logprobs (" + params.logprobs() + ") exceeds the vocabulary size " + vocabSize);
        }
        if (params.promptLogprobs() != null && params.promptLogprobs() > vocabSize) {
            throw new IllegalArgumentException("prompt_logprobs (" + params.promptLogprobs() + ") exceeds the vocabulary size "
                    + vocabSize);
        }
        if (params.returnContextLogits() && (long) promptIds.length * vocabSize > SamplingParams.MAX_LOGITS_VALUES) {
            throw new IllegalArgumentException("return_context_logits: prompt (" + promptIds.length + " tokens) × vocabulary ("
                    + vocabSize + ") = " + (long) promptIds.length * vocabSize + " values exceeds the limit of "
                    + SamplingParams.MAX_LOGITS_VALUES + " per request; shorten the prompt");
        }
        long generationValues = saturatedProduct((long) params.maxTokens() * params.bestOf(), vocabSize);
        if (params.returnGenerationLogits() && generationValues > SamplingParams.MAX_LOGITS_VALUES) {
            throw new IllegalArgumentException("return_generation_logits: max_tokens (" + params.maxTokens() + ") × best_of ("
                    + params.bestOf() + ") × vocabulary (" + vocabSize + ") = " + generationValues
                    + " values exceeds the limit of " + SamplingParams.MAX_LOGITS_VALUES + " per request; lower max_tokens");
        }
        // best_of samples (or beams) wait in the queue together: more than it holds could never all be admitted.
        if (params.bestOf() > maxQueueSize) {
            throw new IllegalArgumentException((params.useBeamSearch() ? "the beam width" : "best_of") + " ("
                    + params.bestOf() + ") exceeds max_queue_size " + maxQueueSize);
        }
        if (params.beamWidth() > maxBeamWidth) {
            throw new IllegalArgumentException("the beam width (" + params.beamWidth() + ") exceeds max_beam_width "
                    + maxBeamWidth + "; set LlmArgs maxBeamWidth to allow it");
        }
        // Each beam-search step asks for the 2 × width most likely tokens.
        if (params.useBeamSearch() && 2L * params.bestOf() > vocabSize) {
            throw new IllegalArgumentException("the beam width (" + params.bestOf() + ") needs 2 × " + params.bestOf()
                    + " candidate tokens per step, more than the vocabulary size " + vocabSize);
        }
    }
}
