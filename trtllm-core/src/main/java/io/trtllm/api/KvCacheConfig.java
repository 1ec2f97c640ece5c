package io.trtllm.api;

import org.jspecify.annotations.Nullable;

/**
 * Size and behaviour of the paged KV cache (TensorRT-LLM's {@code KvCacheConfig}).
 *
 * @param maxTokens          token slots in the cache, or null to size it from {@code memoryFraction}
 * @param memoryFraction     fraction of the JVM's maximum heap the CPU backend's cache may take when
 *                           {@code maxTokens} is null (the cache always holds at least one
 *                           max_seq_len sequence, and never more than max_batch_size of them)
 * @param enableBlockReuse   whether full blocks are shared between requests with a common prefix
 * @param tokensPerBlock     tokens per block
 */
public record KvCacheConfig(@Nullable Integer maxTokens, double memoryFraction, boolean enableBlockReuse,
                            int tokensPerBlock) {
    public KvCacheConfig {
        if (maxTokens != null && maxTokens <= 0) {
            throw new IllegalArgumentException("kv_cache_config.max_tokens must be > 0, got " + maxTokens);
        }
        if (!(memoryFraction > 0 && memoryFraction <= 1)) {
            throw new IllegalArgumentException("kv_cache_config.memory_fraction must be in (0, 1], got " + memoryFraction);
        }
        if (tokensPerBlock <= 0) {
            throw new IllegalArgumentException("kv_cache_config.tokens_per_block must be > 0, got " + tokensPerBlock);
        }
    }

    /** Defaults: sized from 25% of the heap, block reuse on, 32 tokens per block. */
    public static KvCacheConfig defaults() {
        return new KvCacheConfig(null, 0.25, true, 32);
    }
}
