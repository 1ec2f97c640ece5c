package io.trtllm.executor;

import static io.trtllm.executor.ExecutorTests.assertNoBlocksHeld;
import static io.trtllm.executor.ExecutorTests.greedy;
import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.executor.ExecutorTests.Collector;
import io.trtllm.executor.ExecutorTests.Result;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.sampling.SampledToken;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * One request's failure stays that request's: a failure injected into one sequence's scheduling or KV
 * bookkeeping ({@link StepHook}) fails it alone, with its blocks freed, while the others finish with
 * exactly the outputs they have without it, and the executor serves on. Only errors of the JVM itself
 * stop the loop. On the tiny random Llama-3 checkpoint of the parity tests (vocab 256), greedy.
 */
class ExecutorFaultIsolationTests {
    static final int MAX_SEQ_LEN = ExecutorTests.MAX_SEQ_LEN;
    static final int MAX_TOKENS = 20;
    static final String VICTIM = "req-3";

    Checkpoint weights;
    ModelConfig config;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void open() throws URISyntaxException {
        Path dir = Path.of(ExecutorFaultIsolationTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
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

    Executor executor(SchedulerConfig scheduler, int kvTokens, StepHook hook) {
        var runner = new CpuModelRunner(config, weights, new KvCacheSpec(kvTokens / 16, 16), 2);
        toClose.add(runner);
        var executor = new Executor(runner, new Executor.Config(scheduler, 64, MAX_SEQ_LEN, true), hook);
        toClose.add(executor);
        return executor;
    }

    /** Eight prompts sharing a 32-token prefix (two full blocks, reused between them), then their own tokens. */
    static List<int[]> prompts() {
        int[] shared = ExecutorTests.prompt(77, 32);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int[] own = ExecutorTests.prompt(300 + i, 2 + 3 * i);
            int[] p = Arrays.copyOf(shared, shared.length + own.length - 1);
            System.arraycopy(own, 1, p, shared.length, own.length - 1);
            prompts.add(p);
        }
        return prompts;
    }

    static List<Result> runAll(Executor ex, List<int[]> prompts) throws Exception {
        return runAll(ex, prompts, new CountDownLatch(0));
    }

    /** Submits requests req-0, req-1, ... and counts {@code submitted} down once all are in. */
    static List<Result> runAll(Executor ex, List<int[]> prompts, CountDownLatch submitted) throws Exception {
        List<Collector> collectors = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            var c = new Collector();
            collectors.add(c);
            ex.submit(greedy("req-" + i, prompts.get(i), MAX_TOKENS), c);
        }
        submitted.countDown();
        List<Result> out = new ArrayList<>();
        for (Collector c : collectors) {
            out.add(c.await());
        }
        return out;
    }

    /** The outputs of the same requests on the same configuration without any injected failure. */
    List<List<Integer>> reference(SchedulerConfig scheduler, int kvTokens, List<int[]> prompts) throws Exception {
        return runAll(executor(scheduler, kvTokens, StepHook.NONE), prompts).stream().map(Result::tokens).toList();
    }

    /**
     * A hook that throws at the {@code nth} time {@code step} comes for {@link #VICTIM}. It holds req-0's
     * admission until every request is submitted, so that the iterations are the same on every run: req-0
     * alone first, then the seven others join it.
     */
    static final class FailAt implements StepHook {
        final StepHook.Step step;
        final int nth;
        final RuntimeException failure;
        final CountDownLatch submitted = new CountDownLatch(1);
        final AtomicInteger seen = new AtomicInteger();
        final AtomicReference<@Nullable Executor> executor = new AtomicReference<>();
        /** Sequences running when the failure was thrown (the last iteration's snapshot), or -1. */
        volatile int runningAtFailure = -1;

        FailAt(StepHook.Step step, int nth, String message) {
            this.step = step;
            this.nth = nth;
            this.failure = new IllegalStateException(message);
        }

