package io.trtllm.executor;

/**
 * The executor's request queue is at {@code max_queue_size}: the caller should retry later (HTTP 429/503).
 * The executor's own; {@code LLM} rethrows it as {@code io.trtllm.api.QueueFullException} (with this one
 * as the cause), the type callers of the API catch.
 */
public final class QueueFullException extends RuntimeException {
    public QueueFullException(String message) {
        super(message);
    }
}
