package io.trtllm.spring.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.executor.Executor;
import io.trtllm.executor.KvCacheManager;
import io.trtllm.spring.testing.SharedLlm;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;

/** UP with details on a running engine, DOWN with the cause when its loop died, DOWN once closed. */
class TrtLlmHealthIndicatorTests {

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
        var kv = new KvCacheManager.Stats(100, 25, 75, 0, 0, 0);
        var stats = new Executor.Stats(false, 0, 3, kv, 10, 0, 0);

        Health health = TrtLlmHealthIndicator.health(stats, new OutOfMemoryError("Java heap space"), "cpu", "/m");

        assertThat(health.getStatus()).isEqualTo(Status.DOWN);
        assertThat(health.getDetails()).containsEntry("error", "java.lang.OutOfMemoryError: Java heap space")
                .containsEntry("kvCacheUtilization", 0.25).containsEntry("requestsQueued", 3);
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
