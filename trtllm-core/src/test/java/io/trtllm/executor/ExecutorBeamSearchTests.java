package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Beam search as one sequence group inside the executor, on the tiny random Llama-3 checkpoint (vocab 256):
 * the same beams whether shared blocks are copied or recomputed, batched or alone, preempted or not; the
 * prompt's blocks shared; every block back at the end.
 */
class ExecutorBeamSearchTests {
    static final int MAX_SEQ_LEN = 128;
    static final int BLOCK = 16;

    Checkpoint weights;
    ModelConfig config;
    final List<AutoCloseable> toClose = new ArrayList<>();

    /** What a beam listener saw: the final hypotheses, how it ended, and how many updates came before. */
    record Beams(List<BeamHypothesis> hypotheses, @Nullable FinishReason reason, @Nullable RequestStats stats, int updates,
                 @Nullable Throwable error) {
        List<List<Integer>> tokens() {
            return hypotheses.stream().map(h -> java.util.Arrays.stream(h.tokenIds()).boxed().toList()).toList();
        }
    }

    static class BeamCollector implements GenerationListener {
        final CompletableFuture<Beams> done = new CompletableFuture<>();
        List<BeamHypothesis> last = List.of();
        int updates;

        @Override
        public void onToken(SampledToken token, @Nullable FinishReason finish) {
            done.completeExceptionally(new AssertionError("a beam search got a token"));
        }

        @Override
        public void onBeams(List<BeamHypothesis> beams, boolean finished) {
            last = beams;
            if (!finished) {
                updates++;
            }
        }

        @Override
        public void onFinish(FinishReason reason, RequestStats stats) {
            done.complete(new Beams(last, reason, stats, updates, null));
        }

        @Override
        public void onFailure(Throwable error) {
            done.complete(new Beams(last, null, null, updates, error));
        }

        Beams await() throws Exception {
            return done.get(60, TimeUnit.SECONDS);
        }
    }

    /** The CPU runner, saying it cannot copy blocks: beams recompute a shared block's positions instead. */
    record NoCopies(ModelRunner delegate) implements ModelRunner {
        @Override
        public ModelConfig config() {
            return delegate.config();
        }

        @Override
        public KvCacheSpec kvCache() {
            return delegate.kvCache();
        }

        @Override
        public String backend() {
            return "cpu-no-copies";
        }

        @Override
        public ForwardResult forward(Batch batch) {
            return delegate.forward(batch);
        }

        @Override
        public void close() {
            delegate.close();
        }
    }

