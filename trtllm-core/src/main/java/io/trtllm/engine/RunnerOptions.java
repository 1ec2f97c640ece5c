package io.trtllm.engine;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.RuntimeConfig;

/**
 * How a loaded engine runs: the KV cache's size and element type, and the CPU backend's threads
 * ({@code LlmArgs.kvCacheConfig} and {@code LlmArgs.threads}).
 *
 * @param kvCache the KV cache's size (or share of memory), block size and element type
 * @param threads CPU threads of the forward pass; 0 = all available processors
 * @param runtime the backends' fast-path switches ({@code LlmArgs.runtime})
 */
public record RunnerOptions(KvCacheConfig kvCache, int threads, RuntimeConfig runtime) {
    public RunnerOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all processors), got " + threads);
        }
    }

    /** Options with the fast-path switches of this JVM's system properties. */
    public RunnerOptions(KvCacheConfig kvCache, int threads) {
        this(kvCache, threads, RuntimeConfig.fromSystemProperties());
    }
}
