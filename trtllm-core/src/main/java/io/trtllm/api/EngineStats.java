package io.trtllm.api;

/**
 * A snapshot of an {@link LLM}'s engine, for health checks and metrics ({@link LLM#stats()}). The counters
 * ({@code iterations}, {@code preemptions}, the token counts, the KV cache's hits and queries) count since the
 * engine started.
 *
 * @param alive           whether the engine's loop runs (false after {@link LLM#close()} or an error that
 *                        stopped it, see {@link LLM#failure()})
 * @param running         requests admitted (each sample of a best_of request counts)
 * @param waiting         requests queued, not yet admitted
 * @param kvCache         the paged KV cache's blocks
 * @param iterations      forward passes so far
 * @param lastBatchSize   sequences in the last pass
 * @param lastBatchTokens tokens in the last pass
 * @param preemptions     times a running sequence was preempted (its KV-cache blocks freed, to be recomputed)
 * @param promptTokens    prompt tokens prefilled: each sequence's prompt once, when it produced its first token
 * @param generatedTokens tokens generated
 */
public record EngineStats(boolean alive, int running, int waiting, KvCache kvCache, long iterations, int lastBatchSize,
                          int lastBatchTokens, long preemptions, long promptTokens, long generatedTokens) {

    /** Stats without the preemption and token counters (all 0). */
    public EngineStats(boolean alive, int running, int waiting, KvCache kvCache, long iterations, int lastBatchSize,
                       int lastBatchTokens) {
        this(alive, running, waiting, kvCache, iterations, lastBatchSize, lastBatchTokens, 0, 0, 0);
    }

    /**
     * The KV cache's blocks.
     *
     * @param numBlocks      all blocks
     * @param usedBlocks     blocks held by requests
     * @param freeBlocks     blocks a request may take ({@code numBlocks - usedBlocks}), including cached ones
     * @param cachedBlocks   free blocks that still hold a prefix a later request may reuse
     * @param reuseHitBlocks blocks served from the prefix cache so far
     * @param reuseHitTokens prompt tokens served from the prefix cache so far
     * @param queriedTokens  prompt tokens looked up in the prefix cache so far (every admitted prompt, re-admissions
     *                       after preemption included, when block reuse is on; 0 when it is off)
     */
    public record KvCache(int numBlocks, int usedBlocks, int freeBlocks, int cachedBlocks, long reuseHitBlocks,
                          long reuseHitTokens, long queriedTokens) {

        /** A cache whose prefix lookups are not counted (0). */
        public KvCache(int numBlocks, int usedBlocks, int freeBlocks, int cachedBlocks, long reuseHitBlocks,
                       long reuseHitTokens) {
            this(numBlocks, usedBlocks, freeBlocks, cachedBlocks, reuseHitBlocks, reuseHitTokens, 0);
        }

        /** Fraction of the blocks in use, in [0, 1] (0 for a cache without blocks). */
        public double utilization() {
            return numBlocks == 0 ? 0 : (double) usedBlocks / numBlocks;
        }
    }
}
