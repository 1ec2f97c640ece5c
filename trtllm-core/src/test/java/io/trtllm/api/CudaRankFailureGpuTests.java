package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.engine.WarmUp;
import io.trtllm.runtime.cuda.GpuResults;
import io.trtllm.runtime.cuda.RankFaults;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failing rank fails a split CUDA model cleanly: stories15M as TP 2 × PP 2 (on one GPU, every rank on device 0),
 * rank 1 (TP rank 1 of stage 0) throwing at the start of a pass while requests are in flight. The other
 * ranks' exchanges are aborted (the TP peer in its all-reduce, the next stage in its receive), so the request fails
 * within a bound with the rank's error, not after the 5-minute pass timeout; the engine reports itself broken
 * naming the rank ({@link LLM#rankStats()}, {@link LLM#failure()}); close() returns and gives back the device memory
 * the ranks held. Needs an NVIDIA GPU (tag {@code gpu}).
 */
@Tag("gpu")
class CudaRankFailureGpuTests {
    /** Device memory that may stay in use after close (allocator and library caches of the process). */
    private static final long SLACK_BYTES = 256L << 20;
    /** The token whose pass rank 1 fails (stories15M's vocabulary has 32,000). */
    private static final int POISON = 31_999;
    private static final int IN_FLIGHT = 4;

    @TempDir
    Path tmp;

    @Test
    void aRankThatThrowsMidStepFailsTheEngineNamingTheRankAndFreesItsMemory() throws Exception {
        Path checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint"));
        var args = LlmArgs.builder(checkpoint.toString()).backend("cuda").maxSeqLen(128).maxBatchSize(8)
                .cacheDir(tmp.resolve("cache")).tensorParallelSize(2).pipelineParallelSize(2).build();
        // Build the engine once without the fault, so that the free memory measured below is the ranks' only.
        new LLM(args).close();
        long freeBefore = RankFaults.freeDeviceBytes();
        RankFaults.throwOnRank(1, POISON);
        // No warm-up: its passes should not meet the poisoned token, and they cost device time here.
        System.setProperty(WarmUp.BUDGET_PROPERTY, "0");
        LLM llm;
        try {
            llm = new LLM(args);
        } finally {
            RankFaults.clear();
            System.clearProperty(WarmUp.BUDGET_PROPERTY);
        }
        try {
            long loaded = RankFaults.freeDeviceBytes();
            var greedy = SamplingParams.builder().maxTokens(100).temperature(0).ignoreEos(true).build();
            List<CompletableFuture<RequestOutput>> inFlight = new ArrayList<>();
            for (int i = 0; i < IN_FLIGHT; i++) {
                inFlight.add(llm.generateAsync("Once upon a time", greedy));
            }
            for (int i = 0; i < 10_000 && llm.stats().running() < IN_FLIGHT; i++) {
                Thread.sleep(1);
            }
            long start = System.nanoTime();
            var poisoned = llm.generateAsync(new int[] {1, POISON}, SamplingParams.builder().maxTokens(4).temperature(0).build());
            Throwable error = failure(poisoned);
            int failed = 0;
            for (var f : inFlight) {
                Throwable e = failure(f);
                if (e != null) {
                    assertThat(e).hasMessageContaining("injected failure on rank 1");
                    failed++;
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            List<RankStats> ranks = llm.rankStats();
            GpuResults.record("rank failure (TP 2 × PP 2, rank 1 throws mid-serving, %d requests in flight): %d failed, all "
                    + "ended within %.2f s; the poisoned request: %s; LLM.failure(): %s; ranks: %s", IN_FLIGHT, failed, seconds,
                    error, llm.failure(), ranks);
            assertThat(error).as("the request fails with the rank's error").isNotNull()
                    .hasMessageContaining("injected failure on rank 1");
            assertThat(failed).as("requests in flight that failed with it").isPositive();
            assertThat(seconds).as("seconds until every request ended").isLessThan(30);
            assertThat(llm.failure()).isNotNull().hasMessageContaining("injected failure on rank 1");
            assertThat(ranks.get(1).failure()).contains("injected failure on rank 1");
            for (int i = 0; i < 100 && llm.stats().alive(); i++) {
                Thread.sleep(10);
            }
            assertThat(llm.stats().alive()).isFalse();
            GpuResults.record("rank failure: device memory free before loading %d MiB, loaded %d MiB", freeBefore >> 20,
                    loaded >> 20);
        } finally {
            long closing = System.nanoTime();
            CompletableFuture.runAsync(llm::close).get(60, TimeUnit.SECONDS); // a hang fails the test here
            GpuResults.record("rank failure: close() returned in %.2f s", (System.nanoTime() - closing) / 1e9);
        }
        long freeAfter = RankFaults.freeDeviceBytes();
        GpuResults.record("rank failure: device memory free after close %d MiB (before loading %d MiB)", freeAfter >> 20,
                freeBefore >> 20);
        assertThat(freeAfter).as("free device memory after close").isGreaterThan(freeBefore - SLACK_BYTES);
    }

    /** The error a request ended with (null when it finished), waiting at most 30 seconds. */
    private static Throwable failure(CompletableFuture<RequestOutput> f) throws Exception {
        try {
            f.get(30, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }
}
