package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.QueueFullException;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.SchedulerPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The executor's soak on the CUDA backend: 500 requests of random lengths, greedy and sampled (the
 * latter drawn on the device), a queue that fills, random cancellations, and a KV cache small
 * enough that MAX_UTILIZATION preempts. Every request ends once, nothing fails, the engine returns
 * to idle with no KV block held, and after close() the device has its memory back. Model: the system
 * property {@code trtllm.gpu.model} (scripts/gpu-test.sh ships the BF16 engine), else stories15M.
 */
@Tag("gpu")
class CudaSoakGpuTests {

    @Test
    void soakOf500RequestsWithCancellationsEndsEachOnceAndGivesTheDeviceMemoryBack() throws Exception {
        String model = System.getProperty("trtllm.gpu.model", "stories15M");
        int maxSeqLen = 128;
        // A first engine loads the CUDA context, cuBLAS and the kernel cache; then measure.
        new LLM(LlmArgs.builder(model).backend("cuda").maxSeqLen(maxSeqLen).build()).close();
        long before = DeviceMemory.freeBytes();
        var rnd = new SplittableRandom(2026);
        int rejected = 0;
        int cancelled = 0;
        int finished = 0;
        long generated = 0;
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        long during;
        try (LLM llm = new LLM(LlmArgs.builder(model).backend("cuda").maxSeqLen(maxSeqLen).maxBatchSize(32)
                .maxQueueSize(48).schedulerPolicy(SchedulerPolicy.MAX_UTILIZATION)
                .kvCacheConfig(new KvCacheConfig(16 * maxSeqLen, 0.25, true, 16)).build())) {
            during = DeviceMemory.freeBytes();
            long held = llm.deviceMemoryBytes();
            GpuResults.record("soak: the engine reports %d MiB of device memory held; cudaMemGetInfo says %d MiB were taken",
                    held >> 20, (before - during) >> 20);
            assertThat(held).isPositive().isLessThanOrEqualTo(before - during + (64L << 20));
            int freeBlocks = llm.stats().kvCache().freeBlocks();
            int vocab = llm.modelConfig().vocabSize();
            for (int i = 0; i < 500; i++) {
                int length = 1 + rnd.nextInt(60);
                int[] prompt = new int[length];
                for (int j = 0; j < length; j++) {
                    prompt[j] = 3 + rnd.nextInt(vocab - 3);
                }
                int maxTokens = 1 + rnd.nextInt(maxSeqLen - length);
                SamplingParams params = rnd.nextBoolean()
                        ? SamplingParams.builder().maxTokens(maxTokens).temperature(0).ignoreEos(true).build()
                        : SamplingParams.builder().maxTokens(maxTokens).temperature(0.9f).topP(0.9f).seed((long) i).build();
                while (true) {  // a full queue refuses at once; the client retries, so all 500 get in
                    try {
                        futures.add(llm.generateAsync(prompt, params));
                        break;
                    } catch (QueueFullException e) {
                        rejected++;
                        Thread.sleep(5);
                    }
                }
                if (rnd.nextInt(6) == 0 && !futures.isEmpty()) {
                    futures.get(rnd.nextInt(futures.size())).cancel(true);
                }
            }
            List<Throwable> failures = new ArrayList<>();
            for (var f : futures) {
                try {
                    generated += f.get(120, TimeUnit.SECONDS).output().tokenIds().length;
                    finished++;
                } catch (CancellationException e) {
                    cancelled++;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof QueueFullException) {
                        rejected++;
                    } else {
                        failures.add(e.getCause());
                    }
                }
            }
            for (int i = 0; i < 1000 && (llm.stats().running() != 0 || llm.stats().waiting() != 0
                    || llm.stats().kvCache().usedBlocks() != 0); i++) {
                Thread.sleep(10);
            }
            GpuResults.record("soak: %d requests submitted, %d finished (%d tokens), %d cancelled, %d rejected by the full "
                    + "queue (then retried), %d failed; KV blocks used after: %d", futures.size(), finished, generated, cancelled, rejected,
                    failures.size(), llm.stats().kvCache().usedBlocks());
            assertThat(failures).isEmpty();
            assertThat(rejected).as("the queue filled at times").isPositive();
            assertThat(cancelled).isPositive();
            assertThat(futures).hasSize(500);
            assertThat(finished + cancelled + failures.size()).isEqualTo(futures.size());
            assertThat(llm.stats().running()).isZero();
            assertThat(llm.stats().waiting()).isZero();
            assertThat(llm.stats().kvCache().usedBlocks()).isZero();
            assertThat(llm.stats().kvCache().freeBlocks()).isEqualTo(freeBlocks);
        }
        long after = DeviceMemory.freeBytes();
        GpuResults.record("soak: device memory free %d MiB before, %d MiB with the engine, %d MiB after close",
                before >> 20, during >> 20, after >> 20);
        assertThat(during).isLessThan(before);
        assertThat(Math.abs(after - before)).as("device memory after close, ± 64 MiB of workspace").isLessThan(64L << 20);
    }
}
