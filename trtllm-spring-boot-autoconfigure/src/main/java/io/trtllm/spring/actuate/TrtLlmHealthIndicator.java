package io.trtllm.spring.actuate;

import io.trtllm.api.EngineStats;
import io.trtllm.api.LLM;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Health of an {@link LLM}: UP while its executor loop runs (the engine is loaded once the bean
 * exists), DOWN with the error when the loop died (every request then fails and new ones are refused:
 * for example after a CUDA error that left the device unusable, such as an illegal memory access,
 * which only a restart of the process clears), DOWN when the engine was closed. Details: backend, model directory, running and queued requests, KV-cache blocks and
 * utilization.
 */
public final class TrtLlmHealthIndicator implements HealthIndicator {
    private final LLM llm;

    public TrtLlmHealthIndicator(LLM llm) {
        this.llm = llm;
    }

    @Override
    public Health health() {
        return health(llm.stats(), llm.failure(), llm.backendDescription(), llm.modelDirectory().toString());
    }

    /** The health for one snapshot of the engine. */
    static Health health(EngineStats stats, @Nullable Throwable failure, String backend, String model) {
        Health.Builder health;
        if (failure != null) {
            health = Health.down(failure);
        } else if (!stats.alive()) {
            health = Health.down().withDetail("reason", "the engine is shut down");
        } else {
            health = Health.up();
        }
        EngineStats.KvCache kv = stats.kvCache();
        return health.withDetail("backend", backend)
                .withDetail("model", model)
                .withDetail("requestsRunning", stats.running())
                .withDetail("requestsQueued", stats.waiting())
                .withDetail("kvCacheBlocksUsed", kv.usedBlocks())
                .withDetail("kvCacheBlocksTotal", kv.numBlocks())
                .withDetail("kvCacheUtilization", kv.utilization())
                .build();
    }
}
