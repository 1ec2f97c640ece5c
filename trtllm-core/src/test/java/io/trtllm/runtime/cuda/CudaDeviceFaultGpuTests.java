package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A real device fault in the middle of serving: with the pass hook {@link FaultOnToken} installed in the
 * runner, the pass that holds the poisoned token first runs a kernel that writes to an unmapped address (an
 * illegal memory access: a sticky error, the CUDA context is unusable from then on). The requests in
 * flight fail within a bounded time with an error naming the CUDA error; the engine reports itself
 * broken ({@link LLM#failure()}, stats not alive: Spring's health indicator is DOWN with that error);
 * a new request is refused at once, naming it; close() still returns.
 *
 * <p>Tagged {@code gpu-fault} as well as {@code gpu}: the error poisons the whole process's CUDA
 * context, so scripts/gpu-test.sh runs this class in a JVM of its own, after the other GPU tests.
 * Model: the system property {@code trtllm.gpu.model}, else stories15M (vocabulary of 32,000).
 */
@Tag("gpu")
@Tag("gpu-fault")
class CudaDeviceFaultGpuTests {
    private static final int POISON = 31_999;
    private static final int IN_FLIGHT = 8;

    @Test
    void anIllegalAddressFailsTheRequestsInFlightAndTheEngineReportsItselfBroken() throws Exception {
        String model = System.getProperty("trtllm.gpu.model", "stories15M");
        CudaModelRunner.installPassHook(new FaultOnToken(POISON));
        LLM llm;
        try {
            llm = new LLM(LlmArgs.builder(model).backend("cuda").maxBatchSize(16).build());
        } finally {
            CudaModelRunner.installPassHook(null);
        }
        try {
            assertThat(llm.modelConfig().vocabSize()).isGreaterThan(POISON);
            var greedy = SamplingParams.builder().maxTokens(200).temperature(0).ignoreEos(true).build();
            List<CompletableFuture<RequestOutput>> inFlight = new ArrayList<>();
            for (int i = 0; i < IN_FLIGHT; i++) {
                inFlight.add(llm.generateAsync("Once upon a time", greedy));
            }
            for (int i = 0; i < 10_000 && llm.stats().running() < IN_FLIGHT; i++) {
                Thread.sleep(1);
            }
            assertThat(llm.stats().running()).as("requests in flight before the fault").isEqualTo(IN_FLIGHT);

            long start = System.nanoTime();
            var poisoned = llm.generateAsync(new int[] {1, POISON}, SamplingParams.builder().maxTokens(4).temperature(0).build());
            Throwable poisonError = failure(poisoned);
            int failed = 0;
            int finished = 0;
            for (var f : inFlight) {
                Throwable error = failure(f);
                if (error == null) {
                    finished++;
                } else {
                    assertThat(error).hasMessageContaining("illegal memory access");
                    failed++;
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            GpuResults.record("device fault (illegal address) with %d requests in flight: %d failed, %d had finished, within "
                    + "%.2f s; the poisoned request: %s; LLM.failure(): %s", IN_FLIGHT, failed, finished, seconds, poisonError,
                    llm.failure());
            assertThat(poisonError).isInstanceOf(CudaException.class).hasMessageContaining("illegal memory access");
            assertThat(failed).as("requests in flight that failed with the device error").isPositive();
            assertThat(seconds).as("seconds until every request ended").isLessThan(30);

            assertThat(llm.failure()).isInstanceOf(CudaException.class).hasMessageContaining("illegal memory access");
            for (int i = 0; i < 100 && llm.stats().alive(); i++) {
                Thread.sleep(10);
            }
            assertThat(llm.stats().alive()).isFalse();
            long refused = System.nanoTime();
            assertThatThrownBy(() -> llm.generateAsync("Once upon a time", greedy)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("illegal memory access");
            assertThat(System.nanoTime() - refused).as("a new request is refused at once").isLessThan(TimeUnit.SECONDS.toNanos(1));
        } finally {
            long closing = System.nanoTime();
            CompletableFuture.runAsync(llm::close).get(60, TimeUnit.SECONDS); // a hang fails the test here
            GpuResults.record("device fault: close() returned in %.2f s", (System.nanoTime() - closing) / 1e9);
        }
    }

    /** The error a request ended with (null when it finished), waiting at most 30 seconds. */
    private static Throwable failure(CompletableFuture<RequestOutput> f) throws InterruptedException, TimeoutException {
        try {
            f.get(30, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }
}
