package io.trtllm.spring.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.EngineStats;
import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RankStats;
import io.trtllm.executor.Executor;
import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationListener;
import io.trtllm.executor.GenerationRequest;
import io.trtllm.executor.KvCacheManager;
import io.trtllm.executor.RequestStats;
import io.trtllm.executor.SchedulerConfig;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.spring.testing.SharedLlm;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;

/**
 * UP with details on a running engine, DOWN with the cause when its loop died (a device error that left
 * the backend unusable, say), DOWN once closed.
 */
class TrtLlmHealthIndicatorIT {

    @Test
    void aRunningEngineIsUpWithDetails() {
        LLM llm = SharedLlm.get();

        Health health = new TrtLlmHealthIndicator(llm).health();

        assertThat(health.getStatus()).isEqualTo(Status.UP);
        assertThat(health.getDetails()).containsEntry("model", llm.modelDirectory().toString())
                .containsEntry("requestsRunning", 0).containsEntry("requestsQueued", 0)
                .containsEntry("kvCacheBlocksTotal", llm.stats().kvCache().numBlocks())
                .containsKeys("kvCacheBlocksUsed", "kvCacheUtilization");
        assertThat((String) health.getDetails().get("backend")).startsWith("cpu [");
    }

    @Test
    void aDeadLoopIsDownWithItsCause() {
        var kv = new EngineStats.KvCache(100, 25, 75, 0, 0, 0);
        var stats = new EngineStats(false, 0, 3, kv, 10, 0, 0);

        Health health = TrtLlmHealthIndicator.health(stats, new OutOfMemoryError("Java heap space"), "cpu", "/m");

        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails()).containsEntry("error", "java.lang.OutOfMemoryError: Java heap space")
                .containsEntry("kvCacheUtilization", 0.25).containsEntry("requestsQueued", 3);
    }

    @Test
    void aFailedRankIsDownNamingTheRankAndEveryRankIsShown() {
        var kv = new EngineStats.KvCache(100, 0, 100, 0, 0, 0);
        var stats = new EngineStats(true, 0, 0, kv, 10, 0, 0);
        var ok = new RankStats(0, "rank 0 (TP rank 0 of 2)", 10, 2_500_000, 1L << 30, null);
        var failed = new RankStats(1, "rank 1 (TP rank 1 of 2)", 10, 4_000_000, 1L << 30, "CUDA error 700");

        Health up = TrtLlmHealthIndicator.health(stats, null, "cuda", "/m", List.of(ok));
        Health down = TrtLlmHealthIndicator.health(stats, null, "cuda", "/m", List.of(ok, failed));

        assertThat(up.getStatus()).isEqualTo(Status.UP);
        assertThat(down.getStatus()).isEqualTo(Status.DOWN);
        assertThat(down.getDetails()).containsEntry("reason", "rank 1 failed: CUDA error 700");
        @SuppressWarnings("unchecked")
        var ranks = (List<Map<String, Object>>) down.getDetails().get("ranks");
        assertThat(ranks).hasSize(2);
        assertThat(ranks.get(0)).containsEntry("passes", 10L).containsEntry("lastPassMillis", 2.5)
                .containsEntry("deviceMemoryBytes", 1L << 30).doesNotContainKey("failure");
        assertThat(ranks.get(1)).containsEntry("failure", "CUDA error 700");
    }

    @Test
    void anEngineWhoseRunnerBrokeIsDownWithTheDeviceError() throws Exception {
        ModelConfig config = SharedLlm.get().modelConfig();
        var deviceError = new IllegalStateException("CUDA error in cudaStreamSynchronize: an illegal memory access was "
                + "encountered (700)");
        // What the CUDA runner does after an illegal address: the pass fails, and it reports itself unusable.
        var broken = new ModelRunner() {
            volatile @Nullable Throwable failure;

            @Override
            public ModelConfig config() {
                return config;
            }

            @Override
            public KvCacheSpec kvCache() {
                return new KvCacheSpec(4, 16);
            }

            @Override
            public String backend() {
                return "cuda";
            }

            @Override
            public ForwardResult forward(Batch batch) {
                failure = deviceError;
                throw deviceError;
            }

            @Override
            public @Nullable Throwable failure() {
                return failure;
            }

            @Override
            public void close() {
            }
        };
        try (var executor = new Executor(broken, new Executor.Config(SchedulerConfig.defaults(), 8, 32, false))) {
            var failed = new CompletableFuture<Throwable>();
            executor.submit(new GenerationRequest("r", new int[] {1, 2}, 4, SamplingConfig.builder().build()),
                    new GenerationListener() {
                        @Override
                        public void onToken(SampledToken token, @Nullable FinishReason finish) {
                        }

                        @Override
                        public void onFinish(FinishReason reason, RequestStats stats) {
                            failed.complete(null);
                        }

                        @Override
                        public void onFailure(Throwable error) {
                            failed.complete(error);
                        }
                    });
            assertThat(failed.get(10, TimeUnit.SECONDS)).isSameAs(deviceError);

            Health health = TrtLlmHealthIndicator.health(engineStats(executor.stats()), executor.failure(), "cuda", "/m");

            assertThat(health.getStatus()).isEqualTo(Status.DOWN);
            assertThat(health.getDetails()).containsEntry("error", deviceError.toString());
            assertThat((String) health.getDetails().get("error")).contains("illegal memory access");
        }
    }

    /** The executor's snapshot as {@link LLM#stats()} reports it. */
    private static EngineStats engineStats(Executor.Stats s) {
        KvCacheManager.Stats kv = s.kvCache();
        return new EngineStats(s.alive(), s.running(), s.waiting(), new EngineStats.KvCache(kv.numBlocks(), kv.usedBlocks(),
                kv.freeBlocks(), kv.cachedBlocks(), kv.reuseHitBlocks(), kv.reuseHitTokens()), s.iterations(),
                s.lastBatchSize(), s.lastBatchTokens());
    }

    @Test
    void aClosedEngineIsDown() {
        LLM llm = new LLM(LlmArgs.builder("stories15M").threads(1).maxSeqLen(32).build());
        var indicator = new TrtLlmHealthIndicator(llm);
        assertThat(indicator.health().getStatus()).isEqualTo(Status.UP);

        llm.close();

        Health health = indicator.health();
        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails()).containsEntry("reason", "the engine is shut down");
    }
}
