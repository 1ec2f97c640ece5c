package io.trtllm.executor;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import io.trtllm.api.config.KvCacheEvent;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Bookkeeping of the paged KV cache: which fixed-size blocks each sequence's positions live in.
 * The runner owns the memory; a block id is an index into it, and position {@code p} of a sequence
 * lives in block {@code blockTable(seq)[p / blockSize]} at offset {@code p % blockSize}.
 *
 * <p>With block reuse on, a block whose {@code blockSize} tokens are all known and computed is
 * registered under a chained key {@code hash(parentKey, blockTokens)} (SHA-256, first 64 bits), so
 * the key stands for the whole prefix up to and including the block. A later sequence whose prompt
 * starts with the same full blocks gets those blocks (reference count + 1) instead of recomputing
 * them. The key only finds a candidate: a hit also needs equal tokens and the same parent block,
 * holding the same content as when the candidate was registered, as the block matched just before.
 * So by induction a hit is exact for the whole prefix, whatever the hash's collisions.
 *
 * <p>An unreferenced registered block keeps its content on an LRU list and is evicted only when no
 * empty block is left. Shared blocks are never written: the prefix cache shares only full blocks, and a
 * sequence writes only positions past its cached prefix, which start a fresh block; the beams of a beam
 * search ({@link #fork}) share every block, the last partial one included, and the first to write into a
 * shared block gets a copy of its own ({@link #prepareWrite}: copy on write, as vLLM's block manager).
 *
 * <p>Checks pair with their actions ({@link #canAllocate}/{@link #allocate},
 * {@link #canAppend}/{@link #append}); an action that fails its check throws and changes nothing.
 * Not thread-safe: the executor loop owns it.
 */
public final class KvCacheManager {

    /**
     * Counters for metrics; hits and queries count since construction.
     *
     * @param reuseQueryTokens prompt tokens looked up in the prefix cache (each allocation's whole prompt, with
     *                         block reuse on; vLLM's {@code prefix_cache_queries}), of which {@code reuseHitTokens}
     *                         were found
     */
    public record Stats(int numBlocks, int usedBlocks, int freeBlocks, int cachedBlocks,
                        long reuseHitBlocks, long reuseHitTokens, long reuseQueryTokens) {
    }

    /** Key of a full block from its parent's key and its tokens {@code [from, from + blockSize)}. */
    @FunctionalInterface
    interface BlockHash {
        long key(long parentKey, int[] tokens, int from, int blockSize);
    }

    private static final class Block {
        final int id;
        int refCount;
        /** Registered content, or null for an empty block; {@code tokens != null} iff it is in {@code byKey}. */
        int @Nullable [] tokens;
        long key;
        /** The registered block before it in its prefix ({@link #ROOT} for a first block) ... */
        @Nullable Block parent;
        /** ... and that block's {@link #generation} then: a later eviction makes this one unreachable. */
        int parentGeneration;
        /** Evictions so far: each one ends a content. */
        int generation;

        Block(int id) {
            this.id = id;
        }
    }

    /** The parent of every sequence's first block; its key 0 starts each chain. */
    private static final Block ROOT = new Block(-1);

    /** One sequence's block table and how far it has been registered. */
    private static final class Table {
        int[] ids = new int[4];
        int size;
        /** Leading blocks already registered (or found in the cache): commit resumes here. */
        int committedBlocks;
        /**
         * The registered block holding the content of block {@code committedBlocks - 1}: the parent of
         * the next one registered. Null once a key collision stopped this sequence's registrations.
         */
        @Nullable Block last = ROOT;
        /**
         * {@code last}'s generation when it was found to hold this sequence's content. Our own and hit
         * blocks are referenced and never evicted; a twin computed by another sequence may be.
         */
        int lastGeneration;

        void add(int id) {
            if (size == ids.length) {
                ids = Arrays.copyOf(ids, size * 2);
            }
            ids[size++] = id;
        }
    }

    private final int blockSize;
    private final boolean enableBlockReuse;
    private final Block[] blocks;
    /** Unreferenced blocks without content; handed out first. */
    private final ArrayDeque<Block> empty = new ArrayDeque<>();
    /** Unreferenced registered blocks, least recently released first: the eviction order. */
    private final LinkedHashSet<Block> evictable = new LinkedHashSet<>();
    /** At most one block per key; a duplicate computed elsewhere simply stays unregistered. */
    private final Map<Long, Block> byKey = new HashMap<>();
    private final Map<Long, Table> tables = new HashMap<>();
    private final BlockHash hash;
    private long reuseHitBlocks;
    private long reuseHitTokens;
    private long reuseQueryTokens;
    /** Where stored and removed blocks are told, or null when no one asked ({@link #events}). */
    private @Nullable KvCacheEvents events;

    public KvCacheManager(int numBlocks, int blockSize, boolean enableBlockReuse) {
        this(numBlocks, blockSize, enableBlockReuse, sha256());
    }

    /** With a chosen key function: tests pass weak ones to exercise collisions. */
    KvCacheManager(int numBlocks, int blockSize, boolean enableBlockReuse, BlockHash hash) {
        if (numBlocks < 0) {
            throw new IllegalArgumentException("numBlocks must be >= 0, got " + numBlocks);
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be > 0, got " + blockSize);
        }
        this.blockSize = blockSize;
        this.enableBlockReuse = enableBlockReuse;
        this.blocks = new Block[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            blocks[i] = new Block(i);
            empty.add(blocks[i]);
        }
        this.hash = hash;
    }

    /**
     * Tells {@code events} from now on which blocks are registered for reuse ({@code Stored}) and which are
     * evicted ({@code Removed}), after a {@code Created} event for the cache.
     */
    public void events(KvCacheEvents events) {
        this.events = events;
        events.add(id -> new KvCacheEvent.Created(id, blocks.length, blockSize));
    }

    public int blockSize() {
        return blockSize;
    }

    public int numBlocks() {
        return blocks.length;
    }

    public boolean enableBlockReuse() {
        return enableBlockReuse;
    }

    /** Blocks not referenced by any sequence, evictable cached ones included. */
    public int freeBlocks() {
        return empty.size() + evictable.size();
    }

    /** Blocks referenced by at least one sequence. */
    public int usedBlocks() {
        return blocks.length - freeBlocks();
    }

    /**
     * How many leading tokens of {@code promptTokens} a new sequence would find in the cache now: a
     * multiple of {@code blockSize}, always below the prompt length. The scheduler asks this first to
     * size a prefill chunk that starts after the cached prefix.
     */
    public int cachedPrefixLength(int[] promptTokens) {
        checkPrompt("cachedPrefixLength", promptTokens);
        return matchPrefix(promptTokens).length * blockSize;
    }

    /**
     * Whether a new sequence with these prompt tokens can get blocks for the first
     * {@code tokensToCover} positions (prefix hits need no new block).
     */
    public boolean canAllocate(int[] promptTokens, int tokensToCover) {
        checkPrompt("canAllocate", promptTokens);
        checkLength("canAllocate", "tokensToCover", tokensToCover);
        return missingBlocks(matchPrefix(promptTokens), tokensToCover) <= 0;
    }

    /**
     * Allocates blocks covering positions {@code [0, max(tokensToCover, cached))} for sequence
     * {@code seqId}, reusing the full cached blocks of the longest matching prefix.
     *
     * @return how many leading prompt tokens are already in the cache ({@code cached}): a multiple of
     *         {@code blockSize}, always below {@code promptTokens.length} so at least one token is
     *         computed and yields logits
     * @throws IllegalStateException if the sequence already has blocks, or there are not enough free
     *                               blocks (then nothing changes)
     */
    public int allocate(long seqId, int[] promptTokens, int tokensToCover) {
        checkPrompt("sequence " + seqId, promptTokens);
        checkLength("sequence " + seqId, "tokensToCover", tokensToCover);
        if (tables.containsKey(seqId)) {
            throw new IllegalStateException(
                    "sequence " + seqId + " already has blocks; free it before allocating again");
        }
        Block[] hits = matchPrefix(promptTokens);
        int missing = missingBlocks(hits, tokensToCover);
        if (missing > 0) {
            throw new IllegalStateException("sequence " + seqId + " needs " + missing + " more free blocks than the "
                    + freeBlocks() + " free to cover " + tokensToCover + " positions");
        }
        Table table = new Table();
        // Claim the hits first so that taking new blocks below cannot evict them.
        for (Block hit : hits) {
            if (hit.refCount++ == 0) {
                evictable.remove(hit);
            }
            table.add(hit.id);
        }
        int cached = hits.length * blockSize;
        int total = Math.ceilDiv(Math.max(tokensToCover, cached), blockSize);
        while (table.size < total) {
            table.add(takeBlock().id);
        }
        table.committedBlocks = hits.length;
        table.last = hits.length == 0 ? ROOT : hits[hits.length - 1];
        table.lastGeneration = table.last.generation;
        tables.put(seqId, table);
        reuseHitBlocks += hits.length;
        reuseHitTokens += cached;
        if (enableBlockReuse) {
            reuseQueryTokens += promptTokens.length;
        }
        return cached;
    }

    /** Whether {@code seqId} can grow to hold {@code newLength} positions. */
    public boolean canAppend(long seqId, int newLength) {
        checkLength(seqId, "newLength", newLength);
        return Math.ceilDiv(newLength, blockSize) - table(seqId).size <= freeBlocks();
    }

    /**
     * Grows {@code seqId}'s block table to hold {@code newLength} positions; a no-op if it already
     * does.
     *
     * @throws IllegalStateException if there are not enough free blocks (then nothing changes)
     */
    public void append(long seqId, int newLength) {
        checkLength(seqId, "newLength", newLength);
        Table table = table(seqId);
        int missing = Math.ceilDiv(newLength, blockSize) - table.size;
        if (missing > freeBlocks()) {
            throw new IllegalStateException("sequence " + seqId + " needs " + missing + " new blocks to hold "
                    + newLength + " positions but only " + freeBlocks() + " are free; check canAppend first");
        }
        for (int i = 0; i < missing; i++) {
            table.add(takeBlock().id);
        }
    }

    /**
     * Registers the full blocks of {@code seqId} whose tokens are now known and computed, so that
     * later sequences can reuse them. Called by the scheduler after each forward pass.
     *
     * @param tokens         the sequence's tokens so far (prompt and generated)
     * @param computedLength positions whose KV is written
     */
    public void commit(long seqId, int[] tokens, int computedLength) {
        checkLength(seqId, "computedLength", computedLength);
        Table table = table(seqId);
        long positions = (long) table.size * blockSize; // a long: blocks × block size may pass 2^31 - 1
        if (computedLength > tokens.length || computedLength > positions) {
            throw new IllegalArgumentException("sequence " + seqId + ": computedLength " + computedLength
                    + " exceeds its " + tokens.length + " tokens or its " + positions + " positions");
        }
        if (!enableBlockReuse) {
            return;
        }
        int full = computedLength / blockSize;
        for (; table.committedBlocks < full && table.last != null; table.committedBlocks++) {
            Block parent = table.last;
            if (parent.generation != table.lastGeneration) {
                table.last = null;  // the twin we chained to was evicted: the chain is lost
                break;
            }
            int from = table.committedBlocks * blockSize;
            long key = hash.key(parent.key, tokens, from, blockSize);
            Block cached = byKey.get(key);
            if (cached == null) {
                Block block = blocks[table.ids[table.committedBlocks]];
                block.tokens = Arrays.copyOfRange(tokens, from, from + blockSize);
                block.key = key;
                block.parent = parent;
                block.parentGeneration = parent.generation;
                byKey.put(key, block);
                table.last = block;
                if (events != null) {
                    int[] content = block.tokens;
                    Long parentHash = parent == ROOT ? null : parent.key;
                    events.add(id -> new KvCacheEvent.Stored(id, parentHash, key, java.util.Arrays.stream(content).boxed().toList()));
                }
            } else {
                // The same prefix block computed by another sequence (a twin) continues the chain, and
                // this sequence's copy returns to the empty pool when released; a collision ends it.
                table.last = holds(cached, parent, tokens, from) ? cached : null;
            }
            table.lastGeneration = table.last == null ? 0 : table.last.generation;
        }
    }

    /**
     * Gives sequence {@code childId} the blocks of {@code parentId} as they are (a beam forking): every block
     * shared, its reference count + 1, nothing copied and nothing taken from the free pool, so it cannot fail
     * for want of blocks. A shared block is never written: whichever sequence writes into one first gets a
     * private copy of it ({@link #prepareWrite}, copy on write); full blocks stay shared until both let go.
     *
     * @throws IllegalArgumentException when {@code parentId} holds no blocks
     * @throws IllegalStateException    when {@code childId} already holds blocks
     */
    public void fork(long parentId, long childId) {
        Table parent = table(parentId);
        if (tables.containsKey(childId)) {
            throw new IllegalStateException("sequence " + childId + " already has blocks; free it before forking into it");
        }
        Table child = new Table();
        for (int i = 0; i < parent.size; i++) {
            blocks[parent.ids[i]].refCount++;
            child.add(parent.ids[i]);
        }
        child.committedBlocks = parent.committedBlocks;
        child.last = parent.last;
        child.lastGeneration = parent.lastGeneration;
        tables.put(childId, child);
    }

    /** Whether the block of {@code seqId} that holds {@code position} exists and is shared with another sequence. */
    public boolean isShared(long seqId, int position) {
        checkLength(seqId, "position", position);
        Table table = table(seqId);
        int b = position / blockSize;
        return b < table.size && blocks[table.ids[b]].refCount > 1;
    }

    /**
     * Free blocks {@link #prepareWrite} needs for {@code seqId} to write positions {@code [from, newLength)}:
     * new blocks past its table, and a private copy of every shared block in the range.
     */
    public int blocksToWrite(long seqId, int from, int newLength) {
        checkLength(seqId, "from", from);
        checkLength(seqId, "newLength", newLength);
        Table table = table(seqId);
        int end = Math.ceilDiv(newLength, blockSize);
        int needed = Math.max(0, end - table.size);
        for (int b = from / blockSize; b < Math.min(end, table.size); b++) {
            if (blocks[table.ids[b]].refCount > 1) {
                needed++;
            }
        }
        return needed;
    }

    /**
     * Makes positions {@code [from, newLength)} of {@code seqId} writable: grows its table as {@link #append}
     * does, and replaces every shared block in the range by a fresh block of its own (copy on write). When the
     * first of them already holds positions below {@code from}, its content must come along: the returned pair
     * {@code {source, target}} names the blocks the runner copies before it writes ({@link
     * io.trtllm.runtime.ModelRunner#copyBlocks}); empty when nothing needs copying.
     *
     * @throws IllegalStateException if there are not {@link #blocksToWrite} free blocks (then nothing changes)
     */
    public int[] prepareWrite(long seqId, int from, int newLength) {
        int needed = blocksToWrite(seqId, from, newLength);
        if (needed > freeBlocks()) {
            throw new IllegalStateException("sequence " + seqId + " needs " + needed + " free blocks to write positions ["
                    + from + ", " + newLength + ") but only " + freeBlocks() + " are free; check blocksToWrite first");
        }
        Table table = table(seqId);
        int[] copy = new int[0];
        int end = Math.min(Math.ceilDiv(newLength, blockSize), table.size);
        for (int b = from / blockSize; b < end; b++) {
            Block shared = blocks[table.ids[b]];
            if (shared.refCount > 1) {
                shared.refCount--; // still held by the others: it stays off the free lists
                Block own = takeBlock();
                table.ids[b] = own.id;
                if (b < table.committedBlocks) {
                    // A registered full block rewritten would leave the prefix cache pointing at other content:
                    // the copy is this sequence's own, unregistered, and its registrations end here.
                    table.committedBlocks = b;
                    table.last = null;
                }
                if (b == from / blockSize && from % blockSize != 0) {
                    copy = new int[] {shared.id, own.id};
                }
            }
        }
        append(seqId, newLength);
        return copy;
    }

    /** A copy of the sequence's block table: entry {@code i} holds positions {@code [i*blockSize, (i+1)*blockSize)}. */
    public int[] blockTable(long seqId) {
        Table table = table(seqId);
        return Arrays.copyOf(table.ids, table.size);
    }

    /** Whether {@code seqId} holds blocks. */
    public boolean contains(long seqId) {
        return tables.containsKey(seqId);
    }

    /**
     * Releases the sequence's blocks (finish, abort, failure, preemption). Registered blocks stay
     * cached and evictable; they are released tail first, so a prefix's later blocks are evicted
     * before its earlier ones (a lost earlier block would make the later ones unreachable anyway).
     */
    public void free(long seqId) {
        Table table = table(seqId);
        tables.remove(seqId);
        for (int i = table.size - 1; i >= 0; i--) {
            Block block = blocks[table.ids[i]];
            if (--block.refCount == 0) {
                if (block.tokens != null) {
                    evictable.add(block);
                } else {
                    empty.add(block);
                }
            }
        }
    }

    public Stats stats() {
        return new Stats(numBlocks(), usedBlocks(), freeBlocks(), evictable.size(), reuseHitBlocks, reuseHitTokens,
                reuseQueryTokens);
    }

    /** Reference count of a block; for tests that check the bookkeeping. */
    int refCount(int blockId) {
        return blocks[blockId].refCount;
    }

    /**
     * The cached blocks of the longest prefix of full prompt blocks, stopping one token short of the
     * prompt's end. Each hit is verified: its tokens, and its parent being the block matched just
     * before with unchanged content; so by induction against the whole prefix.
     */
    private Block[] matchPrefix(int[] promptTokens) {
        if (!enableBlockReuse) {
            return new Block[0];
        }
        int maxBlocks = (promptTokens.length - 1) / blockSize;
        Block[] hits = new Block[maxBlocks];
        Block parent = ROOT;
        int n = 0;
        while (n < maxBlocks) {
            int from = n * blockSize;
            Block cached = byKey.get(hash.key(parent.key, promptTokens, from, blockSize));
            if (cached == null || !holds(cached, parent, promptTokens, from)) {
                break;
            }
            hits[n++] = cached;
            parent = cached;
        }
        return Arrays.copyOf(hits, n);
    }

    /**
     * Whether registered {@code block} holds {@code tokens[from, from + blockSize)} right after
     * {@code parent}'s current content.
     */
    private boolean holds(Block block, Block parent, int[] tokens, int from) {
        return block.parent == parent && block.parentGeneration == parent.generation
                && Arrays.equals(block.tokens, 0, blockSize, tokens, from, from + blockSize);
    }

    /** New blocks still lacking after the hits are claimed; {@code <= 0} means it fits. */
    private int missingBlocks(Block[] hits, int tokensToCover) {
        int needed = Math.ceilDiv(tokensToCover, blockSize) - hits.length;
        int claimedFromFree = 0;
        for (Block hit : hits) {
            if (hit.refCount == 0) {
                claimedFromFree++;
            }
        }
        return needed - (freeBlocks() - claimedFromFree);
    }

    /** An empty block, else the least recently released cached one, whose content is dropped. */
    private Block takeBlock() {
        Block block = empty.pollFirst();
        if (block == null) {
            var lru = evictable.iterator();
            block = lru.next();
            lru.remove();
            byKey.remove(block.key);
            if (events != null) {
                long evicted = block.key;
                events.add(id -> new KvCacheEvent.Removed(id, java.util.List.of(evicted)));
            }
            block.tokens = null;
            block.parent = null;
            block.generation++;
        }
        block.refCount = 1;
        return block;
    }

    /** First 64 bits of SHA-256 over the parent key and the block's tokens, big-endian. */
    private static BlockHash sha256() {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
        return (parentKey, tokens, from, blockSize) -> {
            ByteBuffer bytes = ByteBuffer.allocate(Long.BYTES + blockSize * Integer.BYTES).putLong(parentKey);
            for (int i = from; i < from + blockSize; i++) {
                bytes.putInt(tokens[i]);
            }
            return ByteBuffer.wrap(digest.digest(bytes.array())).getLong();
        };
    }

    private Table table(long seqId) {
        Table table = tables.get(seqId);
        if (table == null) {
            throw new IllegalArgumentException("unknown sequence " + seqId + ": it holds no blocks");
        }
        return table;
    }

    private static void checkPrompt(String context, int[] promptTokens) {
        if (promptTokens.length == 0) {
            throw new IllegalArgumentException(context + ": the prompt must have at least one token");
        }
    }

    private static void checkLength(long seqId, String name, int value) {
        checkLength("sequence " + seqId, name, value);
    }

    private static void checkLength(String context, String name, int value) {
        if (value < 0) {
            throw new IllegalArgumentException(context + ": " + name + " must be >= 0, got " + value);
        }
    }
}
