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

    /** The request ended; no call follows. */
    void onFinish(FinishReason reason, RequestStats stats);

    /** The request failed; no call follows. */
    void onFailure(Throwable error);
}
