package io.trtllm.model.hub;

/** A Hub download that failed: not found, not authorized, offline without a copy, or a checksum mismatch. */
public class HubException extends RuntimeException {
    private final int status;

    public HubException(String message) {
        this(message, 0, null);
    }

    public HubException(String message, int status, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    /** The HTTP status that caused it, 0 when there was none. */
    public int status() {
        return status;
    }
}
