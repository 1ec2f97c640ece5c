package io.trtllm.api;

/**
 * Told how each request of an {@link LLM} ended, whichever way it came in ({@code generate}, a stream, a Spring
 * {@code ChatModel}, the OpenAI API): for metrics. Registered with {@link LLM#addRequestListener}. A request is
 * one {@code generate*} call for one prompt (its {@code best_of} samples or beam search included); a batch of
 * prompts is one request per prompt.
 *
 * <p>Called on the {@code LLM}'s delivery thread (or the caller's, for a request refused before it was queued):
 * keep it short and never block. What a listener throws is logged and ignored.
 */
public interface RequestListener {

    /**
     * A request ended with its final output: its finish reason ({@code stop}, {@code length}, or {@code cancelled}
     * when {@link LLM#abort} stopped it) and its {@link RequestMetrics}.
     */
    default void onFinished(RequestOutput output) {
    }

    /** The caller cancelled what it held (the future, or the stream's subscription) before the request ended. */
    default void onCancelled() {
    }

    /** The request was refused because the engine's queue was full. */
    default void onRejected(QueueFullException e) {
    }

    /** The request was refused (an invalid argument, a closed {@code LLM}) or failed in the engine. */
    default void onFailed(Throwable error) {
    }
}
