package io.trtllm.executor;

/** Why a sequence ended. */
public enum FinishReason {
    /** An end-of-sequence or stop token. */
    STOP,
    /** max_tokens, or the sequence-length limit. */
    LENGTH,
    /** Aborted by the caller (or by shutdown). */
    CANCELLED
}
