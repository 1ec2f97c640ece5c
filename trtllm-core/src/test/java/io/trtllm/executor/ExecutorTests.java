package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The executor on the tiny random Llama-3 checkpoint of the parity tests (vocab 256): batching,
 * chunked prefill, preemption and prefix reuse must not change any greedy output, and every block
 * must come back.
 */
class ExecutorTests {
    static final int MAX_SEQ_LEN = 128;

    Checkpoint weights;
    ModelConfig config;
    final List<AutoCloseable> toClose = new ArrayList<>();

    /** What a test listener saw. */
    record Result(List<Integer> tokens, @Nullable FinishReason reason, @Nullable RequestStats stats, @Nullable Throwable error) {
    }

    static class Collector implements GenerationListener {
        final List<Integer> tokens = new ArrayList<>();
        final CompletableFuture<Result> done = new CompletableFuture<>();

        @Override
        public void onToken(SampledToken token, @Nullable FinishReason finish) {
            tokens.add(token.tokenId());
        }

        @Override
        public void onFinish(FinishReason reason, RequestStats stats) {
            done.complete(new Result(List.copyOf(tokens), reason, stats, null));
        }

        @Override
        public void onFailure(Throwable error) {
            done.complete(new Result(List.copyOf(tokens), null, null, error));
        }

        Result await() throws Exception {
            return done.get(60, TimeUnit.SECONDS);
        }
    }

    @BeforeEach
    void open() throws URISyntaxException {
        Path dir = Path.of(ExecutorTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
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

    Executor executor(SchedulerConfig scheduler, int kvTokens, int blockSize, int maxQueueSize, boolean reuse) {
        var runner = new CpuModelRunner(config, weights, new KvCacheSpec(kvTokens / blockSize, blockSize), 2);
        toClose.add(runner);
        var executor = new Executor(runner, new Executor.Config(scheduler, maxQueueSize, MAX_SEQ_LEN, reuse));
        toClose.add(executor);
        return executor;
    }

    static int[] prompt(int seed, int length) {
        var rnd = new SplittableRandom(seed);
        int[] p = new int[length];
        p[0] = 1;
        for (int i = 1; i < length; i++) {
            p[i] = 3 + rnd.nextInt(250);
        }
        return p;
    }

    static GenerationRequest greedy(String id, int[] prompt, int maxTokens) {
        return new GenerationRequest(id, prompt, maxTokens, SamplingConfig.builder().temperature(0).build());
    }

    /** Each prompt alone: the reference for everything batched. */
    List<List<Integer>> alone(List<int[]> prompts, int maxTokens) throws Exception {
        var ex = executor(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 1, 4096, false),
                MAX_SEQ_LEN, 16, 16, false);
        List<List<Integer>> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            var c = new Collector();
            ex.submit(greedy("alone-" + i, prompts.get(i), maxTokens), c);
            out.add(c.await().tokens());
        }
        return out;
    }

