package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.executor.ExecutorTests.Collector;
import io.trtllm.executor.ExecutorTests.Result;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.testing.Gen;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * For any sizes a caller can put in a request (prompt length, max_tokens, min_tokens, logprobs and
 * prompt logprobs counts, extremes included), the executor either refuses the request with an
 * {@link IllegalArgumentException} before queueing it, or runs it to a normal end: never a failure
 * from inside the loop, never the loop stopped, never a block left held. On the tiny random Llama-3
 * checkpoint of the parity tests (vocab 256, max_seq_len 128).
 */
class ExecutorRequestSizePropertyTests {
    static final int MAX_SEQ_LEN = ExecutorTests.MAX_SEQ_LEN;
    static final AtomicInteger IDS = new AtomicInteger();

    static Checkpoint weights;
    static CpuModelRunner runner;
    static Executor executor;

    @BeforeAll
    static void open() throws Exception {
        Path dir = Path.of(ExecutorRequestSizePropertyTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
        weights = Checkpoint.open(dir);
        runner = new CpuModelRunner(ModelConfig.load(dir), weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 1);
        executor = new Executor(runner, new Executor.Config(SchedulerConfig.defaults(), 64, MAX_SEQ_LEN, true));
    }

    @AfterAll
    static void close() {
        try {
            everyOutcomeWasSeen();
        } finally {
            executor.close();
            runner.close();
            weights.close();
        }
    }

    private static final Gen.Outcomes OUTCOMES = new Gen.Outcomes();

    /**
     * Mostly small values (so that many requests fit and run), then values around max_seq_len, near
     * 2^31 - 1, and any int (edges included: 0, ±1, Integer.MIN_VALUE, Integer.MAX_VALUE).
     */
    static int size(Gen g) {
        return g.frequency(8, () -> g.intBetween(0, 40), 2, () -> g.intBetween(MAX_SEQ_LEN - 4, MAX_SEQ_LEN + 4),
                1, () -> g.intBetween(Integer.MAX_VALUE - 300, Integer.MAX_VALUE), 1, g::anyInt);
    }

    static int promptLength(Gen g) {
        return g.frequency(8, () -> g.intBetween(0, 40), 2, () -> g.intBetween(MAX_SEQ_LEN - 4, MAX_SEQ_LEN + 4),
                1, () -> 1 << 16);
    }

    /** Logprob counts: mostly none (-1) or a few, then around the vocabulary's 256, and any int. */
    static int count(Gen g) {
        return g.frequency(8, () -> g.intBetween(-1, 5), 2, () -> g.intBetween(250, 260), 1, g::anyInt);
    }

    static Stream<Long> seeds() {
        return Gen.seeds("ExecutorRequestSizePropertyTests", 250);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void aRequestOfAnySizeIsRefusedBeforeItIsQueuedOrRunsToANormalEnd(long seed) throws Exception {
        Gen g = new Gen(seed);
        int promptLength = promptLength(g);
        int maxTokens = size(g);
        int minTokens = size(g);
        int logprobs = count(g);
        int promptLogprobs = count(g);
        boolean sampled = g.bool();
        try {
            run(promptLength, maxTokens, minTokens, logprobs, promptLogprobs, sampled);
        } finally {
            ExecutorTests.assertNoBlocksHeld(executor);
            assertThat(executor.stats().alive()).isTrue();
            // Stats are a snapshot taken after each iteration: a request admitted and finished in one pass
            // (max_tokens 1) completes before the snapshot that no longer counts it as waiting.
            for (int i = 0; i < 100 && executor.stats().waiting() != 0; i++) {
                Thread.sleep(10);
            }
            assertThat(executor.stats().waiting()).isZero();
        }
    }

    private void run(int promptLength, int maxTokens, int minTokens, int logprobs, int promptLogprobs, boolean sampled)
            throws Exception {
        GenerationRequest request;
        try {
            // End id 2 (the checkpoint's EOS) may end a request early, once min_tokens allow it.
            var sampling = SamplingConfig.builder().temperature(sampled ? 0.8f : 0f).seed(7L).minTokens(minTokens)
                    .endTokenIds(2).logprobs(logprobs).build();
            request = new GenerationRequest("size-" + IDS.incrementAndGet(), promptLength == 0 ? new int[0] : ExecutorTests.prompt(promptLength, promptLength),
                    maxTokens, sampling, 0, promptLogprobs);
        } catch (IllegalArgumentException refusedWhereBuilt) {
            OUTCOMES.count("refused where built");
            return;
        }
        var listener = new Collector();
        try {
            executor.submit(request, listener);
        } catch (IllegalArgumentException refused) {
            OUTCOMES.count("refused at submit");
            assertThat(executor.stats().waiting()).isZero();
            return;
        }
        OUTCOMES.count("ran");
        Result r = listener.await();
        assertThat(r.error()).as("a failure from inside the executor").isNull();
        assertThat(r.reason()).isIn(FinishReason.LENGTH, FinishReason.STOP);
        assertThat(r.tokens()).hasSizeBetween(1, maxTokens);
        assertThat((long) promptLength + maxTokens).isLessThanOrEqualTo(MAX_SEQ_LEN);
        assertThat(executor.failure()).isNull();
    }

    /** Each outcome came often enough for the property to say something about it. */
    private static void everyOutcomeWasSeen() {
        if (Gen.Outcomes.singleSeed()) {
            return;
        }
        assertThat(OUTCOMES.of("ran")).as(OUTCOMES.toString()).isGreaterThanOrEqualTo(30);
        assertThat(OUTCOMES.of("refused at submit")).as(OUTCOMES.toString()).isGreaterThanOrEqualTo(30);
        assertThat(OUTCOMES.of("refused where built")).as(OUTCOMES.toString()).isGreaterThanOrEqualTo(15);
    }
}
