package io.trtllm.engine;

import io.trtllm.api.config.KvCacheConfig;

/**
 * How a loaded engine runs: the KV cache's size and element type, and the CPU backend's threads
 * ({@code LlmArgs.kvCacheConfig} and {@code LlmArgs.threads}).
 *
 * @param kvCache the KV cache's size (or share of memory), block size and element type
 * @param threads CPU threads of the forward pass; 0 = all available processors
 */
public record RunnerOptions(KvCacheConfig kvCache, int threads) {
    public RunnerOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all processors), got " + threads);
        }
    }
}
