package io.trtllm.spring.openai;

import io.trtllm.api.RequestMetrics;
import java.util.List;

/**
 * Told how each generating request of the OpenAI API ended, as OpenTelemetry's GenAI <em>server</em> metrics
 * see one: a chat or text completion of the served model that succeeded (with its outputs' timings) or failed
 * (with an error type). Called on Reactor or engine threads: implementations must be thread-safe and quick.
 */
public interface GenAiServerObserver {
    /** {@code gen_ai.operation.name} of {@code /chat/completions}. */
    String CHAT = "chat";
    /** {@code gen_ai.operation.name} of {@code /completions}. */
    String TEXT_COMPLETION = "text_completion";

    /** Observes nothing. */
    GenAiServerObserver NOOP = new GenAiServerObserver() {
    };

    /**
     * A request was answered in full: the whole response, or the last event of a stream.
     *
     * @param operation  {@link #CHAT} or {@link #TEXT_COMPLETION}
     * @param model      the served model
     * @param startNanos {@link System#nanoTime()} when the request arrived
     * @param outputs    the metrics of its engine requests (one per prompt), whose times are on the same clock
     */
    default void succeeded(String operation, String model, long startNanos, List<RequestMetrics> outputs) {
    }

    /**
     * A request ended in an error: answered with an OpenAI error, cut by an error event in a stream, or
     * abandoned by its client ({@code cancelled}).
     *
     * @param errorType the OpenAI error's code (e.g. {@code queue_full}, {@code context_length_exceeded}), else its
     *                  type (e.g. {@code invalid_request_error}); {@code cancelled} when the client went away
     */
    default void failed(String operation, String model, long startNanos, String errorType) {
    }
}
