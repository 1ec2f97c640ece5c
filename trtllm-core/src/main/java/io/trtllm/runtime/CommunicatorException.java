package io.trtllm.runtime;

/**
 * A collective did not complete: a rank of its group failed, the group was aborted, or it waited longer
 * than the group's timeout. The group is unusable afterwards.
 */
public class CommunicatorException extends RuntimeException {
    public CommunicatorException(String message) {
        super(message);
    }

    public CommunicatorException(String message, Throwable cause) {
        super(message, cause);
    }
}
