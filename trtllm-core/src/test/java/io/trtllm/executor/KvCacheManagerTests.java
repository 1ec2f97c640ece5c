package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class KvCacheManagerTests {

    @Test
    void allocateAppendAndFreeKeepTheCounts() {
        var kv = new KvCacheManager(10, 4, false);

        assertThat(kv.allocate(1, tokens(1, 2, 3, 4, 5, 6), 6)).isZero();
        assertThat(kv.blockTable(1)).hasSize(2).doesNotHaveDuplicates();
        assertThat(kv.usedBlocks()).isEqualTo(2);
        assertThat(kv.freeBlocks()).isEqualTo(8);

        kv.append(1, 8);
        assertThat(kv.blockTable(1)).hasSize(2);
        kv.append(1, 9);
        assertThat(kv.blockTable(1)).hasSize(3);
        kv.append(1, 5);
        assertThat(kv.blockTable(1)).hasSize(3);

        kv.allocate(2, tokens(7), 1);
        assertThat(kv.usedBlocks()).isEqualTo(4);
        assertThat(kv.blockTable(2)).doesNotContain(kv.blockTable(1));

        kv.free(1);
        kv.free(2);
        assertThat(kv.stats()).isEqualTo(new KvCacheManager.Stats(10, 0, 10, 0, 0, 0, 0));
        assertThat(kv.contains(1)).isFalse();
    }

    @Test
    void sharedPrefixReusesTheSameFullBlocks() {
        var kv = new KvCacheManager(10, 4, true);
        int[] first = IntStream.range(0, 10).toArray();
        kv.allocate(1, first, first.length);
        kv.commit(1, first, first.length);
        int[] firstTable = kv.blockTable(1);

        int[] second = IntStream.range(0, 14).map(i -> i < 8 ? i : 100 + i).toArray();
        assertThat(kv.cachedPrefixLength(second)).isEqualTo(8);
        assertThat(kv.allocate(2, second, second.length)).isEqualTo(8);

        int[] secondTable = kv.blockTable(2);
        assertThat(secondTable).hasSize(4).startsWith(firstTable[0], firstTable[1]);
        assertThat(secondTable[2]).isNotEqualTo(firstTable[2]);
        assertThat(kv.refCount(firstTable[0])).isEqualTo(2);
        assertThat(kv.refCount(firstTable[2])).isEqualTo(1);
        assertThat(kv.usedBlocks()).isEqualTo(3 + 2);
        assertThat(kv.stats().reuseHitBlocks()).isEqualTo(2);
        assertThat(kv.stats().reuseHitTokens()).isEqualTo(8);
        // vLLM's prefix_cache_queries: every allocated prompt's tokens were looked up.
        assertThat(kv.stats().reuseQueryTokens()).isEqualTo(first.length + second.length);
    }

    @Test
    void withoutBlockReuseNothingIsLookedUp() {
        var kv = new KvCacheManager(10, 4, false);
        int[] prompt = IntStream.range(0, 10).toArray();
        kv.allocate(1, prompt, prompt.length);
        kv.commit(1, prompt, prompt.length);
        kv.allocate(2, prompt, prompt.length);
        assertThat(kv.stats().reuseQueryTokens()).isZero();
        assertThat(kv.stats().reuseHitTokens()).isZero();
    }

    @Test
    void onlyFullComputedBlocksAreReusedAndOneTokenIsAlwaysLeftToCompute() {
        var kv = new KvCacheManager(10, 4, true);
        int[] prompt = IntStream.range(0, 10).toArray();
        kv.allocate(1, prompt, prompt.length);

        kv.commit(1, prompt, 7);    // one full block computed
        assertThat(kv.cachedPrefixLength(prompt)).isEqualTo(4);
        kv.commit(1, prompt, 10);   // two full blocks; positions 8..9 only partly fill the third
        assertThat(kv.cachedPrefixLength(prompt)).isEqualTo(8);

        // The whole 8-token prompt is cached, but its last token must run to produce logits.
        assertThat(kv.cachedPrefixLength(Arrays.copyOf(prompt, 8))).isEqualTo(4);
        assertThat(kv.cachedPrefixLength(Arrays.copyOf(prompt, 9))).isEqualTo(8);
    }

    @Test
    void equalBlockContentsAfterDifferentPrefixesDoNotMatch() {
        var kv = new KvCacheManager(20, 2, true);
        int[] ab = tokens(1, 1, 5, 5, 0);
        int[] cb = tokens(2, 2, 5, 5, 0);
        kv.allocate(1, ab, 4);
        kv.commit(1, ab, 4);
        kv.allocate(2, cb, 4);
        kv.commit(2, cb, 4);

        assertThat(kv.allocate(3, ab, 5)).isEqualTo(4);
        assertThat(kv.allocate(4, cb, 5)).isEqualTo(4);
        assertThat(kv.blockTable(3)).startsWith(kv.blockTable(1)[0], kv.blockTable(1)[1]);
        assertThat(kv.blockTable(4)).startsWith(kv.blockTable(2)[0], kv.blockTable(2)[1]);
        assertThat(kv.blockTable(1)[1]).isNotEqualTo(kv.blockTable(2)[1]);
        assertThat(kv.cachedPrefixLength(tokens(3, 3, 5, 5, 0))).isZero();
    }

    @Test
    void collidingKeysNeverMatchTheWrongPrefix() {
        // Keys from the first token only: every [x, ...] block collides whatever its parent or rest.
        var kv = new KvCacheManager(20, 2, true, (parentKey, tokens, from, blockSize) -> tokens[from]);
        int[] first = tokens(1, 1, 5, 5, 0);
        kv.allocate(1, first, 4);
        kv.commit(1, first, 4);

        assertThat(kv.cachedPrefixLength(first)).isEqualTo(4);
        assertThat(kv.cachedPrefixLength(tokens(1, 2, 5, 5, 0))).as("same key, other tokens").isZero();
        int[] second = tokens(2, 2, 5, 5, 0);
        kv.allocate(2, second, 4);
        kv.commit(2, second, 4);
        assertThat(kv.cachedPrefixLength(second)).as("same key and tokens, other parent").isEqualTo(2);

        // A block whose key collided is not registered, nor is anything after it.
        int[] third = tokens(1, 2, 6, 6, 0);
        kv.allocate(3, third, 4);
        kv.commit(3, third, 4);
        assertThat(kv.cachedPrefixLength(tokens(1, 1, 6, 6, 0))).isEqualTo(2);
        assertThat(kv.cachedPrefixLength(third)).isZero();
    }

    @Test
    void aParentEvictedAndRefilledNoLongerVouchesForItsChild() {
        int[] first = tokens(1, 1, 5, 5, 0);
        int[] other = tokens(1, 2, 5, 5, 0);       // [1,2] collides with [1,1]
        int[] parentOnly = tokens(1, 1, 0);

        // Registered child, then its parent evicted and refilled under the same key.
        var kv = new KvCacheManager(3, 2, true, (parentKey, tokens, from, blockSize) -> tokens[from]);
        kv.allocate(1, parentOnly, 2);
        kv.allocate(2, first, 4);                  // before 1 commits: no hit, computes its own [1,1]
        kv.commit(1, parentOnly, 2);               // P = [1,1]
        kv.commit(2, first, 4);                    // its [1,1] is P's twin; C = [5,5] after P
        int parent = kv.blockTable(1)[0];
        kv.free(1);
        kv.allocate(3, other, 2);                  // evicts P, the only free block
        kv.commit(3, other, 2);                    // P's block now holds [1,2] under key 1
        assertThat(kv.blockTable(3)).containsExactly(parent);
        assertThat(kv.cachedPrefixLength(other)).isEqualTo(2);
        assertThat(kv.cachedPrefixLength(first)).isZero();

        // The same, with the parent evicted before the child is registered.
        var late = new KvCacheManager(3, 2, true, (parentKey, tokens, from, blockSize) -> tokens[from]);
        late.allocate(1, parentOnly, 2);
        late.allocate(2, first, 4);
        late.commit(1, parentOnly, 2);
        late.commit(2, first, 2);                  // chains to the twin P
        late.free(1);
        late.allocate(3, other, 2);                // evicts P
        late.commit(3, other, 2);
        late.commit(2, first, 4);                  // [5,5] must not register after P's new content
        assertThat(late.cachedPrefixLength(other)).isEqualTo(2);
        assertThat(late.cachedPrefixLength(first)).isZero();
    }

    @Test
    void evictsLeastRecentlyReleasedAndNeverAReferencedBlock() {
        var kv = new KvCacheManager(4, 2, true);
        int[] p1 = tokens(1, 1, 0);
        int[] p2 = tokens(2, 2, 0);
        int[] p3 = tokens(3, 3, 0);
        int b1 = cacheOneBlock(kv, 1, p1);
        int b2 = cacheOneBlock(kv, 2, p2);
        int b3 = cacheOneBlock(kv, 3, p3);
        assertThat(kv.stats()).isEqualTo(new KvCacheManager.Stats(4, 0, 4, 3, 0, 0, 9)); // 3 prompts of 3 looked up

        // A hit takes b1 off the LRU list; b2 is now the least recently released.
        assertThat(kv.allocate(4, p1, 2)).isEqualTo(2);
        assertThat(kv.blockTable(4)).containsExactly(b1);

        kv.allocate(5, tokens(9, 9, 9, 9, 0), 4);   // the empty block, then evicts b2
        assertThat(kv.blockTable(5)).contains(b2).doesNotContain(b1);
        assertThat(kv.cachedPrefixLength(p2)).isZero();
        assertThat(kv.cachedPrefixLength(p3)).isEqualTo(2);

        kv.allocate(6, tokens(8, 8, 0), 2);         // evicts b3
        assertThat(kv.blockTable(6)).containsExactly(b3);
        assertThat(kv.cachedPrefixLength(p1)).isEqualTo(2);
        assertThat(kv.freeBlocks()).isZero();
        assertThat(kv.canAllocate(tokens(7, 7, 0), 2)).isFalse();
        assertThatThrownBy(() -> kv.allocate(7, tokens(7, 7, 0), 2)).isInstanceOf(IllegalStateException.class);
        assertThat(kv.refCount(b1)).isEqualTo(1);

        // A released sequence's tail goes first: its head alone is still a usable prefix.
        var two = new KvCacheManager(2, 2, true);
        int[] prompt = tokens(1, 1, 2, 2, 0);
        two.allocate(1, prompt, 4);
        two.commit(1, prompt, 4);
        two.free(1);
        two.allocate(2, tokens(9, 9, 0), 2);
        assertThat(two.cachedPrefixLength(prompt)).isEqualTo(2);
    }

    @Test
    void failedAllocationChangesNothing() {
        var kv = new KvCacheManager(2, 2, true);
        int[] prompt = tokens(1, 1, 2, 2, 3, 3);
        int cached = cacheOneBlock(kv, 1, prompt);
        var before = kv.stats();

        // Two blocks are free, but one is the hit itself: covering 6 positions needs 3.
        assertThat(kv.canAllocate(prompt, 6)).isFalse();
        assertThatThrownBy(() -> kv.allocate(2, prompt, 6))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("sequence 2");

        assertThat(kv.stats()).isEqualTo(before);
        assertThat(kv.contains(2)).isFalse();
        assertThat(kv.refCount(cached)).isZero();
        assertThat(kv.allocate(2, prompt, 4)).isEqualTo(2);
        assertThat(kv.blockTable(2)).startsWith(cached);

        assertThat(kv.canAppend(2, 5)).isFalse();
        var held = kv.stats();
        assertThatThrownBy(() -> kv.append(2, 5))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("sequence 2").hasMessageContaining("canAppend");
        assertThat(kv.stats()).isEqualTo(held);
        assertThat(kv.blockTable(2)).hasSize(2);
    }

    @Test
    void withoutReuseNothingIsShared() {
        var kv = new KvCacheManager(10, 2, false);
        int[] prompt = tokens(1, 2, 3, 4, 5);
        kv.allocate(1, prompt, 5);
        kv.commit(1, prompt, 5);
        kv.free(1);
        assertThat(kv.stats().cachedBlocks()).isZero();

        kv.allocate(2, prompt, 5);
        kv.commit(2, prompt, 5);
        assertThat(kv.cachedPrefixLength(prompt)).isZero();
        assertThat(kv.allocate(3, prompt, 5)).isZero();
        assertThat(kv.blockTable(3)).doesNotContain(kv.blockTable(2));
        assertThat(kv.stats().reuseHitBlocks()).isZero();
    }

    @Test
    void misuseFailsClearly() {
        assertThatThrownBy(() -> new KvCacheManager(-1, 4, true)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new KvCacheManager(4, 0, true)).isInstanceOf(IllegalArgumentException.class);

        var kv = new KvCacheManager(4, 2, true);
        for (Runnable call : List.<Runnable>of(() -> kv.blockTable(7), () -> kv.append(7, 1),
                () -> kv.commit(7, tokens(1), 1), () -> kv.free(7), () -> kv.canAppend(7, 1))) {
            assertThatThrownBy(call::run).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("unknown sequence 7");
        }
        assertThatThrownBy(() -> kv.allocate(1, new int[0], 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> kv.allocate(1, tokens(1), -1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-1");

        kv.allocate(1, tokens(1, 2, 3), 3);
        assertThatThrownBy(() -> kv.allocate(1, tokens(1), 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("sequence 1");
        assertThatThrownBy(() -> kv.append(1, -2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> kv.commit(1, tokens(1, 2, 3), 4)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4");
        kv.free(1);
        assertThatThrownBy(() -> kv.free(1)).isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * Drives the manager the way a scheduler does: admissions (with chunked prefill), forward passes
     * that write and commit, decodes, preemption on pressure, finishes. A simulated KV memory holds,
     * for each written position, a fingerprint of the whole prefix up to it: every live sequence must
     * read back its own prefix at every computed position after every step, which catches a wrong hit,
     * a block handed out while referenced, and a shared block being overwritten.
     */
    @ParameterizedTest
    @CsvSource({"true, false", "true, true", "false, false"})
    void randomOperationsKeepTheBookkeepingExact(boolean reuse, boolean weakKeys) {
        int numBlocks = 48;
        int blockSize = 4;
        // Weak keys (8 values) make collisions of keys, parents and contents routine.
        var kv = weakKeys
                ? new KvCacheManager(numBlocks, blockSize, reuse,
                        (parentKey, tokens, from, size) -> (parentKey * 3 + tokens[from]) & 7)
                : new KvCacheManager(numBlocks, blockSize, reuse);
        var random = new SplittableRandom(42);
        long[][] memory = new long[numBlocks][blockSize];
        Map<Long, Seq> live = new HashMap<>();
        int[][] systemPrompts = {randomTokens(random, 12), randomTokens(random, 9), randomTokens(random, 0)};
        int refused = 0;
        long nextId = 0;

        for (int step = 0; step < 10_000; step++) {
            int op = random.nextInt(10);
            if (op < 3 || live.isEmpty()) {
                // Admit: a shared system prompt and a tail from a 3-token vocabulary, so equal block
                // contents behind different prefixes are common.
                int[] system = systemPrompts[random.nextInt(systemPrompts.length)];
                int[] prompt = concat(system, randomTokens(random, 1 + random.nextInt(12)));
                int cached = kv.cachedPrefixLength(prompt);
                int cover = cached + 1 + random.nextInt(prompt.length - cached);
                long id = nextId++;
                if (kv.canAllocate(prompt, cover)) {
                    assertThat(kv.allocate(id, prompt, cover)).isEqualTo(cached);
                    var seq = new Seq(prompt, cached, cover);
                    live.put(id, seq);
                    assertReadsBack(kv, memory, id, seq);
                } else {
                    refused++;
                    var before = kv.stats();
                    assertThatThrownBy(() -> kv.allocate(id, prompt, cover)).isInstanceOf(IllegalStateException.class);
                    assertThat(kv.stats()).isEqualTo(before);
                    assertThat(kv.contains(id)).isFalse();
                }
            } else if (op < 9) {
                // Forward pass: write positions [computed, covered), sample when all are written, commit;
                // then grow to the next chunk (or the next decode position), preempting on pressure.
                long id = pick(random, live);
                Seq seq = live.get(id);
                int[] table = kv.blockTable(id);
                for (int p = seq.computed; p < seq.covered; p++) {
                    memory[table[p / blockSize]][p % blockSize] = seq.fingerprint(p);
                }
                seq.computed = seq.covered;
                if (seq.computed == seq.size()) {
                    seq.add(random.nextInt(3));
                }
                kv.commit(id, seq.tokenArray(), seq.computed);
                int next = Math.min(seq.size(), seq.computed + 1 + random.nextInt(2 * blockSize));
                if (kv.canAppend(id, next)) {
                    kv.append(id, next);
                    seq.covered = next;
                } else {
                    kv.free(id);
                    live.remove(id);
                }
            } else {
                long id = pick(random, live);
                kv.free(id);
                live.remove(id);
            }
            assertInvariants(kv, memory, live);
        }

        assertThat(refused).as("capacity pressure was exercised").isPositive();
        assertThat(kv.stats().reuseHitBlocks() > 0).isEqualTo(reuse);
        for (long id : List.copyOf(live.keySet())) {
            kv.free(id);
        }
        assertThat(kv.usedBlocks()).isZero();
        assertThat(kv.freeBlocks()).isEqualTo(numBlocks);
        IntStream.range(0, numBlocks).forEach(b -> assertThat(kv.refCount(b)).isZero());
    }

    private static void assertInvariants(KvCacheManager kv, long[][] memory, Map<Long, Seq> live) {
        int[] references = new int[kv.numBlocks()];
        for (var entry : live.entrySet()) {
            Seq seq = entry.getValue();
            int[] table = kv.blockTable(entry.getKey());
            assertThat(table).hasSize(Math.ceilDiv(seq.covered, kv.blockSize())).doesNotHaveDuplicates();
            for (int id : table) {
                references[id]++;
            }
            assertReadsBack(kv, memory, entry.getKey(), seq);
        }
        int used = 0;
        for (int b = 0; b < references.length; b++) {
            assertThat(kv.refCount(b)).as("ref count of block %d", b).isEqualTo(references[b]);
            used += references[b] > 0 ? 1 : 0;
        }
        // A block in two tables is full and already computed in each: nobody writes to it again.
        for (var entry : live.entrySet()) {
            int[] table = kv.blockTable(entry.getKey());
            for (int i = entry.getValue().computed / kv.blockSize(); i < table.length; i++) {
                assertThat(references[table[i]]).as("block %d of sequence %d", i, entry.getKey()).isEqualTo(1);
            }
        }
        var stats = kv.stats();
        assertThat(stats.usedBlocks()).isEqualTo(used).isEqualTo(kv.usedBlocks());
        assertThat(stats.usedBlocks() + stats.freeBlocks()).isEqualTo(kv.numBlocks());
        assertThat(stats.cachedBlocks()).isBetween(0, stats.freeBlocks());
    }

    /** Every computed position of the sequence holds the KV of its own prefix. */
    private static void assertReadsBack(KvCacheManager kv, long[][] memory, long id, Seq seq) {
        int[] table = kv.blockTable(id);
        for (int p = 0; p < seq.computed; p++) {
            assertThat(memory[table[p / kv.blockSize()]][p % kv.blockSize()])
                    .as("sequence %d position %d", id, p).isEqualTo(seq.fingerprint(p));
        }
    }

    /** A sequence as the test's scheduler sees it. */
    private static final class Seq {
        final List<Integer> tokens = new ArrayList<>();
        /**
         * Per position, a stand-in for its keys and values, which depend on every token up to it:
         * a hash of the prefix ending there.
         */
        final List<Long> fingerprints = new ArrayList<>();
        int computed;
        int covered;

        Seq(int[] prompt, int computed, int covered) {
            Arrays.stream(prompt).forEach(this::add);
            this.computed = computed;
            this.covered = covered;
        }

        void add(int token) {
            long previous = fingerprints.isEmpty() ? 1 : fingerprints.getLast();
            tokens.add(token);
            fingerprints.add(previous * 0x9E3779B97F4A7C15L + token + 1);
        }

        int size() {
            return tokens.size();
        }

        long fingerprint(int position) {
            return fingerprints.get(position);
        }

        int[] tokenArray() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /** Allocates a one-block sequence, commits its first block, frees it: leaves one cached block. */
    private static int cacheOneBlock(KvCacheManager kv, long id, int[] prompt) {
        kv.allocate(id, prompt, kv.blockSize());
        kv.commit(id, prompt, kv.blockSize());
        int block = kv.blockTable(id)[0];
        kv.free(id);
        return block;
    }

    private static long pick(SplittableRandom random, Map<Long, Seq> live) {
        return live.keySet().stream().sorted().skip(random.nextInt(live.size())).findFirst().orElseThrow();
    }

    private static int[] randomTokens(SplittableRandom random, int n) {
        return random.ints(n, 0, 3).toArray();
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static int[] tokens(int... tokens) {
        return tokens;
    }

    @Test
    void forkedTablesShareEveryBlockAndCopyOnWriteGivesTheWriterItsOwn() {
        var kv = new KvCacheManager(10, 4, true);
        int[] tokens = tokens(1, 2, 3, 4, 5, 6);
        kv.allocate(1, tokens, 6);
        kv.commit(1, tokens, 6);
        int[] parent = kv.blockTable(1);
        kv.fork(1, -1);
        kv.fork(1, -2);
        assertThat(kv.blockTable(-1)).containsExactly(parent);
        assertThat(kv.refCount(parent[0])).isEqualTo(3);
        assertThat(kv.refCount(parent[1])).isEqualTo(3);
        assertThat(kv.usedBlocks()).isEqualTo(2);
        assertThat(kv.isShared(-1, 6)).isTrue();
        assertThat(kv.isShared(-1, 8)).isFalse(); // past the table

        // Writing position 6 (the partial block 1, holding 4 and 5) into a shared block: a copy comes first.
        assertThat(kv.blocksToWrite(-1, 6, 7)).isEqualTo(1);
        int[] copy = kv.prepareWrite(-1, 6, 7);
        int[] child = kv.blockTable(-1);
        assertThat(copy).containsExactly(parent[1], child[1]);
        assertThat(child[0]).isEqualTo(parent[0]);
        assertThat(child[1]).isNotEqualTo(parent[1]);
        assertThat(kv.refCount(parent[1])).isEqualTo(2);
        // A new block past the table needs no copy; the shared partial block 1 still does.
        assertThat(kv.blocksToWrite(-2, 8, 9)).isEqualTo(1);
        assertThat(kv.blocksToWrite(-2, 6, 9)).isEqualTo(2);
        assertThat(kv.prepareWrite(-2, 6, 9)).containsExactly(parent[1], kv.blockTable(-2)[1]);
        assertThat(kv.blockTable(-2)).hasSize(3);
        // The last holder writes in place.
        assertThat(kv.blocksToWrite(1, 6, 7)).isZero();
        assertThat(kv.prepareWrite(1, 6, 7)).isEmpty();
        assertThat(kv.blockTable(1)).containsExactly(parent);

        kv.free(1);
        kv.free(-1);
        kv.free(-2);
        assertThat(kv.usedBlocks()).isZero();
        assertThat(kv.freeBlocks()).isEqualTo(10);
    }

    @Test
    void prepareWriteWithoutFreeBlocksChangesNothing() {
        var kv = new KvCacheManager(2, 4, false);
        kv.allocate(1, tokens(1, 2, 3, 4, 5), 5);
        kv.fork(1, 2);
        assertThat(kv.freeBlocks()).isZero();
        assertThat(kv.blocksToWrite(2, 5, 6)).isEqualTo(1);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> kv.prepareWrite(2, 5, 6))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("check blocksToWrite first");
        assertThat(kv.blockTable(2)).containsExactly(kv.blockTable(1));
        assertThat(kv.refCount(kv.blockTable(1)[1])).isEqualTo(2);
    }
}
