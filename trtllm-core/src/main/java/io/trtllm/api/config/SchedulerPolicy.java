package io.trtllm.api.config;

/**
 * What the scheduler promises about KV-cache capacity (TensorRT-LLM's {@code CapacitySchedulerPolicy}).
 */
public enum SchedulerPolicy {
    /** Admit a request only when blocks for its whole length (prompt + max_tokens) are free: never evicts. */
    GUARANTEED_NO_EVICT,
    /** Admit while blocks for the prompt are free; on pressure preempt the newest request and recompute it later. */
    MAX_UTILIZATION
}
