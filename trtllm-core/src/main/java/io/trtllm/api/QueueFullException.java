package io.trtllm.api;

/**
 * The engine's request queue is at {@code max_queue_size} ({@link LLM#maxQueueSize()}): the request was
 * refused before anything was queued, and the caller should retry later (HTTP 429/503).
 */
public final class QueueFullException extends RuntimeException {
    public QueueFullException(String message) {
        super(message);
    }

    /** @param cause the executor's refusal, whose message this one repeats */
    public QueueFullException(String message, Throwable cause) {
        super(message, cause);
    }
}
