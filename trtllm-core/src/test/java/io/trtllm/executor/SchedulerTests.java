package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.testing.Gen;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The scheduler alone, with no model runner (vLLM's {@code tests/v1/core/test_scheduler.py} is the model):
 * requests go in, {@link Scheduler#schedule} says what runs, and {@link #step} stands in for the pass and
 * the executor's postprocess — each chunk committed, a token appended to each sequence that samples, a
 * sequence that reaches max_tokens removed. Admission order, the budgets (max_batch_size,
 * max_num_tokens, KV blocks), chunked prefill, both capacity policies, prefix-cache hits, the prompt
 * recompute that prompt logprobs ask for, and the blocks after finish and abort.
 */
class SchedulerTests {
    private static final int BLOCK_SIZE = 4;
    private static final int MAX_SEQ_LEN = 1 << 20;
    /** The token every pass "samples": no sequence has end tokens, so only max_tokens ends one. */
    private static final int NEXT_TOKEN = 1;
    private static final SamplingConfig GREEDY = SamplingConfig.builder().temperature(0).build();
    private static final GenerationListener NO_LISTENER = new GenerationListener() {
        @Override
        public void onToken(SampledToken token, @Nullable FinishReason finish) {
        }

        @Override
        public void onFinish(FinishReason reason, RequestStats stats) {
        }

        @Override
        public void onFailure(Throwable error) {
        }
    };

    private KvCacheManager kv;
    private Scheduler scheduler;
    private long ids;
    private final List<Sequence> finished = new ArrayList<>();

    private void scheduler(SchedulerPolicy policy, int maxBatchSize, int maxNumTokens, boolean chunked, int blocks,
                           boolean reuse) {
        kv = new KvCacheManager(blocks, BLOCK_SIZE, reuse);
        scheduler = new Scheduler(new SchedulerConfig(policy, maxBatchSize, maxNumTokens, chunked), kv);
    }

    /** A request whose prompt is {@code promptLength} tokens of its own (no prefix shared with another). */
    private Sequence add(String id, int promptLength, int maxTokens) {
        int base = 100 * (int) (ids + 1);
        return add(id, IntStream.range(0, promptLength).map(i -> base + i).toArray(), maxTokens, -1);
    }

    private Sequence add(String id, int[] prompt, int maxTokens, int promptLogprobs) {
        var s = new Sequence(++ids, new GenerationRequest(id, prompt, maxTokens, GREEDY, 0, promptLogprobs), NO_LISTENER);
        scheduler.add(s);
        return s;
    }

    /**
     * One iteration without a model: the scheduler's chunks, each committed as the executor does after the
     * pass; every sequence that samples takes {@link #NEXT_TOKEN}, and one that ends is removed.
     */
    private List<ScheduledChunk> step() {
        List<ScheduledChunk> chunks = scheduler.schedule();
        assertThat(scheduler.takeFailures()).isEmpty();
        for (ScheduledChunk c : chunks) {
            scheduler.computed(c);
            Sequence s = c.sequence();
            if (c.sample()) {
                s.append(NEXT_TOKEN);
                if (s.finishReason(NEXT_TOKEN, MAX_SEQ_LEN) != null) {
                    scheduler.remove(s);
                    finished.add(s);
                }
            }
        }
        return chunks;
    }

    /** A chunk as {@code id@start+length}, with {@code *} when a token is sampled after it. */
    private static List<String> show(List<ScheduledChunk> chunks) {
        return chunks.stream().map(c -> c.sequence().request.requestId() + "@" + c.start() + "+" + c.length()
                + (c.sample() ? "*" : "")).toList();
    }

    private List<String> waitingIds() {
        return scheduler.all().stream().filter(s -> s.status == Sequence.Status.WAITING).map(s -> s.request.requestId())
                .toList();
    }

    @Test
    void requestsAreAdmittedInArrivalOrderUpToMaxBatchSize() {
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 2, 100, true, 64, false);
        add("a", 5, 3);
        add("b", 5, 3);
        add("c", 5, 3);
        assertThat(scheduler.waitingCount()).isEqualTo(3);

        assertThat(show(step())).containsExactly("a@0+5*", "b@0+5*");
        assertThat(scheduler.runningCount()).isEqualTo(2);
        assertThat(waitingIds()).containsExactly("c");
        // Whole length reserved: 5 + 3 positions = 2 blocks each.
        assertThat(kv.usedBlocks()).isEqualTo(4);

        assertThat(show(step())).containsExactly("a@5+1*", "b@5+1*");
        assertThat(show(step())).containsExactly("a@6+1*", "b@6+1*");
        assertThat(finished).extracting(s -> s.request.requestId()).containsExactly("a", "b");
        assertThat(kv.usedBlocks()).isZero();

        assertThat(show(step())).containsExactly("c@0+5*");
        assertThat(scheduler.waitingCount()).isZero();
    }

    @Test
    void maxNumTokensBoundsAPassAndAPromptBeyondItIsChunked() {
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 10, true, 64, false);
        var a = add("a", 6, 2);
        var b = add("b", 8, 2);

        assertThat(show(step())).containsExactly("a@0+6*", "b@0+4");
        assertThat(b.computed).isEqualTo(4);
        assertThat(b.generated()).isZero();
        // Running sequences first: a's decode, then the rest of b's prompt, which then samples.
        assertThat(show(step())).containsExactly("a@6+1*", "b@4+4*");
        assertThat(a.generated()).isEqualTo(2);
        assertThat(show(step())).containsExactly("b@8+1*");
        assertThat(finished).containsExactly(a, b);
        assertThat(scheduler.hasWork()).isFalse();
    }

    @Test
    void withoutChunkedPrefillAPromptWaitsForAPassThatHoldsItWhole() {
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 10, false, 64, false);
        add("a", 6, 2);
        var b = add("b", 8, 2);

        assertThat(show(step())).containsExactly("a@0+6*");
        assertThat(waitingIds()).containsExactly("b");
        assertThat(kv.contains(b.id)).as("no blocks held while it waits").isFalse();
        assertThat(show(step())).containsExactly("a@6+1*", "b@0+8*");
        assertThat(show(step())).containsExactly("b@8+1*");
    }

    @Test
    void admissionNeverSkipsTheHeadOfTheQueue() {
        // 4 blocks of 4: a reserves 3, b would need 4, c only 1 — but c waits behind b.
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 100, true, 4, false);
        add("a", 8, 4);
        add("b", 8, 8);
        add("c", 2, 2);

        assertThat(show(step())).containsExactly("a@0+8*");
        assertThat(kv.usedBlocks()).isEqualTo(3);
        for (int i = 0; i < 3; i++) {
            assertThat(show(step())).containsExactly("a@" + (8 + i) + "+1*");
            assertThat(waitingIds()).containsExactly("b", "c");
        }
        assertThat(show(step())).containsExactly("b@0+8*");
        assertThat(waitingIds()).containsExactly("c");
    }

    @Test
    void guaranteedNoEvictReservesTheWholeLengthAndNeverPreempts() {
        // 4 blocks of 4: each request needs 4 + 8 positions = 3 blocks, so the second waits for the first.
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 100, true, 4, false);
        var a = add("a", 4, 8);
        var b = add("b", 4, 8);
        while (!finished.contains(a)) {
            int at = a.computed;
            assertThat(show(step())).containsExactly("a@" + at + "+" + (at == 0 ? 4 : 1) + "*");
            assertThat(waitingIds()).containsExactly("b");
            assertThat(a.preemptions).isZero();
        }
        assertThat(show(step())).containsExactly("b@0+4*");
        while (scheduler.hasWork()) {
            step();
        }
        assertThat(finished).containsExactly(a, b);
        assertThat(List.of(a.preemptions, b.preemptions)).containsOnly(0);
        assertThat(kv.usedBlocks()).isZero();
    }

    @Test
    void maxUtilizationPreemptsTheNewestAndPutsItBackAtTheFrontOfTheQueue() {
        // 4 blocks of 4: three 4-token prompts take one block each; growing to 5 positions takes a second.
        scheduler(SchedulerPolicy.MAX_UTILIZATION, 8, 100, true, 4, false);
        var a = add("a", 4, 8);
        var b = add("b", 4, 8);
        var c = add("c", 4, 8);
        assertThat(show(step())).containsExactly("a@0+4*", "b@0+4*", "c@0+4*");
        assertThat(kv.usedBlocks()).isEqualTo(3);

        // a takes the last free block; b needs one more: c, the newest, is preempted and freed.
        assertThat(show(step())).containsExactly("a@4+1*", "b@4+1*");
        assertThat(c.preemptions).isEqualTo(1);
        assertThat(c.status).isEqualTo(Sequence.Status.WAITING);
        assertThat(c.computed).isZero();
        assertThat(kv.contains(c.id)).isFalse();
        assertThat(c.generated()).as("its token stays; only its KV is dropped").isEqualTo(1);
        add("d", 4, 8);
        assertThat(waitingIds()).as("back at the front, before later arrivals").containsExactly("c", "d");

        // When it runs again it recomputes its prompt and the token it generated, in one chunk.
        ScheduledChunk again = null;
        while (again == null) {
            again = step().stream().filter(ch -> ch.sequence() == c).findFirst().orElse(null);
        }
        assertThat(again.start()).isZero();
        assertThat(again.length()).isEqualTo(5);
        assertThat(again.sample()).isTrue();
        while (scheduler.hasWork()) {
            step();
        }
        assertThat(finished).extracting(s -> s.generated()).containsOnly(8);
        assertThat(a.preemptions).as("the oldest always goes on").isZero();
        assertThat(kv.usedBlocks()).isZero();
    }

    @Test
    void aPrefixInTheCacheIsNotComputedAgainButAtLeastOneTokenIs() {
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 100, true, 16, true);
        int[] first = IntStream.rangeClosed(1, 10).toArray();
        add("a", first, 1, -1);
        assertThat(show(step())).containsExactly("a@0+10*");
        assertThat(kv.usedBlocks()).as("finished: its full blocks stay cached, unreferenced").isZero();

        // Two full blocks (8 tokens) in common with a.
        var b = add("b", new int[] {1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22}, 1, -1);
        assertThat(show(step())).containsExactly("b@8+3*");
        assertThat(b.cachedPrefix).isEqualTo(8);
        assertThat(kv.stats().reuseHitTokens()).isEqualTo(8);

        // A prompt that is all cached still computes its last block, whose last row gives the logits.
        var c = add("c", new int[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, -1);
        assertThat(show(step())).containsExactly("c@4+4*");
        assertThat(c.cachedPrefix).isEqualTo(4);
    }

    @Test
    void promptLogprobsRecomputeTheCachedPrefix() {
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 100, true, 16, true);
        int[] prompt = IntStream.rangeClosed(1, 10).toArray();
        add("a", prompt, 1, -1);
        step();
        var b = add("b", prompt, 1, 0);
        List<ScheduledChunk> chunks = step();
        assertThat(show(chunks)).as("every prompt position's logits are needed").containsExactly("b@0+10*");
        assertThat(b.cachedPrefix).isZero();
        assertThat(chunks.getFirst().hasPromptLogprobRows()).isTrue();

        assertThat(new ScheduledChunk(b, 10, 1, true).hasPromptLogprobRows()).as("a decode has no prompt rows").isFalse();

        // A sequence that comes back with tokens generated (it was preempted) had its prompt's logprobs
        // reported already: it keeps the cached prefix.
        var c = new Sequence(++ids, new GenerationRequest("c", prompt, 4, GREEDY, 0, 0), NO_LISTENER);
        c.append(NEXT_TOKEN);
        c.promptLogprobsReported = prompt.length;
        scheduler.add(c);
        assertThat(show(step())).containsExactly("c@8+3*");
        assertThat(c.cachedPrefix).isEqualTo(8);
    }

    @Test
    void finishedAndAbortedSequencesGiveBackEveryBlockOnce() {
        // 6 blocks of 4: a and b reserve 3 each (5 + 4 positions), c waits.
        scheduler(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 100, true, 6, false);
        var a = add("a", 5, 4);
        var b = add("b", 5, 4);
        var c = add("c", 5, 4);
        step();
        assertThat(kv.usedBlocks()).isEqualTo(6);
        assertThat(waitingIds()).containsExactly("c");

        scheduler.remove(c); // aborted while waiting: it held no blocks
        assertThat(c.status).isEqualTo(Sequence.Status.FINISHED);
        assertThat(kv.usedBlocks()).isEqualTo(6);
        scheduler.remove(b); // aborted while running
        assertThat(kv.usedBlocks()).isEqualTo(3);
        assertThat(kv.contains(b.id)).isFalse();
        scheduler.remove(b); // a second end of it changes nothing
        assertThat(kv.usedBlocks()).isEqualTo(3);
        while (scheduler.hasWork()) {
            step();
        }
        assertThat(finished).containsExactly(a);
        assertThat(kv.usedBlocks()).isZero();
        assertThat(kv.freeBlocks()).isEqualTo(6);
        assertThat(scheduler.all()).isEmpty();
        assertThat(scheduler.runningCount()).isZero();
    }

    @Test
    void anEndTokenStopsASequenceAndMaxTokensOrMaxSeqLenEndItByLength() {
        var config = SamplingConfig.builder().endTokenIds(7, 9).build();
        var s = new Sequence(1, new GenerationRequest("s", new int[] {1, 2, 3}, 3, config), NO_LISTENER);
        s.append(4);
        assertThat(s.finishReason(4, 100)).isNull();
        assertThat(s.finishReason(9, 100)).isEqualTo(FinishReason.STOP);
        assertThat(s.finishReason(4, 4)).as("max_seq_len").isEqualTo(FinishReason.LENGTH);
        s.append(4);
        s.append(4);
        assertThat(s.finishReason(4, 100)).as("max_tokens").isEqualTo(FinishReason.LENGTH);
        assertThat(s.finishReason(7, 100)).as("an end token is a stop, even as the last allowed").isEqualTo(FinishReason.STOP);
    }

    static Stream<Long> seeds() {
        return Gen.seeds("scheduler workloads", 60);
    }

    /**
     * Random workloads (both policies, chunked prefill on and off, random budgets, prompts sharing
     * prefixes, aborts at any time): every pass keeps the budgets, each chunk continues where its sequence
     * stopped, a sampled chunk ends its sequence's known tokens, no-evict never preempts, every request
     * ends, and every block comes back.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void anyWorkloadKeepsTheBudgetsAndGivesBackEveryBlock(long seed) {
        var gen = new Gen(seed);
        SchedulerPolicy policy = gen.oneOf(SchedulerPolicy.values());
        boolean chunked = gen.bool();
        int blocks = gen.intBetween(4, 24);
        int maxBatchSize = gen.intBetween(1, 6);
        int maxLength = blocks * BLOCK_SIZE; // one sequence always fits the cache alone
        int maxNumTokens = chunked ? gen.intBetween(1, 40) : gen.intBetween(maxLength, maxLength + 8);
        scheduler(policy, maxBatchSize, maxNumTokens, chunked, blocks, gen.bool());
        int requests = gen.intBetween(1, 12);
        List<Sequence> all = new ArrayList<>();
        Set<Sequence> aborted = new HashSet<>();
        for (int step = 0; step < 5_000 && (all.size() < requests || scheduler.hasWork()); step++) {
            if (all.size() < requests && gen.chance(0.4)) {
                int promptLength = gen.intBetween(1, maxLength - 1);
                int[] prompt = IntStream.range(0, promptLength).map(i -> gen.chance(0.8) ? i % 5 : gen.intBetween(0, 50)).toArray();
                all.add(add("r" + all.size(), prompt, gen.intBetween(1, maxLength - promptLength), gen.chance(0.2) ? 0 : -1));
            }
            if (gen.chance(0.05) && !scheduler.all().isEmpty()) {
                Sequence victim = gen.oneOf(scheduler.all());
                scheduler.remove(victim);
                aborted.add(victim);
            }
            List<Integer> computedBefore = all.stream().map(s -> s.computed).toList();
            List<ScheduledChunk> chunks = step();
            assertThat(chunks.size()).isLessThanOrEqualTo(maxBatchSize);
            assertThat(chunks.stream().mapToInt(ScheduledChunk::length).sum()).isLessThanOrEqualTo(maxNumTokens);
            assertThat(chunks.stream().map(ScheduledChunk::sequence).distinct()).hasSize(chunks.size());
            for (ScheduledChunk c : chunks) {
                Sequence s = c.sequence();
                int before = computedBefore.get(all.indexOf(s));
                assertThat(c.length()).isPositive();
                assertThat(c.start()).as("continues where it stopped, or a recompute or cached prefix")
                        .isIn(before, s.cachedPrefix);
                int known = s.length() - (c.sample() ? 1 : 0); // the token appended after it
                assertThat(c.start() + c.length() == known).isEqualTo(c.sample());
                assertThat(c.start() + c.length()).isLessThanOrEqualTo(known);
            }
            int held = (int) all.stream().filter(s -> kv.contains(s.id)).count();
            assertThat(held).isEqualTo(scheduler.runningCount());
            if (policy == SchedulerPolicy.GUARANTEED_NO_EVICT) {
                assertThat(all).allMatch(s -> s.preemptions == 0);
            }
        }
        assertThat(scheduler.hasWork()).as("every request ends").isFalse();
        for (Sequence s : all) {
            assertThat(s.status).isEqualTo(Sequence.Status.FINISHED);
            if (!aborted.contains(s)) {
                assertThat(s.generated()).isEqualTo(s.request.maxTokens());
            }
        }
        assertThat(kv.usedBlocks()).isZero();
    }
}
