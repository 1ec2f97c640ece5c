package io.trtllm.executor;

import io.trtllm.api.config.SchedulerPolicy;

/**
 * How the scheduler admits and batches requests (TensorRT-LLM's {@code SchedulerConfig} and the
 * batching limits of {@code LlmArgs}).
 *
 * @param policy                {@link SchedulerPolicy#GUARANTEED_NO_EVICT} (default) or
 *                              {@link SchedulerPolicy#MAX_UTILIZATION}
 * @param maxBatchSize          most sequences in one forward pass
 * @param maxNumTokens          most tokens (prefill chunks + decodes) in one forward pass
 * @param enableChunkedPrefill  whether a long prompt may be split across iterations
 */
public record SchedulerConfig(SchedulerPolicy policy, int maxBatchSize, int maxNumTokens, boolean enableChunkedPrefill) {

    public SchedulerConfig {
        if (maxBatchSize <= 0) {
            throw new IllegalArgumentException("max_batch_size must be > 0, got " + maxBatchSize);
        }
        if (maxNumTokens <= 0) {
            throw new IllegalArgumentException("max_num_tokens must be > 0, got " + maxNumTokens);
        }
    }

    /** Defaults: no eviction, 64 sequences, 2048 tokens per pass, chunked prefill on. */
    public static SchedulerConfig defaults() {
        return new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 64, 2048, true);
    }
}
