package io.trtllm.engine;

/** An engine directory whose files do not match its checksum manifest (or that has none). */
public final class CorruptEngineException extends RuntimeException {
    public CorruptEngineException(String message) {
        super(message);
    }

    public CorruptEngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
