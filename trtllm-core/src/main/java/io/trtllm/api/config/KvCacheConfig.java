package io.trtllm.api.config;

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
 * @param dtype              element type of the cached keys and values; {@link Dtype#AUTO}: the
 *                           backend's compute type (float32 on the CPU; on CUDA the weights' 16-bit type). A 16-bit
 *                           cache on the CPU halves its memory and the bytes attention reads per step; {@link Dtype#FP8}
 *                           (CUDA, sm_89 or newer) quarters it against float32, E4M3 values of scale 1
 * @param eventBufferMaxSize most {@link KvCacheEvent}s held for {@code LLM.kvCacheEvents()} between two drains
 *                           (TensorRT-LLM's {@code event_buffer_max_size}); 0 (the default) collects none
 */
public record KvCacheConfig(@Nullable Integer maxTokens, double memoryFraction, boolean enableBlockReuse,
                            int tokensPerBlock, Dtype dtype, int eventBufferMaxSize) {
    /** Default {@link #memoryFraction()}. */
    public static final double DEFAULT_MEMORY_FRACTION = 0.25;
    /** Default {@link #tokensPerBlock()}. */
    public static final int DEFAULT_TOKENS_PER_BLOCK = 32;
    /** Default {@link #enableBlockReuse()}. */
    public static final boolean DEFAULT_ENABLE_BLOCK_REUSE = true;

    public KvCacheConfig {
        if (eventBufferMaxSize < 0) {
            throw new InvalidSettingException("kv_cache_config.event_buffer_max_size", eventBufferMaxSize,
                    "kv_cache_config.event_buffer_max_size must be >= 0, got " + eventBufferMaxSize);
        }
        if (maxTokens != null && maxTokens <= 0) {
            throw new InvalidSettingException("kv_cache_config.max_tokens", maxTokens,
                    "kv_cache_config.max_tokens must be > 0, got " + maxTokens);
        }
        if (!(memoryFraction > 0 && memoryFraction <= 1)) {
            throw new InvalidSettingException("kv_cache_config.memory_fraction", memoryFraction,
                    "kv_cache_config.memory_fraction must be in (0, 1], got " + memoryFraction);
        }
        if (tokensPerBlock <= 0) {
            throw new InvalidSettingException("kv_cache_config.tokens_per_block", tokensPerBlock,
                    "kv_cache_config.tokens_per_block must be > 0, got " + tokensPerBlock);
        }
    }

    /** Without KV cache events. */
    public KvCacheConfig(@Nullable Integer maxTokens, double memoryFraction, boolean enableBlockReuse, int tokensPerBlock,
                         Dtype dtype) {
        this(maxTokens, memoryFraction, enableBlockReuse, tokensPerBlock, dtype, 0);
    }

    /** This config collecting up to {@code maxSize} KV cache events between drains (0: none). */
    public KvCacheConfig withEventBufferMaxSize(int maxSize) {
        return new KvCacheConfig(maxTokens, memoryFraction, enableBlockReuse, tokensPerBlock, dtype, maxSize);
    }

    /** A cache of the backend's compute type ({@code dtype} auto). */
    public KvCacheConfig(@Nullable Integer maxTokens, double memoryFraction, boolean enableBlockReuse, int tokensPerBlock) {
        this(maxTokens, memoryFraction, enableBlockReuse, tokensPerBlock, Dtype.AUTO);
    }

    /** This config with the element type {@code dtype}: auto, float32, float16, bfloat16 or fp8 (as {@code --kv-cache-dtype} spells it). */
    public KvCacheConfig withDtype(String dtype) {
        Dtype parsed;
        try {
            parsed = Dtype.parse(dtype);
        } catch (IllegalArgumentException e) {
            throw new InvalidSettingException("kv_cache_config.dtype", dtype, "kv_cache_config." + e.getMessage());
        }
        return new KvCacheConfig(maxTokens, memoryFraction, enableBlockReuse, tokensPerBlock, parsed, eventBufferMaxSize);
    }

    /** Defaults: sized from 25% of the heap, block reuse on, 32 tokens per block. */
    public static KvCacheConfig defaults() {
        return new KvCacheConfig(null, DEFAULT_MEMORY_FRACTION, DEFAULT_ENABLE_BLOCK_REUSE, DEFAULT_TOKENS_PER_BLOCK);
    }
}
