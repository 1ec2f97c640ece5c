package io.trtllm.spring.actuate;

import io.trtllm.api.EngineStats;
import io.trtllm.api.LLM;
import io.trtllm.api.RankStats;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Health of an {@link LLM}: UP while its executor loop runs (the engine is loaded once the bean
 * exists), DOWN with the error when the loop died (every request then fails and new ones are refused:
 * for example after a CUDA error that left the device unusable, such as an illegal memory access,
 * which only a restart of the process clears), DOWN when the engine was closed. Details: backend, model
 * directory, running and queued requests, KV-cache blocks and utilization, and for a model split over ranks
 * ({@code trtllm.tensor-parallel-size} / {@code pipeline-parallel-size}) each rank's shard, passes, last pass time,
 * device memory and failure: DOWN, naming the rank, when one failed (the whole engine fails with it).
 */
public final class TrtLlmHealthIndicator implements HealthIndicator {
    private final LLM llm;

    public TrtLlmHealthIndicator(LLM llm) {
        this.llm = llm;
    }

    @Override
    public Health health() {
        return health(llm.stats(), llm.failure(), llm.backendDescription(), llm.modelDirectory().toString(),
                llm.rankStats());
    }

    /** The health for one snapshot of an engine on one rank. */
    static Health health(EngineStats stats, @Nullable Throwable failure, String backend, String model) {
        return health(stats, failure, backend, model, List.of());
    }

    /** The health for one snapshot of the engine and its ranks (none for a model on one rank). */
    static Health health(EngineStats stats, @Nullable Throwable failure, String backend, String model,
                         List<RankStats> ranks) {
        Health.Builder health;
        RankStats failedRank = ranks.stream().filter(r -> r.failure() != null).findFirst().orElse(null);
        if (failure != null) {
            health = Health.down(failure);
        } else if (failedRank != null) {
            // The engine notices on its next pass; the rank's failure already means it cannot serve.
            health = Health.down().withDetail("reason", "rank " + failedRank.rank() + " failed: " + failedRank.failure());
        } else if (!stats.alive()) {
            health = Health.down().withDetail("reason", "the engine is shut down");
        } else {
            health = Health.up();
        }
        EngineStats.KvCache kv = stats.kvCache();
        if (!ranks.isEmpty()) {
            health.withDetail("ranks", ranks.stream().map(TrtLlmHealthIndicator::rank).toList());
        }
        return health.withDetail("backend", backend)
                .withDetail("model", model)
                .withDetail("requestsRunning", stats.running())
                .withDetail("requestsQueued", stats.waiting())
                .withDetail("kvCacheBlocksUsed", kv.usedBlocks())
                .withDetail("kvCacheBlocksTotal", kv.numBlocks())
                .withDetail("kvCacheUtilization", kv.utilization())
                .build();
    }

    private static Map<String, Object> rank(RankStats r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("rank", r.rank());
        m.put("shard", r.shard());
        m.put("passes", r.passes());
        m.put("lastPassMillis", r.lastPassNanos() / 1e6);
        if (r.deviceMemoryBytes() >= 0) {
            m.put("deviceMemoryBytes", r.deviceMemoryBytes());
        }
        if (r.failure() != null) {
            m.put("failure", r.failure());
        }
        return m;
    }
}
