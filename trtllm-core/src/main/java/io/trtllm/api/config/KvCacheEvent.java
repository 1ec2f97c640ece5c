package io.trtllm.api.config;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What happened to the KV cache's reusable blocks (TensorRT-LLM's {@code KVCacheEvent}, as
 * {@code LLM.get_kv_cache_events} returns it): for routers and caches outside the engine that want to know which
 * prefixes an engine holds. Only blocks the prefix cache knows appear (full blocks of computed tokens, with block
 * reuse on); a block's hash is its chained key: it stands for the whole prefix up to and including the block.
 * Collected only when {@link KvCacheConfig#eventBufferMaxSize()} is above 0.
 *
 * <p>Kinds, as TensorRT-LLM's: {@link Created} once, first; {@link Stored} when a block's content is registered
 * for reuse; {@link Removed} when registered blocks are evicted and their content dropped. TensorRT-LLM's
 * {@code updated} (a block's priority or cache level changing) has no counterpart here: there is one cache
 * level and no priorities, so none is emitted.
 */
public sealed interface KvCacheEvent {

    /** Increases by one per event, from 0: a gap means events were dropped (the buffer was full). */
    long eventId();

    /** The cache came into being with {@code numBlocks} blocks of {@code tokensPerBlock} tokens. */
    record Created(long eventId, int numBlocks, int tokensPerBlock) implements KvCacheEvent {
    }

    /**
     * A block was registered for reuse.
     *
     * @param parentHash the hash of the block before it in its prefix, or null for a prefix's first block
     * @param blockHash  its own hash
     * @param tokens     the tokens it holds
     */
    record Stored(long eventId, @Nullable Long parentHash, long blockHash, List<Integer> tokens) implements KvCacheEvent {
        public Stored {
            tokens = List.copyOf(tokens);
        }
    }

    /** Registered blocks were evicted: their hashes no longer find anything. */
    record Removed(long eventId, List<Long> blockHashes) implements KvCacheEvent {
        public Removed {
            blockHashes = List.copyOf(blockHashes);
        }
    }
}