    List<Result> together(Executor ex, List<int[]> prompts, int maxTokens) throws Exception {
        List<Collector> collectors = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            var c = new Collector();
            collectors.add(c);
            ex.submit(greedy("req-" + i, prompts.get(i), maxTokens), c);
        }
        List<Result> out = new ArrayList<>();
        for (Collector c : collectors) {
            out.add(c.await());
        }
        return out;
    }

    static List<int[]> prompts(int n) {
        List<int[]> p = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            p.add(prompt(100 + i, 5 + (i * 7) % 40));
        }
        return p;
    }

    static void assertNoBlocksHeld(Executor ex) throws InterruptedException {
        // The snapshot is taken after each iteration; the last one follows the last finish.
        for (int i = 0; i < 100 && ex.stats().kvCache().usedBlocks() != 0; i++) {
            Thread.sleep(10);
        }
        assertThat(ex.stats().kvCache().usedBlocks()).as("KV blocks still referenced").isZero();
    }

    @Test
    void batchedGreedyOutputsEqualEachRequestAlone() throws Exception {
        List<int[]> prompts = prompts(16);
        var expected = alone(prompts, 20);
        var ex = executor(SchedulerConfig.defaults(), 16 * MAX_SEQ_LEN, 16, 64, true);
        var results = together(ex, prompts, 20);
        for (int i = 0; i < prompts.size(); i++) {
            assertThat(results.get(i).reason()).isEqualTo(FinishReason.LENGTH);
            assertThat(results.get(i).tokens()).as("request %d", i).isEqualTo(expected.get(i));
        }
        assertThat(ex.stats().iterations()).isLessThan(16 * 20); // they really ran together
        assertNoBlocksHeld(ex);
    }

    @Test
    void sharedSystemPromptWithPrefixReuseAndChunkedPrefillKeepsOutputsAlone() throws Exception {
        int[] system = prompt(77, 40);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            int[] user = prompt(200 + i, 3 + i % 7);
            int[] p = java.util.Arrays.copyOf(system, system.length + user.length - 1);
            System.arraycopy(user, 1, p, system.length, user.length - 1);
            prompts.add(p);
        }
        var expected = alone(prompts, 12);
        var ex = executor(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 16, 64, true),
                16 * MAX_SEQ_LEN, 16, 64, true);
        together(ex, List.of(prompts.getFirst()), 1); // the system prompt's blocks are now cached
        var results = together(ex, prompts, 12);
        int reused = 0;
        for (int i = 0; i < prompts.size(); i++) {
            assertThat(results.get(i).tokens()).as("request %d", i).isEqualTo(expected.get(i));
            reused += results.get(i).stats().cachedPromptTokens();
        }
        assertThat(reused).isGreaterThanOrEqualTo(16 * 32); // two full 16-token blocks of the system prompt each
        assertNoBlocksHeld(ex);
    }

    @Test
    void soakOf500RequestsWithCancellationsAndAFullQueueEndsEachExactlyOnceAndLeaksNothing() throws Exception {
        var ex = executor(new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, 16, 256, true),
                12 * MAX_SEQ_LEN, 16, 48, true);
        int freeAtStart = ex.stats().kvCache().freeBlocks();
        var rnd = new SplittableRandom(2026);
        var terminal = new java.util.concurrent.ConcurrentHashMap<String, java.util.concurrent.atomic.AtomicInteger>();
        var failures = new java.util.concurrent.ConcurrentLinkedQueue<Throwable>();
        List<String> submitted = new ArrayList<>();
        int rejected = 0;
        for (int i = 0; i < 500; i++) {
            String id = "soak-" + i;
            int promptLength = 1 + rnd.nextInt(60);
            int maxTokens = 1 + rnd.nextInt(MAX_SEQ_LEN - promptLength);
            var listener = new GenerationListener() {
                @Override
                public void onToken(SampledToken token, @Nullable FinishReason finish) {
                }

                @Override
                public void onFinish(FinishReason reason, RequestStats stats) {
                    terminal.computeIfAbsent(id, k -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
                }

                @Override
                public void onFailure(Throwable error) {
                    failures.add(error);
                    terminal.computeIfAbsent(id, k -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
                }
            };
            var sampling = rnd.nextBoolean() ? SamplingConfig.builder().temperature(0).build()
                    : SamplingConfig.builder().temperature(0.9f).topP(0.9f).seed((long) i).build();
            try {
                ex.submit(new GenerationRequest(id, prompt(i, promptLength), maxTokens, sampling), listener);
                submitted.add(id);
            } catch (QueueFullException e) {
                rejected++;
                Thread.sleep(2);
            }
            if (rnd.nextInt(6) == 0 && !submitted.isEmpty()) {
                ex.abort(submitted.get(rnd.nextInt(submitted.size())));
            }
        }
        for (int i = 0; i < 6000 && terminal.size() < submitted.size(); i++) {
            Thread.sleep(10);
        }
        assertThat(rejected).as("the queue filled at times").isPositive();
        assertThat(failures).isEmpty();
        assertThat(terminal.keySet()).containsExactlyInAnyOrderElementsOf(submitted);
        assertThat(terminal.values()).allMatch(n -> n.get() == 1);
        assertNoBlocksHeld(ex);
        assertThat(ex.stats().kvCache().freeBlocks()).isEqualTo(freeAtStart);
        assertThat(ex.stats().waiting()).isZero();
        assertThat(ex.stats().running()).isZero();
    }

    @Test
    void seededSamplingDoesNotDependOnWhatElseIsInTheBatch() throws Exception {
        var sampling = SamplingConfig.builder().temperature(1.0f).topK(50).seed(42L).build();
        int[] p = prompt(9, 12);
        var ex = executor(SchedulerConfig.defaults(), 8 * MAX_SEQ_LEN, 16, 64, false);
        var alone = new Collector();
        ex.submit(new GenerationRequest("alone", p, 30, sampling), alone);
        List<Integer> expected = alone.await().tokens();
        List<Collector> others = new ArrayList<>();
        var again = new Collector();
        for (int i = 0; i < 5; i++) {
            var c = new Collector();
            others.add(c);
            ex.submit(new GenerationRequest("other-" + i, prompt(20 + i, 7 + 3 * i), 30,
                    SamplingConfig.builder().temperature(1.0f).seed((long) i).build()), c);
            if (i == 2) {
                ex.submit(new GenerationRequest("again", p, 30, sampling), again);
            }
        }
        assertThat(again.await().tokens()).isEqualTo(expected);
        for (Collector c : others) {
            c.await();
        }
        assertNoBlocksHeld(ex);
    }

    @Test
    void chunkedPrefillGivesTheSameOutputs() throws Exception {
        List<int[]> prompts = prompts(6);
        var expected = alone(prompts, 10);
        var ex = executor(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 7, true),
                8 * MAX_SEQ_LEN, 16, 64, false);
        var results = together(ex, prompts, 10);
        for (int i = 0; i < prompts.size(); i++) {
            assertThat(results.get(i).tokens()).as("request %d", i).isEqualTo(expected.get(i));
        }
        assertThat(ex.stats().lastBatchTokens()).isLessThanOrEqualTo(7);
        assertNoBlocksHeld(ex);
    }

    @Test
    void maxUtilizationPreemptsAndRecomputesWithoutChangingOutputs() throws Exception {
        List<int[]> prompts = prompts(8);
        var expected = alone(prompts, 40);
        // Room for about two full sequences: the others are preempted and recomputed.
        var ex = executor(new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, 8, 512, true),
                160, 8, 64, false);
        var results = together(ex, prompts, 40);
        int preemptions = 0;
        for (int i = 0; i < prompts.size(); i++) {
            assertThat(results.get(i).tokens()).as("request %d", i).isEqualTo(expected.get(i));
            preemptions += results.get(i).stats().preemptions();
        }
        assertThat(preemptions).isPositive();
        // The engine-wide counter is the sum of the requests' own counts.
        assertThat(ex.stats().preemptions()).isEqualTo(preemptions);
        // Each prompt counted once, though preempted ones were prefilled again; every token generated counted.
        assertThat(ex.stats().promptTokens()).isEqualTo(prompts.stream().mapToLong(p -> p.length).sum());
        assertThat(ex.stats().generatedTokens()).isEqualTo(results.stream().mapToLong(r -> r.tokens().size()).sum());
        for (Result r : results) {
            assertThat(r.stats().scheduledNanos()).isBetween(r.stats().arrivalNanos(), r.stats().firstTokenNanos());
        }
        assertNoBlocksHeld(ex);
    }

    @Test
    void guaranteedNoEvictNeverPreempts() throws Exception {
        List<int[]> prompts = prompts(8);
        var ex = executor(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 8, 512, true),
                160, 8, 64, false);
        var results = together(ex, prompts, 40);
        for (Result r : results) {
            assertThat(r.reason()).isEqualTo(FinishReason.LENGTH);
            assertThat(r.stats().preemptions()).isZero();
        }
        assertThat(ex.stats().preemptions()).isZero();
        assertNoBlocksHeld(ex);
    }

    @Test
    void sharedPrefixIsReusedAndGivesTheSameOutput() throws Exception {
        int[] p = prompt(7, 50);
        var ex = executor(SchedulerConfig.defaults(), 4 * MAX_SEQ_LEN, 16, 64, true);
        var first = together(ex, List.of(p), 10).getFirst();
        var second = together(ex, List.of(p), 10).getFirst();
        assertThat(second.tokens()).isEqualTo(first.tokens());
        assertThat(first.stats().cachedPromptTokens()).isZero();
        assertThat(second.stats().cachedPromptTokens()).isEqualTo(48); // three full blocks of 16
        assertNoBlocksHeld(ex);
    }

    @Test
    void abortEndsTheRequestAndFreesItsBlocks() throws Exception {
        var ex = executor(SchedulerConfig.defaults(), 4 * MAX_SEQ_LEN, 16, 64, true);
        var gate = new CountDownLatch(1);
        var c = new Collector() {
            @Override
            public void onToken(SampledToken token, @Nullable FinishReason finish) {
                super.onToken(token, finish);
                gate.countDown();
                try {
                    Thread.sleep(2); // slow the loop down so that the abort lands mid-generation
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        ex.submit(greedy("long", prompt(3, 10), 110), c);
        assertThat(gate.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(ex.abort("long")).isTrue();
        Result r = c.await();
        assertThat(r.reason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokens().size()).isLessThan(110);
        assertThat(ex.abort("long")).isFalse();
        assertThat(ex.abort("never-submitted")).isFalse();
        assertNoBlocksHeld(ex);
    }

    @Test
    void aFullQueueRejectsAtOnceAndAFailingListenerFailsOnlyItsRequest() throws Exception {
        var ex = executor(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT, 1, 512, true),
                4 * MAX_SEQ_LEN, 16, 2, false);
        var release = new CountDownLatch(1);
        var blocker = new Collector() {
            @Override
            public void onToken(SampledToken token, @Nullable FinishReason finish) {
                super.onToken(token, finish);
                try {
                    release.await(); // holds the loop: nothing else is admitted meanwhile
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
        };
        ex.submit(greedy("blocker", prompt(1, 5), 3), blocker);
        while (blocker.tokens.isEmpty()) {
            Thread.sleep(5);
        }
        var failing = new Collector() {
            @Override
            public void onToken(SampledToken token, @Nullable FinishReason finish) {
                throw new IllegalStateException("listener broke");
            }
        };
        var fine = new Collector();
        ex.submit(greedy("failing", prompt(2, 5), 3), failing);
        ex.submit(greedy("fine", prompt(3, 5), 3), fine);
        assertThatThrownBy(() -> ex.submit(greedy("third", prompt(4, 5), 3), new Collector()))
                .isInstanceOf(QueueFullException.class).hasMessageContaining("max_queue_size 2");
        assertThatThrownBy(() -> ex.submit(greedy("fine", prompt(3, 5), 3), new Collector()))
                .isInstanceOf(RuntimeException.class);
        release.countDown();
        assertThat(blocker.await().reason()).isEqualTo(FinishReason.LENGTH);
        assertThat(failing.await().error()).hasMessage("listener broke");
        assertThat(fine.await().reason()).isEqualTo(FinishReason.LENGTH);
        assertNoBlocksHeld(ex);
    }

    @Test
    void aFailedForwardPassFailsItsRequestsAndTheLoopServesOn() throws Exception {
        var real = new CpuModelRunner(config, weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 2);
        toClose.add(real);
        // A runner that fails every pass containing token 7 (a poisoned prompt).
        var flaky = new io.trtllm.runtime.ModelRunner() {
            @Override
            public ModelConfig config() {
                return real.config();
            }

            @Override
            public KvCacheSpec kvCache() {
                return real.kvCache();
            }

            @Override
            public String backend() {
                return "flaky";
            }

            @Override
            public io.trtllm.runtime.ForwardResult forward(io.trtllm.runtime.Batch batch) {
                for (var c : batch.chunks()) {
                    for (int t : c.tokenIds()) {
                        if (t == 7) {
                            throw new IllegalStateException("device error in this pass");
                        }
                    }
                }
                return real.forward(batch);
            }

            @Override
            public void close() {
            }
        };
        var ex = new Executor(flaky, new Executor.Config(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT,
                1, 512, true), 64, MAX_SEQ_LEN, true));
        toClose.add(ex);
        var poisoned = new Collector();
        var healthy = new Collector();
        ex.submit(greedy("poisoned", new int[] {1, 7, 9}, 4), poisoned);
        ex.submit(greedy("healthy", prompt(5, 6), 4), healthy);
        assertThat(poisoned.await().error()).hasMessage("device error in this pass");
        assertThat(healthy.await().reason()).isEqualTo(FinishReason.LENGTH);
        assertThat(ex.stats().alive()).isTrue();
        assertNoBlocksHeld(ex);
    }

    @Test
    void aTokenIdOutsideTheVocabularyFailsItsSequenceAloneBeforeItsNextPass() throws Exception {
        var real = new CpuModelRunner(config, weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 2);
        toClose.add(real);
        int vocab = config.vocabSize();
        // Like a device fault in the argmax: the chunk whose prompt starts with token 7 gets id vocab + 5.
        var faulty = new Delegating(real) {
            @Override
            public io.trtllm.runtime.ForwardResult forward(io.trtllm.runtime.Batch batch) {
                var result = super.forward(batch);
                var out = io.trtllm.runtime.ForwardResult.builder(result.size());
                for (int i = 0; i < result.size(); i++) {
                    var c = batch.chunks().get(i);
                    out.logits(i, result.logits(i)).tokenId(i, c.startPosition() == 0 && c.tokenId(0) == 7 ? vocab + 5
                            : result.tokenId(i));
                }
                return out.build();
            }
        };
        var ex = new Executor(faulty, new Executor.Config(SchedulerConfig.defaults(), 64, MAX_SEQ_LEN, false));
        toClose.add(ex);
        var broken = new Collector();
        var healthy = new Collector();
        ex.submit(greedy("broken", new int[] {7, 8, 9}, 4), broken);
        ex.submit(greedy("healthy", prompt(5, 6), 4), healthy);
        assertThat(broken.await().error()).isInstanceOf(IllegalStateException.class)
                .hasMessage("the runner chose token id " + (vocab + 5) + ", outside the vocabulary of " + vocab);
        assertThat(broken.await().tokens()).isEmpty();
        assertThat(healthy.await().tokens()).isEqualTo(alone(List.of(prompt(5, 6)), 4).getFirst());
        assertThat(ex.stats().alive()).isTrue();
        assertNoBlocksHeld(ex);
    }

    /** A runner that passes everything to {@code real}, seeing each batch first. */
    static class Delegating implements io.trtllm.runtime.ModelRunner {
        final io.trtllm.runtime.ModelRunner real;

        Delegating(io.trtllm.runtime.ModelRunner real) {
            this.real = real;
        }

        @Override
        public ModelConfig config() {
            return real.config();
        }

        @Override
        public KvCacheSpec kvCache() {
            return real.kvCache();
        }

        @Override
        public String backend() {
            return "delegating";
        }

        @Override
        public io.trtllm.runtime.ForwardResult forward(io.trtllm.runtime.Batch batch) {
            return real.forward(batch);
        }

        @Override
        public void close() {
        }
    }

    @Test
    void plainlySampledRequestsAreDrawnByTheRunnerWithTheirKeyAndStep() throws Exception {
        var real = new CpuModelRunner(config, weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 2);
        toClose.add(real);
        List<io.trtllm.runtime.SequenceChunk> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        var recording = new Delegating(real) {
            @Override
            public io.trtllm.runtime.ForwardResult forward(io.trtllm.runtime.Batch batch) {
                batch.chunks().stream().filter(c -> c.logitsRows() > 0).forEach(seen::add);
                return super.forward(batch);
            }
        };
        var ex = new Executor(recording, new Executor.Config(SchedulerConfig.defaults(), 64, MAX_SEQ_LEN, false));
        toClose.add(ex);
        var plain = SamplingConfig.builder().temperature(0.9f).topK(30).topP(0.95f).minP(0.01f).seed(5L).build();
        var draws = new Collector();
        ex.submit(new GenerationRequest("plain", prompt(1, 6), 6, plain), draws);
        List<Integer> tokens = draws.await().tokens();
        assertThat(seen).hasSize(6).allMatch(c -> c.logits() == io.trtllm.runtime.SequenceChunk.LogitsMode.SAMPLE);
        long key = new SplittableRandom(5L).nextLong(); // sequence 0's generator, first draw: the key
        for (int step = 0; step < 6; step++) {
            assertThat(seen.get(step).sampling())
                    .isEqualTo(new io.trtllm.sampling.TokenSampling(0.9f, 30, 0.95f, 0.01f, key, step));
        }
        // the CPU runner draws with the host's reference: the same tokens from its logits rows
        seen.clear();
        var again = new Collector();
        ex.submit(new GenerationRequest("again", prompt(1, 6), 6, plain), again);
        assertThat(again.await().tokens()).isEqualTo(tokens);

        seen.clear();
        ex.submit(new GenerationRequest("penalized", prompt(2, 6), 3, SamplingConfig.builder().temperature(0.9f)
                .repetitionPenalty(1.2f).seed(5L).build()), new Collector());
        ex.submit(greedy("greedy", prompt(3, 6), 3), new Collector());
        for (int i = 0; i < 500 && seen.size() < 6; i++) {
            Thread.sleep(10);
        }
        assertThat(seen.stream().map(io.trtllm.runtime.SequenceChunk::logits).distinct())
                .containsExactlyInAnyOrder(io.trtllm.runtime.SequenceChunk.LogitsMode.LAST,
                        io.trtllm.runtime.SequenceChunk.LogitsMode.ARGMAX);
        assertNoBlocksHeld(ex);
    }

    @Test
    void aRunnerThatReportsItselfBrokenStopsTheExecutorFailingEveryRequestAndRefusingNewOnes() throws Exception {
        var real = new CpuModelRunner(config, weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 2);
        toClose.add(real);
        var deviceError = new IllegalStateException("CUDA error in cudaStreamSynchronize: an illegal memory access "
                + "was encountered (700)");
        // Like the CUDA runner after an illegal address: the pass with token 7 fails and every later one would too.
        var broken = new Delegating(real) {
            volatile @Nullable Throwable failure;

            @Override
            public io.trtllm.runtime.ForwardResult forward(io.trtllm.runtime.Batch batch) {
                for (var c : batch.chunks()) {
                    for (int t : c.tokenIds()) {
                        if (t == 7) {
                            failure = deviceError;
                        }
                    }
                }
                if (failure != null) {
                    throw deviceError;
                }
                return super.forward(batch);
            }

            @Override
            public @Nullable Throwable failure() {
                return failure;
            }
        };
        var ex = new Executor(broken, new Executor.Config(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT,
                2, 512, true), 64, MAX_SEQ_LEN, false));
        toClose.add(ex);
        var started = new CountDownLatch(1);
        var inFlight = new Collector() {
            @Override
            public void onToken(SampledToken token, @Nullable FinishReason finish) {
                super.onToken(token, finish);
                started.countDown();
                try {
                    Thread.sleep(2); // slow the loop down so that the poisoned pass comes before the end
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        ex.submit(greedy("in-flight", prompt(1, 5), 100), inFlight);
        assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
        var poisoned = new Collector();
        var queued = new Collector(); // max_batch_size 2: waits for a free slot
        ex.submit(greedy("poisoned", new int[] {1, 7, 9}, 4), poisoned);
        ex.submit(greedy("queued", prompt(2, 5), 4), queued);
        for (Collector c : List.of(inFlight, poisoned, queued)) {
            assertThat(c.await().error()).isSameAs(deviceError);
        }
        assertThat(ex.failure()).isSameAs(deviceError);
        for (int i = 0; i < 100 && ex.stats().alive(); i++) {
            Thread.sleep(10);
        }
        assertThat(ex.stats().alive()).isFalse();
        assertThatThrownBy(() -> ex.submit(greedy("late", prompt(3, 5), 2), new Collector()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("not accepting requests")
                .hasMessageContaining("illegal memory access").hasCause(deviceError);
        long start = System.nanoTime();
        ex.close();
        assertThat(System.nanoTime() - start).as("close of a stopped executor").isLessThan(TimeUnit.SECONDS.toNanos(5));
        assertThat(ex.stats().kvCache().usedBlocks()).isZero();
    }

    @Test
    void withoutChunkedPrefillAPassMustHoldAWholeSequence() {
        assertThatThrownBy(() -> new Executor.Config(new SchedulerConfig(SchedulerPolicy.GUARANTEED_NO_EVICT,
                8, 64, false), 16, MAX_SEQ_LEN, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max_num_tokens (64) must be >= max_seq_len (128)");
    }

    @Test
    void aNewExecutorReportsItselfAliveAtOnce() {
        var ex = executor(SchedulerConfig.defaults(), 4 * MAX_SEQ_LEN, 16, 64, true);
        assertThat(ex.stats().alive()).isTrue();
        assertThat(ex.failure()).isNull();
    }

    @Test
    void argumentsBeyondMaxSeqLenAreRejectedBeforeQueueing() {
        var ex = executor(SchedulerConfig.defaults(), 4 * MAX_SEQ_LEN, 16, 64, true);
        assertThatThrownBy(() -> ex.submit(greedy("x", prompt(1, 100), 29), new Collector()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("exceeds max_seq_len 128");
        assertThat(ex.stats().waiting()).isZero();
    }

    @Test
    void closeLetsRunningRequestsFinishOrCancelsThemAndThenRejects() throws Exception {
        var ex = executor(SchedulerConfig.defaults(), 4 * MAX_SEQ_LEN, 16, 64, true);
        var quick = new Collector();
        var slow = new Collector() {
            @Override
            public void onToken(SampledToken token, @Nullable FinishReason finish) {
                super.onToken(token, finish);
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        ex.submit(greedy("quick", prompt(1, 5), 2), quick);
        ex.submit(greedy("slow", prompt(2, 5), 100), slow);
        ex.close(Duration.ofMillis(200));
        assertThat(quick.await().reason()).isEqualTo(FinishReason.LENGTH);
        assertThat(slow.await().reason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(ex.stats().alive()).isFalse();
        assertThat(ex.stats().kvCache().usedBlocks()).isZero();
        assertThatThrownBy(() -> ex.submit(greedy("late", prompt(3, 5), 2), new Collector()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("not accepting");
    }
}
