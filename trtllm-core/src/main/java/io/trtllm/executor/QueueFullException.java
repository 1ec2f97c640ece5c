package io.trtllm.executor;

/** The executor's request queue is at {@code max_queue_size}: the caller should retry later (HTTP 429/503). */
public final class QueueFullException extends RuntimeException {
    public QueueFullException(String message) {
        super(message);
    }
}
