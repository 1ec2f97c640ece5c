package io.trtllm.spring.chat;

import io.trtllm.api.QueueFullException;
import io.trtllm.api.RequestOutput;
import java.util.List;

/**
 * Told about the end of each engine request a {@link TrtLlmChatModel} (or the OpenAI API) makes. Called on engine
 * delivery threads or the caller's thread: implementations must be thread-safe and quick. For metrics of every
 * request, whichever way it came, listen to the {@code LLM} instead ({@link io.trtllm.api.RequestListener}), as the
 * auto-configured meters do.
 */
public interface TrtLlmRequestObserver {

    /** Observes nothing. */
    TrtLlmRequestObserver NOOP = new TrtLlmRequestObserver() {
    };

    /** One observer telling all of {@code observers}, in order (NOOP when there are none). */
    static TrtLlmRequestObserver of(List<TrtLlmRequestObserver> observers) {
        List<TrtLlmRequestObserver> all = List.copyOf(observers);
        if (all.isEmpty()) {
            return NOOP;
        }
        if (all.size() == 1) {
            return all.getFirst();
        }
        return new TrtLlmRequestObserver() {
            @Override
            public void onFinished(RequestOutput output) {
                all.forEach(o -> o.onFinished(output));
            }

            @Override
            public void onCancelled() {
                all.forEach(TrtLlmRequestObserver::onCancelled);
            }

            @Override
            public void onRejected(QueueFullException e) {
                all.forEach(o -> o.onRejected(e));
            }

            @Override
            public void onFailed(Throwable error) {
                all.forEach(o -> o.onFailed(error));
            }
        };
    }

    /** A request ended with a final output (its finish reason and {@link io.trtllm.api.RequestMetrics}). */
    default void onFinished(RequestOutput output) {
    }

    /** A streamed request was cancelled by its subscriber before it ended. */
    default void onCancelled() {
    }

    /** A request was refused because the engine's queue was full. */
    default void onRejected(QueueFullException e) {
    }

    /** A request failed (other than a full queue). */
    default void onFailed(Throwable error) {
    }
}
