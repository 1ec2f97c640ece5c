package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.executor.ExecutorTests.Collector;
import io.trtllm.executor.ExecutorTests.Result;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.cpu.CpuModelRunner;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeContainer;

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

    @BeforeContainer
    static void open() throws Exception {
        Path dir = Path.of(ExecutorRequestSizePropertyTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
        weights = Checkpoint.open(dir);
        runner = new CpuModelRunner(ModelConfig.load(dir), weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 1);
        executor = new Executor(runner, new Executor.Config(SchedulerConfig.defaults(), 64, MAX_SEQ_LEN, true));
    }

    @AfterContainer
    static void close() {
        executor.close();
        runner.close();
        weights.close();
    }

    /**
     * Mostly small values (so that many requests fit and run), then values around max_seq_len, near
     * 2^31 - 1, and any int (jqwik adds the edge cases: 0, ±1, Integer.MIN_VALUE, Integer.MAX_VALUE).
     */
    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> sizes() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.integers().between(0, 40)),
                Tuple.of(2, Arbitraries.integers().between(MAX_SEQ_LEN - 4, MAX_SEQ_LEN + 4)),
                Tuple.of(1, Arbitraries.integers().between(Integer.MAX_VALUE - 300, Integer.MAX_VALUE)),
                Tuple.of(1, Arbitraries.integers()));
    }

    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> promptLengths() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.integers().between(0, 40)),
                Tuple.of(2, Arbitraries.integers().between(MAX_SEQ_LEN - 4, MAX_SEQ_LEN + 4)),
                Tuple.of(1, Arbitraries.just(1 << 16)));
    }

    /** Logprob counts: mostly none (-1) or a few, then around the vocabulary's 256, and any int. */
    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> counts() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.integers().between(-1, 5)),
                Tuple.of(2, Arbitraries.integers().between(250, 260)),
                Tuple.of(1, Arbitraries.integers()));
    }

    @Property(tries = 250)
    void aRequestOfAnySizeIsRefusedBeforeItIsQueuedOrRunsToANormalEnd(
            @ForAll("promptLengths") int promptLength, @ForAll("sizes") int maxTokens, @ForAll("sizes") int minTokens,
            @ForAll("counts") int logprobs, @ForAll("counts") int promptLogprobs, @ForAll boolean sampled) throws Exception {
        GenerationRequest request;
        try {
            // End id 2 (the checkpoint's EOS) may end a request early, once min_tokens allow it.
            var sampling = SamplingConfig.builder().temperature(sampled ? 0.8f : 0f).seed(7L).minTokens(minTokens)
                    .endTokenIds(2).logprobs(logprobs).build();
            request = new GenerationRequest("size-" + IDS.incrementAndGet(), promptLength == 0 ? new int[0] : ExecutorTests.prompt(promptLength, promptLength),
                    maxTokens, sampling, 0, promptLogprobs);
        } catch (IllegalArgumentException refusedWhereBuilt) {
            Statistics.label("outcome").collect("refused where built");
            return;
        }
        var listener = new Collector();
        try {
            executor.submit(request, listener);
        } catch (IllegalArgumentException refused) {
            Statistics.label("outcome").collect("refused at submit");
            assertThat(executor.stats().waiting()).isZero();
            return;
        }
        Statistics.label("outcome").collect("ran");
        Result r = listener.await();
        assertThat(r.error()).as("a failure from inside the executor").isNull();
        assertThat(r.reason()).isIn(FinishReason.LENGTH, FinishReason.STOP);
        assertThat(r.tokens()).hasSizeBetween(1, maxTokens);
        assertThat((long) promptLength + maxTokens).isLessThanOrEqualTo(MAX_SEQ_LEN);
        assertThat(executor.failure()).isNull();
    }

    @AfterProperty
    void nothingIsHeldAndTheLoopRuns() throws InterruptedException {
        // Each outcome came often enough for the property to say something about it.
        Statistics.label("outcome").coverage(c -> {
            c.check("ran").count(n -> n >= 30);
            c.check("refused at submit").count(n -> n >= 30);
            c.check("refused where built").count(n -> n >= 15);
        });
        ExecutorTests.assertNoBlocksHeld(executor);
        assertThat(executor.stats().alive()).isTrue();
        assertThat(executor.stats().waiting()).isZero();
    }
}