        @Override
        public void before(StepHook.Step at, String requestId) {
            if (at == StepHook.Step.ADMIT && requestId.equals("req-0")) {
                try {
                    assertThat(submitted.await(30, TimeUnit.SECONDS)).as("all submitted").isTrue();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            if (at == step && requestId.equals(VICTIM) && seen.incrementAndGet() == nth) {
                Executor ex = executor.get();
                runningAtFailure = ex != null ? ex.stats().running() : -1;
                throw failure;
            }
        }
    }

    /** The seven others have their reference outputs, the victim the failure, no block is held, and a new request runs. */
    static void assertOnlyTheVictimFailed(Executor ex, List<Result> results, List<List<Integer>> expected, FailAt hook,
                                          List<int[]> prompts) throws Exception {
        for (int i = 0; i < results.size(); i++) {
            Result r = results.get(i);
            if (("req-" + i).equals(VICTIM)) {
                assertThat(r.error()).as("the victim's error").isSameAs(hook.failure);
                assertThat(r.reason()).isNull();
            } else {
                assertThat(r.error()).as("request %d's error", i).isNull();
                assertThat(r.reason()).as("request %d", i).isEqualTo(FinishReason.LENGTH);
                assertThat(r.tokens()).as("request %d's output", i).isEqualTo(expected.get(i));
            }
        }
        assertNoBlocksHeld(ex);
        assertThat(ex.failure()).isNull();
        assertThat(ex.stats().alive()).isTrue();
        // The executor serves on: the victim's request again, now without a failure, gives its reference output.
        var again = new Collector();
        ex.submit(greedy("again", prompts.get(3), MAX_TOKENS), again);
        Result r = again.await();
        assertThat(r.error()).isNull();
        assertThat(r.tokens()).isEqualTo(expected.get(3));
        assertNoBlocksHeld(ex);
    }

    @Test
    void aFailureInTheKvBookkeepingOfOneOfEightRunningFailsOnlyThatOne() throws Exception {
        var scheduler = SchedulerConfig.defaults();
        List<int[]> prompts = prompts();
        var expected = reference(scheduler, 16 * MAX_SEQ_LEN, prompts);
        // The victim's 4th commit: after its prefill and 3 decode steps, with all eight running.
        var hook = new FailAt(StepHook.Step.COMMIT, 4, "injected: KV commit of req-3 broke");
        var ex = executor(scheduler, 16 * MAX_SEQ_LEN, hook);
        hook.executor.set(ex);
        var results = runAll(ex, prompts, hook.submitted);
        assertThat(hook.runningAtFailure).as("sequences running when the failure hit").isEqualTo(8);
        assertThat(results.get(3).tokens()).as("the victim's tokens before its failure").hasSize(3);
        assertOnlyTheVictimFailed(ex, results, expected, hook, prompts);
    }

    @Test
    void aFailureWhileAdmittingOneOfEightFailsOnlyThatOneAndTheOthersAreStillAdmitted() throws Exception {
        var scheduler = SchedulerConfig.defaults();
        List<int[]> prompts = prompts();
        var expected = reference(scheduler, 16 * MAX_SEQ_LEN, prompts);
        // req-0 runs; the seven others come in one admission loop, which meets the victim between req-2 and req-4.
        var hook = new FailAt(StepHook.Step.ADMIT, 1, "injected: admission of req-3 broke");
        var ex = executor(scheduler, 16 * MAX_SEQ_LEN, hook);
        var results = runAll(ex, prompts, hook.submitted);
        assertThat(results.get(3).tokens()).isEmpty();
        assertOnlyTheVictimFailed(ex, results, expected, hook, prompts);
        assertThat(ex.stats().waiting()).isZero();
    }

    @Test
    void aFailureWhileGrowingOneRunningSequenceUnderPreemptionFailsOnlyThatOne() throws Exception {
        // Room for about three of the eight: blocks grow every 16 tokens, sequences are preempted and recomputed.
        var scheduler = new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, 8, 512, true);
        List<int[]> prompts = prompts();
        var expected = reference(scheduler, 160, prompts);
        var hook = new FailAt(StepHook.Step.SCHEDULE, 6, "injected: growing req-3's blocks broke");
        var ex = executor(scheduler, 160, hook);
        var results = runAll(ex, prompts, hook.submitted);
        assertOnlyTheVictimFailed(ex, results, expected, hook, prompts);
    }

    @Test
    void aListenerThatThrowsAnErrorFailsOnlyItsRequest() throws Exception {
        var ex = executor(SchedulerConfig.defaults(), 16 * MAX_SEQ_LEN, StepHook.NONE);
        var broken = new Collector() {
            @Override
            public void onToken(SampledToken token, @Nullable FinishReason finish) {
                super.onToken(token, finish);
                if (tokens.size() == 2) {
                    throw new AssertionError("listener bug");
                }
            }
        };
        var fine = new Collector();
        ex.submit(greedy("broken", ExecutorTests.prompt(1, 6), MAX_TOKENS), broken);
        ex.submit(greedy("fine", ExecutorTests.prompt(2, 6), MAX_TOKENS), fine);
        assertThat(broken.await().error()).isInstanceOf(AssertionError.class).hasMessage("listener bug");
        assertThat(fine.await().tokens()).hasSize(MAX_TOKENS);
        assertNoBlocksHeld(ex);
        assertThat(ex.stats().alive()).isTrue();
    }

    @Test
    void anErrorOfTheJvmItselfStillStopsTheLoopFailingEveryRequest() throws Exception {
        // Out of memory is nobody's request in particular: the loop stops as for a broken device.
        var oom = new OutOfMemoryError("injected: Java heap space");
        StepHook hook = (step, requestId) -> {
            if (step == StepHook.Step.COMMIT && requestId.equals("req-1")) {
                throw oom;
            }
        };
        var ex = executor(SchedulerConfig.defaults(), 16 * MAX_SEQ_LEN, hook);
        var results = runAll(ex, prompts().subList(0, 3));
        for (Result r : results) {
            assertThat(r.error()).isSameAs(oom);
        }
        assertThat(ex.failure()).isSameAs(oom);
        assertNoBlocksHeld(ex);
    }
}
