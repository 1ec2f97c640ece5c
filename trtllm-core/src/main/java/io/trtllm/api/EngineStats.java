package io.trtllm.api;

/**
 * A snapshot of an {@link LLM}'s engine, for health checks and metrics ({@link LLM#stats()}).
 *
 * @param alive           whether the engine's loop runs (false after {@link LLM#close()} or an error that
 *                        stopped it, see {@link LLM#failure()})
 * @param running         requests admitted (each sample of a best_of request counts)
 * @param waiting         requests queued, not yet admitted
 * @param kvCache         the paged KV cache's blocks
 * @param iterations      forward passes so far
 * @param lastBatchSize   sequences in the last pass
 * @param lastBatchTokens tokens in the last pass
 */
public record EngineStats(boolean alive, int running, int waiting, KvCache kvCache, long iterations, int lastBatchSize,
                          int lastBatchTokens) {

    /**
     * The KV cache's blocks.
     *
     * @param numBlocks      all blocks
     * @param usedBlocks     blocks held by requests
     * @param freeBlocks     blocks a request may take ({@code numBlocks - usedBlocks}), including cached ones
     * @param cachedBlocks   free blocks that still hold a prefix a later request may reuse
     * @param reuseHitBlocks blocks served from the prefix cache so far
     * @param reuseHitTokens prompt tokens served from the prefix cache so far
     */
    public record KvCache(int numBlocks, int usedBlocks, int freeBlocks, int cachedBlocks, long reuseHitBlocks,
                          long reuseHitTokens) {

        /** Fraction of the blocks in use, in [0, 1] (0 for a cache without blocks). */
        public double utilization() {
            return numBlocks == 0 ? 0 : (double) usedBlocks / numBlocks;
        }
    }
}
