package io.trtllm.executor;

import io.trtllm.sampling.SampledToken;

/**
 * Receives one request's progress. Called on the executor's loop thread, in order; implementations
 * must return quickly (hand heavy work such as detokenization to another thread). An exception
 * thrown here fails this request only.
 */
public interface GenerationListener {

    /**
     * A new token was generated (with its log-probabilities when the request asked for them).
     *
     * @param finish null while generation goes on; else why this token ends it ({@code STOP}: it is
     *               an end-of-sequence or stop token, which belongs to the ids but not to the text;
     *               {@code LENGTH}: it is the last one allowed). {@link #onFinish} follows.
     */
    void onToken(SampledToken token, @org.jspecify.annotations.Nullable FinishReason finish);

    /**
     * Log-probabilities of prompt tokens {@code [fromPosition, fromPosition + logprobs.size())}
     * given the tokens before each (only when the request asked for prompt logprobs; called as
     * prefill chunks complete, before the first {@link #onToken}).
     */
    default void onPromptLogprobs(int fromPosition, java.util.List<SampledToken> logprobs) {
    }

    /**
     * Logits rows of prompt positions {@code [fromPosition, fromPosition + rows)}, row-major in {@code values}
     * ({@code rows × vocab}, this call's own copy); row p predicts the token after position p. Only when the
     * request asked for context logits; before the first {@link #onToken}.
     */
    default void onContextLogits(int fromPosition, int rows, float[] values) {
    }

    /**
     * The raw logits row ({@code vocab} values, this call's own copy) from which the next token is chosen;
     * only when the request asked for generation logits; just before that token's {@link #onToken}.
     */
    default void onGenerationLogits(float[] row) {
    }

    /**
     * Beam search: the best hypotheses (at most the beam width, best score first), after every step when the
     * request asked for them ({@link BeamSearchConfig#reportEachStep}), and once with {@code last} true when the
     * search ends, just before {@link #onFinish}. A beam search never calls {@link #onToken}.
     */
    default void onBeams(java.util.List<BeamHypothesis> beams, boolean last) {
    }

    /** The request ended; no call follows. */
    void onFinish(FinishReason reason, RequestStats stats);

    /** The request failed; no call follows. */
    void onFailure(Throwable error);
}
