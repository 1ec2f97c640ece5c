package io.trtllm.runtime;

/**
 * Sizes a backend's KV cache from the memory it has left: the policy ({@code KvCacheConfig}) is the
 * caller's, the numbers are the backend's.
 */
@FunctionalInterface
public interface KvCacheSizer {
    /**
     * @param availableBytes memory the cache may be carved from (for CUDA: free device memory after
     *                       weights and workspace)
     * @param bytesPerToken  bytes one token's keys and values take in every layer
     */
    KvCacheSpec size(long availableBytes, long bytesPerToken);
}
