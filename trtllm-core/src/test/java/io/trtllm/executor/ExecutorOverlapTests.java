package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.MaskedPass;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.PendingPass;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.sampling.SamplingState;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.TokenMask;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Overlapped decoding ({@link ModelRunner#overlaps()}) on the CPU: a runner that computes each pass on a thread of
 * its own, in launch order, as a CUDA stream does, and takes a chained chunk's token from the previous pass's choice
 * there (never from the host). The executor must route every token to its request as the plain loop does (greedy and
 * seeded draws token for token), hand no listener the token computed past a sequence's end, and free every block,
 * with preemption, cancellation and passes that must fall back to the host (logprobs) in the mix.
 */
class ExecutorOverlapTests {
    static final int MAX_SEQ_LEN = ExecutorTests.MAX_SEQ_LEN;

    Checkpoint weights;
    ModelConfig config;
    final List<AutoCloseable> toClose = new ArrayList<>();

    /**
     * Runs {@code real}'s passes on one worker thread in launch order, each a few milliseconds late, so that the
     * executor schedules and launches the next pass while one computes. A chained chunk's placeholder is replaced
     * by the token the previous pass chose, read on the worker (the "device"), after checking the placeholder
     * is where the executor must leave one.
     */
    static final class AsyncRunner implements ModelRunner {
        final ModelRunner real;
        final ExecutorService worker = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().unstarted(r));
        /** The last launched pass's result, on the worker. */
        volatile @Nullable Future<ForwardResult> last;
        final List<Future<ForwardResult>> unawaited = new ArrayList<>();
        final AtomicInteger launchesWhileInFlight = new AtomicInteger();
        final AtomicInteger chainedChunks = new AtomicInteger();
        final AtomicInteger passes = new AtomicInteger();
        final List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();

        AsyncRunner(ModelRunner real) {
            this.real = real;
        }

        @Override
        public boolean overlaps() {
            return true;
        }

        /** Launches (counted from 1) that throw as a bad batch would, leaving the runner usable; 0: none. */
        volatile int failLaunch;
        final AtomicInteger launches = new AtomicInteger();

        /** Whether {@link #launch(Batch, boolean[])} works ({@link ModelRunner#takesMasksLater}). */
        volatile boolean masksLater;
        /** Masks given after their pass was launched (not null ones). */
        final AtomicInteger laterMasks = new AtomicInteger();
        /** Calls of {@link MaskedPass#masks} (counted from 1) that refuse the masks, leaving the runner usable; 0: none. */
        volatile int failMasks;
        final AtomicInteger maskCalls = new AtomicInteger();
        /** The masks of the last pass launched with masks to come (done once given). */
        private CompletableFuture<List<@Nullable Bitmask>> lastMasks = CompletableFuture.completedFuture(List.of());

        @Override
        public boolean takesMasksLater() {
            return masksLater;
        }

        /**
         * Launches as {@link #launch(Batch)}, the pass waiting on the worker for the masks of the chunks marked in
         * {@code later} (as a device stream waits for the choice half), which it applies as the chunks' own.
         */
        @Override
        public synchronized MaskedPass launch(Batch batch, boolean[] later) {
            if (!masksLater) {
                throw new UnsupportedOperationException("masks later are off");
            }
            if (later.length != batch.chunks().size()) {
                throw new AssertionError("masksLater has " + later.length + " entries for " + batch.chunks().size() + " chunks");
            }
            for (int i = 0; i < later.length; i++) {
                if (later[i] && batch.chunks().get(i).masked()) {
                    throw new AssertionError("chunk " + i + " has its own mask and one to come");
                }
            }
            var masks = new CompletableFuture<List<@Nullable Bitmask>>();
            PendingPass pending = launch(batch, later.clone(), masks);
            return new MaskedPass() {
                @Override
                public void masks(List<@Nullable Bitmask> given) {
                    if (maskCalls.incrementAndGet() == failMasks) {
                        var refused = new IllegalArgumentException("injected: these masks cannot be applied");
                        masks.completeExceptionally(refused);
                        throw refused;
                    }
                    if (given.size() != later.length) {
                        throw new AssertionError(given.size() + " masks for " + later.length + " chunks");
                    }
                    for (int i = 0; i < later.length; i++) {
                        if (given.get(i) != null) {
                            if (!later[i]) {
                                throw new AssertionError("a mask for chunk " + i + ", which came with its own");
                            }
                            laterMasks.incrementAndGet();
                        }
                    }
                    if (!masks.complete(given)) {
                        throw new AssertionError("masks given twice");
                    }
                }

                @Override
                public ForwardResult await() {
                    if (!masks.isDone()) {
                        throw new AssertionError("a pass awaited before its masks were given");
                    }
                    return pending.await();
                }
            };
        }

        /**
         * A pass with its masks: a {@link MaskedPass} that refuses masks, as the CUDA runner's passes are, so that the
         * executor must tell the passes to give masks to by their flags, not by their type.
         */
        @Override
        public synchronized PendingPass launch(Batch batch) {
            PendingPass pending = launch(batch, null, CompletableFuture.completedFuture(List.of()));
            return new MaskedPass() {
                @Override
                public void masks(List<@Nullable Bitmask> masks) {
                    throw new AssertionError("masks given to a pass launched with its own");
                }

                @Override
                public ForwardResult await() {
                    return pending.await();
                }
            };
        }

        private PendingPass launch(Batch batch, boolean @Nullable [] later, CompletableFuture<List<@Nullable Bitmask>> masks) {
            if (!lastMasks.isDone()) { // done exceptionally too: refused masks release the pass
                throw new AssertionError("a pass launched before the masks of the one before were given");
            }
            lastMasks = masks;
            if (launches.incrementAndGet() == failLaunch) {
                throw new IllegalArgumentException("injected: this pass cannot run");
            }
            if (unawaited.size() > 1) {
                throw new IllegalStateException("a third pass launched while two are in flight");
            }
            if (!unawaited.isEmpty()) {
                launchesWhileInFlight.incrementAndGet();
            }
            Future<ForwardResult> previous = last;
            List<SequenceChunk> previousChunks = previousBatch;
            previousBatch = batch.chunks();
            Future<ForwardResult> f = worker.submit(() -> {
                try {
                    Thread.sleep(2);
                    List<SequenceChunk> chunks = new ArrayList<>(batch.chunks());
                    if (later != null) {
                        List<@Nullable Bitmask> given;
                        try {
                            given = masks.get(10, java.util.concurrent.TimeUnit.SECONDS);
                        } catch (java.util.concurrent.ExecutionException refused) {
                            // the masks were refused (failMasks): the pass chooses nothing, as a device would not
                            throw new IllegalStateException("the pass's masks were refused", refused.getCause());
                        }
                        for (int i = 0; i < chunks.size(); i++) {
                            SequenceChunk c = chunks.get(i);
                            if (later[i] && given.get(i) != null) {
                                chunks.set(i, new SequenceChunk(c.tokenIds(), c.startPosition(), c.blockTable(), c.logits(),
                                        c.sampling(), given.get(i)));
                            }
                        }
                    }
                    for (int i = 0; i < chunks.size(); i++) {
                        int p = batch.previousChunk(i);
                        if (p < 0) {
                            continue;
                        }
                        SequenceChunk from = previousChunks.get(p);
                        if (from.logits() != SequenceChunk.LogitsMode.ARGMAX && from.logits() != SequenceChunk.LogitsMode.SAMPLE) {
                            throw new AssertionError("chunk " + i + " chains from a chunk that chose no token: " + from.logits());
                        }
                        SequenceChunk c = chunks.get(i);
                        if (c.startPosition() != from.endPosition()) {
                            throw new AssertionError("chunk " + i + " at position " + c.startPosition()
                                    + " chains the token of a chunk that ends at " + from.endPosition());
                        }
                        int token = previous.get().tokenId(p);
                        chunks.set(i, new SequenceChunk(new int[] {Math.max(token, 0)}, c.startPosition(), c.blockTable(),
                                c.logits(), c.sampling(), c.mask()));
                        chainedChunks.incrementAndGet();
                    }
                    passes.incrementAndGet();
                    return real.forward(new Batch(chunks));
                } catch (IllegalStateException refused) {
                    if (!(refused.getCause() instanceof IllegalArgumentException)) {
                        errors.add(refused);
                    }
                    throw refused;
                } catch (Throwable t) {
                    errors.add(t);
                    throw t;
                }
            });
            last = f;
            unawaited.add(f);
            return () -> {
                synchronized (this) {
                    if (unawaited.getFirst() != f) {
                        throw new AssertionError("passes awaited out of launch order");
                    }
                    unawaited.removeFirst();
                }
                try {
                    return f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            };
        }

        private List<SequenceChunk> previousBatch = List.of();

        @Override
        public ForwardResult forward(Batch batch) {
            throw new AssertionError("an overlapping runner is driven through launch");
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
            return "async";
        }

        @Override
        public void close() {
            worker.shutdownNow();
        }
    }

    @BeforeEach
    void open() throws Exception {
        Path dir = Path.of(ExecutorOverlapTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
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

    CpuModelRunner cpu(int kvTokens, int blockSize) {
        var runner = new CpuModelRunner(config, weights, new KvCacheSpec(kvTokens / blockSize, blockSize), 2);
        toClose.add(runner);
        return runner;
    }

    Executor executor(ModelRunner runner, SchedulerConfig scheduler, boolean reuse) {
        var executor = new Executor(runner, new Executor.Config(scheduler, 600, MAX_SEQ_LEN, reuse));
        toClose.add(executor);
        return executor;
    }

    AsyncRunner async(int kvTokens, int blockSize) {
        var runner = new AsyncRunner(cpu(kvTokens, blockSize));
        toClose.add(runner);
        return runner;
    }

    /** Each request's tokens and end, submitted together. */
    static List<ExecutorTests.Result> run(Executor ex, List<GenerationRequest> requests) throws Exception {
        List<ExecutorTests.Collector> collectors = new ArrayList<>();
        for (GenerationRequest r : requests) {
            var c = new ExecutorTests.Collector();
            collectors.add(c);
            ex.submit(r, c);
        }
        List<ExecutorTests.Result> out = new ArrayList<>();
        for (ExecutorTests.Collector c : collectors) {
            out.add(c.await());
        }
        return out;
    }

    static List<GenerationRequest> requests(int n, SamplingConfig sampling) {
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new GenerationRequest("r-" + i, ExecutorTests.prompt(300 + i, 3 + (i * 11) % 45), 4 + (i * 5) % 30, sampling));
        }
        return out;
    }

    static final SamplingConfig GREEDY = SamplingConfig.builder().temperature(0).build();

    void assertSame(List<ExecutorTests.Result> overlapped, List<ExecutorTests.Result> plain) {
        assertThat(overlapped).hasSameSizeAs(plain);
        for (int i = 0; i < plain.size(); i++) {
            assertThat(overlapped.get(i).error()).as("request %d failed", i).isNull();
            assertThat(overlapped.get(i).tokens()).as("request %d", i).isEqualTo(plain.get(i).tokens());
            assertThat(overlapped.get(i).reason()).as("request %d", i).isEqualTo(plain.get(i).reason());
        }
    }

    @Test
    void greedyAndSeededOutputsEqualThePlainLoopsTokenForToken() throws Exception {
        List<GenerationRequest> greedy = requests(24, GREEDY);
        var seeded = SamplingConfig.builder().temperature(0.9f).topK(40).topP(0.95f).seed(11L).build();
        List<GenerationRequest> sampled = requests(12, seeded).stream()
                .map(r -> new GenerationRequest("s" + r.requestId(), r.promptTokenIds(), r.maxTokens(), r.sampling())).toList();
        List<GenerationRequest> all = new ArrayList<>(greedy);
        all.addAll(sampled);
        var plain = run(executor(cpu(24 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), true), all);
        AsyncRunner runner = async(24 * MAX_SEQ_LEN, 16);
        var ex = executor(runner, SchedulerConfig.defaults(), true);
        assertSame(run(ex, all), plain);
        assertThat(runner.launchesWhileInFlight.get()).as("passes launched while one computed").isPositive();
        assertThat(runner.chainedChunks.get()).as("tokens taken from the previous pass").isPositive();
        assertThat(runner.errors).isEmpty();
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void staggeredArrivalsGiveTheSameTokensAsAlone() throws Exception {
        List<GenerationRequest> requests = requests(16, GREEDY);
        var plain = run(executor(cpu(16 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), true), requests);
        AsyncRunner runner = async(16 * MAX_SEQ_LEN, 16);
        var ex = executor(runner, SchedulerConfig.defaults(), true);
        List<ExecutorTests.Collector> collectors = new ArrayList<>();
        for (GenerationRequest r : requests) {
            var c = new ExecutorTests.Collector();
            collectors.add(c);
            ex.submit(r, c);
            Thread.sleep(3); // each arrives while others decode
        }
        List<ExecutorTests.Result> results = new ArrayList<>();
        for (var c : collectors) {
            results.add(c.await());
        }
        assertSame(results, plain);
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void theTokenComputedPastAnEndTokenNeverReachesTheListener() throws Exception {
        // The end token: the 6th token the first request generates greedily.
        int[] prompt = ExecutorTests.prompt(5, 12);
        var plainEx = executor(cpu(4 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), false);
        List<Integer> free = run(plainEx, List.of(new GenerationRequest("free", prompt, 20, GREEDY))).getFirst().tokens();
        int end = free.get(5);
        var stopping = SamplingConfig.builder().temperature(0).endTokenIds(end).build();
        var request = new GenerationRequest("stop", prompt, 20, stopping);
        var plain = run(plainEx, List.of(request));
        AsyncRunner runner = async(4 * MAX_SEQ_LEN, 16);
        var ex = executor(runner, SchedulerConfig.defaults(), false);
        var collector = new ExecutorTests.Collector();
        ex.submit(request, collector);
        var overlapped = List.of(collector.await());
        assertThat(plain.getFirst().reason()).isEqualTo(FinishReason.STOP);
        assertThat(plain.getFirst().tokens()).hasSizeLessThanOrEqualTo(6).endsWith(end);
        assertSame(overlapped, plain);
        // One more pass ran than tokens came out: the one past the end, whose token was dropped.
        int generated = plain.getFirst().tokens().size();
        for (int i = 0; i < 100 && runner.passes.get() < generated + 1; i++) {
            Thread.sleep(5);
        }
        assertThat(runner.passes.get()).isEqualTo(generated + 1);
        Thread.sleep(50); // the loop processes the pass past the end right after the worker ran it
        ExecutorTests.assertNoBlocksHeld(ex);
        assertThat(collector.tokens).as("tokens the listener got, after its finish too").isEqualTo(plain.getFirst().tokens());
        assertThat(overlapped.getFirst().stats().generatedTokens()).isEqualTo(generated);
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void preemptionUnderMaxUtilizationKeepsOutputsAndFreesEveryBlock() throws Exception {
        List<GenerationRequest> requests = requests(10, GREEDY).stream()
                .map(r -> new GenerationRequest(r.requestId(), r.promptTokenIds(), 40, r.sampling())).toList();
        var plain = run(executor(cpu(16 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), false), requests);
        AsyncRunner runner = async(160, 8); // room for about two sequences: the others are preempted, recomputed
        var ex = executor(runner, new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, 8, 512, true), false);
        var overlapped = run(ex, requests);
        assertSame(overlapped, plain);
        assertThat(overlapped.stream().mapToInt(r -> r.stats().preemptions()).sum()).isPositive();
        assertThat(runner.errors).isEmpty();
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void passesThatNeedTheHostFallBackAndStillMatch() throws Exception {
        // logprobs and a repetition penalty need the row on the host: their passes are awaited at once.
        List<GenerationRequest> requests = new ArrayList<>(requests(8, GREEDY));
        requests.add(new GenerationRequest("logprobs", ExecutorTests.prompt(9, 7), 12,
                SamplingConfig.builder().temperature(0).logprobs(2).build()));
        requests.add(new GenerationRequest("penalty", ExecutorTests.prompt(10, 9), 12,
                SamplingConfig.builder().temperature(0).repetitionPenalty(1.3f).build()));
        var plain = run(executor(cpu(16 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), true), requests);
        AsyncRunner runner = async(16 * MAX_SEQ_LEN, 16);
        var ex = executor(runner, SchedulerConfig.defaults(), true);
        assertSame(run(ex, requests), plain);
        assertThat(runner.errors).isEmpty();
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void aLaunchThatFailsWithAPassInFlightFailsOnlyItsRequestsAndLeaksNothing() throws Exception {
        List<GenerationRequest> requests = requests(12, GREEDY);
        var plain = run(executor(cpu(16 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), true), requests);
        AsyncRunner runner = async(16 * MAX_SEQ_LEN, 16);
        runner.failLaunch = 6; // a decode pass, while the one before it is in flight
        var ex = executor(runner, SchedulerConfig.defaults(), true);
        var results = run(ex, requests);
        int failed = 0;
        for (int i = 0; i < results.size(); i++) {
            if (results.get(i).error() != null) {
                failed++;
                assertThat(results.get(i).error()).hasMessageContaining("injected");
                // what it got before the failed pass is what the plain loop gave
                assertThat(plain.get(i).tokens()).startsWith(results.get(i).tokens().toArray(Integer[]::new));
            } else {
                assertThat(results.get(i).tokens()).as("request %d", i).isEqualTo(plain.get(i).tokens());
            }
        }
        assertThat(failed).isPositive();
        assertThat(runner.errors).isEmpty();
        // the loop serves on
        assertSame(run(ex, List.of(requests.getFirst())), List.of(plain.getFirst()));
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void cancellationsWithAPassInFlightEndEachRequestOnceAndLeakNothing() throws Exception {
        AsyncRunner runner = async(12 * MAX_SEQ_LEN, 16);
        var ex = executor(runner, new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, 16, 256, true), true);
        var rnd = new SplittableRandom(7);
        var ends = new ConcurrentHashMap<String, AtomicInteger>();
        var tokensAfterEnd = new AtomicInteger();
        List<CompletableFuture<Void>> done = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 120; i++) {
            String id = "c-" + i;
            ids.add(id);
            var finished = new CompletableFuture<Void>();
            done.add(finished);
            int promptLength = 1 + rnd.nextInt(40);
            int maxTokens = 1 + rnd.nextInt(MAX_SEQ_LEN - promptLength);
            ex.submit(new GenerationRequest(id, ExecutorTests.prompt(i, promptLength), maxTokens, GREEDY), new GenerationListener() {
                @Override
                public void onToken(SampledToken token, @Nullable FinishReason finish) {
                    if (finished.isDone()) {
                        tokensAfterEnd.incrementAndGet();
                    }
                }

                @Override
                public void onFinish(FinishReason reason, RequestStats stats) {
                    ends.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
                    finished.complete(null);
                }

                @Override
                public void onFailure(Throwable error) {
                    ends.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
                    finished.completeExceptionally(error);
                }
            });
            if (rnd.nextInt(3) == 0) {
                Thread.sleep(rnd.nextInt(4));
                ex.abort(ids.get(rnd.nextInt(ids.size())));
            }
        }
        CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get(120, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(ends).hasSize(120);
        assertThat(ends.values()).allMatch(n -> n.get() == 1);
        assertThat(tokensAfterEnd.get()).isZero();
        assertThat(runner.errors).isEmpty();
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    /**
     * A guide stand-in whose mask follows from the sequence's last token: tokens {@code t} with {@code t % 4} equal to
     * the last token's are banned (one shared instance per residue, as a guide shares its masks), and {@code end}, when
     * given, only after a token {@code % 4 == 1}. A mask computed before the last token is known (the placeholder of a
     * token still being chosen) bans other tokens, so the outputs would differ from the plain loop's.
     */
    static final class LastTokenMask implements TokenMask {
        final Bitmask[] byResidue = new Bitmask[4];

        LastTokenMask(int vocab, int end) {
            for (int k = 0; k < 4; k++) {
                long[] words = new long[TokenBitmask.words(vocab)];
                for (int t = 0; t < vocab; t++) {
                    if (t % 4 != k && (t != end || k == 1)) {
                        words[t >>> 6] |= 1L << t;
                    }
                }
                byResidue[k] = Bitmask.owning(words);
            }
        }

        @Override
        public void apply(float[] logits, int offset, int vocab, SamplingState state) {
            bitmask(state, vocab).apply(logits, offset, vocab);
        }

        @Override
        public boolean hasBitmask() {
            return true;
        }

        @Override
        public void fillBitmask(long[] words, SamplingState state) {
            bitmask(state, words.length * 64).copyTo(words);
        }

        @Override
        public Bitmask bitmask(SamplingState state, int vocab) {
            return byResidue[state.token(state.length() - 1) % 4];
        }
    }

    static SamplingConfig guided(SamplingConfig config, int vocab, int end) {
        LastTokenMask mask = new LastTokenMask(vocab, end);
        return config.withGuide(() -> mask);
    }

    @Test
    void guidedSequencesOverlapWithTheirMasksGivenAfterTheLaunchAndEqualThePlainLoop() throws Exception {
        int vocab = config.vocabSize();
        var seeded = SamplingConfig.builder().temperature(0.9f).topK(40).topP(0.95f).seed(5L).build();
        List<GenerationRequest> all = new ArrayList<>();
        for (GenerationRequest r : requests(16, GREEDY)) {
            // guided and free rows mixed in every pass
            SamplingConfig sampling = all.size() % 2 == 0 ? guided(GREEDY, vocab, -1) : GREEDY;
            all.add(new GenerationRequest(r.requestId(), r.promptTokenIds(), 20 + all.size(), sampling));
        }
        for (GenerationRequest r : requests(8, seeded)) {
            all.add(new GenerationRequest("s" + r.requestId(), r.promptTokenIds(), 24, guided(seeded, vocab, -1)));
        }
        var plain = run(executor(cpu(24 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), true), all);
        AsyncRunner runner = async(24 * MAX_SEQ_LEN, 16);
        runner.masksLater = true;
        var ex = executor(runner, SchedulerConfig.defaults(), true);
        assertSame(run(ex, all), plain);
        assertThat(runner.laterMasks.get()).as("masks given after their pass was launched").isPositive();
        assertThat(runner.launchesWhileInFlight.get()).as("passes launched while one computed").isPositive();
        assertThat(runner.errors).isEmpty();
        ExecutorTests.assertNoBlocksHeld(ex);
        // Each guided request alone (overlapped) gives what it gave among the others.
        for (int i : new int[] {0, 2, 17}) {
            assertSame(run(ex, List.of(all.get(i))), List.of(plain.get(i)));
        }
        // Without masks late, guided passes are awaited before the next is launched: the same tokens, none given late.
        AsyncRunner fallback = async(24 * MAX_SEQ_LEN, 16);
        var fallbackEx = executor(fallback, SchedulerConfig.defaults(), true);
        assertSame(run(fallbackEx, all), plain);
        assertThat(fallback.laterMasks.get()).isZero();
        ExecutorTests.assertNoBlocksHeld(fallbackEx);
    }

    @Test
    void aGuidedSequenceThatEndsWithAPassInFlightDropsThatPassesTokenAndGetsNoMaskForIt() throws Exception {
        int vocab = config.vocabSize();
        int[] prompt = ExecutorTests.prompt(5, 12);
        var plainEx = executor(cpu(4 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), false);
        // The end token: one the guided greedy output takes where the mask allows it.
        var free = run(plainEx, List.of(new GenerationRequest("free", prompt, 30, guided(GREEDY, vocab, -1)))).getFirst();
        int at = -1;
        for (int i = 1; i < free.tokens().size(); i++) {
            if (free.tokens().get(i - 1) % 4 == 1) {
                at = i;
                break;
            }
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(at > 0, "no token after one of residue 1 in the output");
        int end = free.tokens().get(at);
        var stopping = guided(SamplingConfig.builder().temperature(0).endTokenIds(end).build(), vocab, end);
        var request = new GenerationRequest("stop", prompt, 30, stopping);
        var plain = run(plainEx, List.of(request));
        assertThat(plain.getFirst().reason()).isEqualTo(FinishReason.STOP);
        AsyncRunner runner = async(4 * MAX_SEQ_LEN, 16);
        runner.masksLater = true;
        var ex = executor(runner, SchedulerConfig.defaults(), false);
        var collector = new ExecutorTests.Collector();
        ex.submit(request, collector);
        var overlapped = List.of(collector.await());
        assertSame(overlapped, plain);
        int generated = plain.getFirst().tokens().size();
        for (int i = 0; i < 100 && runner.passes.get() < generated + 1; i++) {
            Thread.sleep(5);
        }
        assertThat(runner.passes.get()).as("one pass past the end").isEqualTo(generated + 1);
        Thread.sleep(50);
        // Masks late for every decode pass but the last (the sequence had ended: none given for it).
        assertThat(runner.laterMasks.get()).isEqualTo(generated - 1);
        assertThat(collector.tokens).isEqualTo(plain.getFirst().tokens());
        ExecutorTests.assertNoBlocksHeld(ex);
    }

    @Test
    void masksTheRunnerRefusesFailOnlyThatPassesRequestsAndTheLoopServesOn() throws Exception {
        int vocab = config.vocabSize();
        List<GenerationRequest> requests = requests(10, GREEDY).stream()
                .map(r -> new GenerationRequest(r.requestId(), r.promptTokenIds(), 24, guided(GREEDY, vocab, -1))).toList();
        var plain = run(executor(cpu(16 * MAX_SEQ_LEN, 16), SchedulerConfig.defaults(), true), requests);
        AsyncRunner runner = async(16 * MAX_SEQ_LEN, 16);
        runner.masksLater = true;
        runner.failMasks = 4;
        var ex = executor(runner, SchedulerConfig.defaults(), true);
        var results = run(ex, requests);
        int failed = 0;
        for (int i = 0; i < results.size(); i++) {
            if (results.get(i).error() != null) {
                failed++;
                assertThat(results.get(i).error()).hasMessageContaining("injected");
                assertThat(plain.get(i).tokens()).startsWith(results.get(i).tokens().toArray(Integer[]::new));
            } else {
                assertThat(results.get(i).tokens()).as("request %d", i).isEqualTo(plain.get(i).tokens());
            }
        }
        assertThat(failed).as("the requests of the pass whose masks were refused").isPositive();
        assertThat(runner.errors).isEmpty();
        assertSame(run(ex, List.of(requests.getFirst())), List.of(plain.getFirst()));
        ExecutorTests.assertNoBlocksHeld(ex);
    }
}