    @BeforeEach
    void open() throws URISyntaxException {
        Path dir = Path.of(ExecutorBeamSearchTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
        config = ModelConfig.load(dir);
        weights = Checkpoint.open(dir);
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        weights.close();
    }

    Executor executor(SchedulerConfig scheduler, int kvTokens, boolean copies) {
        ModelRunner runner = new CpuModelRunner(config, weights, new KvCacheSpec(kvTokens / BLOCK, BLOCK), 2);
        toClose.add(runner);
        if (!copies) {
            runner = new NoCopies(runner);
        }
        var executor = new Executor(runner, new Executor.Config(scheduler, 64, MAX_SEQ_LEN, true));
        toClose.add(executor);
        return executor;
    }

    Executor executor() {
        return executor(SchedulerConfig.defaults(), 16 * MAX_SEQ_LEN, true);
    }

    static GenerationRequest request(String id, int[] prompt, int maxTokens) {
        // Every third token ends a sequence here, so that hypotheses finish along the way.
        return new GenerationRequest(id, prompt, maxTokens, SamplingConfig.builder().temperature(0).endTokenIds(2).build());
    }

    static BeamSearchConfig beams(int width, int earlyStopping) {
        return new BeamSearchConfig(width, 1f, earlyStopping, null, false);
    }

    Beams search(Executor ex, String id, int[] prompt, int maxTokens, BeamSearchConfig beams) throws Exception {
        var c = new BeamCollector();
        ex.submit(request(id, prompt, maxTokens), beams, c);
        return c.await();
    }

    @Test
    void widthOneIsGreedy() throws Exception {
        var ex = executor();
        for (int seed = 0; seed < 4; seed++) {
            int[] prompt = ExecutorTests.prompt(300 + seed, 7 + 9 * seed);
            var greedy = new ExecutorTests.Collector();
            ex.submit(request("greedy-" + seed, prompt, 30), greedy);
            List<Integer> expected = greedy.await().tokens();
            Beams one = search(ex, "beam-" + seed, prompt, 30, beams(1, BeamSearchConfig.NEVER));
            assertThat(one.tokens()).containsExactly(expected);
        }
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void copiedAndRecomputedBlocksGiveTheSameBeams() throws Exception {
        var copying = executor(SchedulerConfig.defaults(), 16 * MAX_SEQ_LEN, true);
        var recomputing = executor(SchedulerConfig.defaults(), 16 * MAX_SEQ_LEN, false);
        for (int seed = 0; seed < 3; seed++) {
            int[] prompt = ExecutorTests.prompt(400 + seed, 10 + 11 * seed);
            Beams a = search(copying, "c" + seed, prompt, 40, beams(4, BeamSearchConfig.NEVER));
            Beams b = search(recomputing, "r" + seed, prompt, 40, beams(4, BeamSearchConfig.NEVER));
            assertThat(a.hypotheses()).hasSize(4);
            assertThat(a.tokens()).isEqualTo(b.tokens());
            for (int i = 0; i < 4; i++) {
                assertThat(a.hypotheses().get(i).cumulativeLogprob())
                        .isCloseTo(b.hypotheses().get(i).cumulativeLogprob(), within(1e-4));
            }
        }
        ExecutorTests.assertNoBlocksHeld(copying);
        ExecutorTests.assertNoBlocksHeld(recomputing);
    }

    @Test
    void beamsShareThePromptsBlocks() throws Exception {
        var ex = executor();
        int[] prompt = ExecutorTests.prompt(500, 70); // 4 full blocks and a partial one
        AtomicInteger maxUsed = new AtomicInteger();
        ex.onIteration(s -> maxUsed.accumulateAndGet(s.kvCache().usedBlocks(), Math::max));
        Beams out = search(ex, "shared", prompt, 20, beams(4, BeamSearchConfig.NEVER));
        assertThat(out.hypotheses()).hasSize(4);
        // Unshared, 4 beams of up to 90 positions would hold 4 × 6 blocks; shared, the 4 full prompt blocks
        // count once and each beam holds at most its last 2 blocks of its own.
        assertThat(maxUsed.get()).isLessThanOrEqualTo(4 + 4 * 2);
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void freeRequestsBatchedWithABeamGroupKeepTheirTokensAndTheGroupItsBeams() throws Exception {
        var ex = executor();
        List<int[]> prompts = ExecutorTests.prompts(6);
        List<List<Integer>> alone = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            var c = new ExecutorTests.Collector();
            ex.submit(request("alone-" + i, prompts.get(i), 24), c);
            alone.add(c.await().tokens());
        }
        int[] beamPrompt = ExecutorTests.prompt(600, 33);
        Beams beamsAlone = search(ex, "beams-alone", beamPrompt, 24, beams(3, BeamSearchConfig.NEVER));

        var group = new BeamCollector();
        ex.submit(request("beams", beamPrompt, 24), beams(3, BeamSearchConfig.NEVER), group);
        List<ExecutorTests.Collector> free = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            var c = new ExecutorTests.Collector();
            free.add(c);
            ex.submit(request("free-" + i, prompts.get(i), 24), c);
        }
        for (int i = 0; i < prompts.size(); i++) {
            assertThat(free.get(i).await().tokens()).as("request %d", i).isEqualTo(alone.get(i));
        }
        assertThat(group.await().tokens()).isEqualTo(beamsAlone.tokens());
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void aPreemptedGroupStartsOverAndFindsTheSameBeams() throws Exception {
        int[] beamPrompt = ExecutorTests.prompt(700, 20);
        Beams expected = search(executor(), "ref", beamPrompt, 60, beams(4, BeamSearchConfig.NEVER));

        // 20 blocks: the group alone needs at most 4 × 5; with greedy requests beside it, someone must give way.
        var ex = executor(new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, 16, 512, true), 20 * BLOCK, true);
        var group = new BeamCollector();
        List<ExecutorTests.Collector> free = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            var c = new ExecutorTests.Collector();
            free.add(c);
            ex.submit(request("free-" + i, ExecutorTests.prompt(710 + i, 30), 60), c);
        }
        ex.submit(request("beams", beamPrompt, 60), beams(4, BeamSearchConfig.NEVER), group);
        Beams actual = group.await();
        int preemptions = actual.stats().preemptions();
        for (var c : free) {
            ExecutorTests.Result r = c.await();
            assertThat(r.error()).isNull();
            preemptions += r.stats().preemptions();
        }
        assertThat(preemptions).as("the cache was too small for all of them").isPositive();
        assertThat(actual.tokens()).isEqualTo(expected.tokens());
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void abortingASearchMidwayFreesEveryBlock() throws Exception {
        var ex = executor();
        var c = new BeamCollector() {
            @Override
            public void onBeams(List<BeamHypothesis> beams, boolean finished) {
                super.onBeams(beams, finished);
                if (updates == 5) {
                    ex.abort("midway");
                }
            }
        };
        ex.submit(request("midway", ExecutorTests.prompt(800, 40), 80), new BeamSearchConfig(4, 1f, BeamSearchConfig.NEVER,
                null, true), c);
        Beams out = c.await();
        assertThat(out.reason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(out.updates()).isBetween(5, 7);
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void earlyStoppingEndsTheSearchOnceWidthHypothesesFinished() throws Exception {
        var ex = executor();
        int[] prompt = ExecutorTests.prompt(900, 12);
        // Token 2 ends a hypothesis; with most tokens ending one, a search that stops early is shorter.
        var ends = SamplingConfig.builder().temperature(0).endTokenIds(java.util.stream.IntStream.range(0, 200).toArray()).build();
        var early = new BeamCollector();
        ex.submit(new GenerationRequest("early", prompt, 50, ends), beams(3, BeamSearchConfig.EARLY_STOP), early);
        Beams e = early.await();
        assertThat(e.hypotheses()).hasSize(3).allSatisfy(h -> assertThat(h.finishReason()).isEqualTo(FinishReason.STOP));
        assertThat(e.stats().generatedTokens()).isLessThan(50);
        var never = new BeamCollector();
        ex.submit(new GenerationRequest("never", prompt, 50, ends), beams(3, BeamSearchConfig.NEVER), never);
        Beams n = never.await();
        assertThat(n.stats().generatedTokens()).isLessThanOrEqualTo(50);
        assertThat(n.hypotheses().getFirst().score()).isGreaterThanOrEqualTo(e.hypotheses().getFirst().score());
        ExecutorTests.assertNoBlocksHeld(ex);
    }
}
