package io.trtllm.api.config;

import java.nio.file.Path;
import org.jspecify.annotations.Nullable;

/**
 * Where the engine cache lives and how large it may grow, as TensorRT-LLM's {@code BuildCacheConfig}.
 *
 * @param cacheRoot    cache root (engines go to {@code <root>/engines}), or null for {@code TRTLLM_CACHE_DIR}, else
 *                     {@code LlmArgs.cacheDir}, else {@code ~/.cache/trtllm}
 * @param maxRecords   most engines kept; the least recently used beyond it are removed (never one in use)
 * @param maxSizeBytes most bytes of engines kept, likewise
 */
public record BuildCacheConfig(@Nullable Path cacheRoot, int maxRecords, long maxSizeBytes) {
    /** Default {@link #maxRecords()}, as TensorRT-LLM's. */
    public static final int DEFAULT_MAX_RECORDS = 10;
    /** Default {@link #maxSizeBytes()}: 256 GiB, as TensorRT-LLM's. */
    public static final long DEFAULT_MAX_SIZE_BYTES = 256L << 30;

    public BuildCacheConfig {
        if (maxRecords <= 0) {
            throw new IllegalArgumentException("build cache max_records must be > 0, got " + maxRecords);
        }
        if (maxSizeBytes <= 0) {
            throw new IllegalArgumentException("build cache max_size_bytes must be > 0, got " + maxSizeBytes);
        }
    }

    /** The defaults: root from the environment / LlmArgs, 10 records, 256 GiB. */
    public static BuildCacheConfig defaults() {
        return new BuildCacheConfig(null, DEFAULT_MAX_RECORDS, DEFAULT_MAX_SIZE_BYTES);
    }
}
