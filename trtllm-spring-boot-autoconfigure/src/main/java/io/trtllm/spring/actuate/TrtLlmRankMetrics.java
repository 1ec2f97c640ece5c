package io.trtllm.spring.actuate;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.LLM;
import io.trtllm.api.RankStats;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters of each rank of a model split over ranks ({@code trtllm.tensor-parallel-size} or
 * {@code trtllm.pipeline-parallel-size} above 1), tagged {@code rank} (global rank, stage × TP + TP rank), read
 * from {@link LLM#rankStats()} on every scrape: {@value #PASSES} (forward passes the rank ran), {@value #LAST_PASS}
 * (wall time of its last pass: a rank that lags its peers shows here first), {@value #FAILED} (1 once it failed,
 * which fails the engine) and, on GPUs, {@value #DEVICE_MEMORY}. A model on one rank binds none.
 */
public final class TrtLlmRankMetrics implements MeterBinder {
    static final String PASSES = "trtllm.rank.passes";
    static final String LAST_PASS = "trtllm.rank.last.pass";
    static final String FAILED = "trtllm.rank.failed";
    static final String DEVICE_MEMORY = "trtllm.rank.device.memory.used";

    private final LLM llm;

    public TrtLlmRankMetrics(LLM llm) {
        this.llm = llm;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        // The split is fixed for the engine's life: one set of meters per rank, each reading its rank's entry.
        List<RankStats> ranks = llm.rankStats();
        for (RankStats first : ranks) {
            int index = ranks.indexOf(first);
            String rank = Integer.toString(first.rank());
            FunctionCounter.builder(PASSES, llm, l -> read(l, index, RankStats::passes)).description("Forward passes a "
                    + "rank ran").tag("rank", rank).register(registry);
            TimeGauge.builder(LAST_PASS, llm, TimeUnit.NANOSECONDS, l -> read(l, index, RankStats::lastPassNanos))
                    .description("Wall time of a rank's last forward pass").tag("rank", rank).register(registry);
            Gauge.builder(FAILED, llm, l -> read(l, index, r -> r.failure() != null ? 1 : 0))
                    .description("Whether a rank failed (1), which fails the engine").tag("rank", rank).register(registry);
            if (first.deviceMemoryBytes() >= 0) {
                Gauge.builder(DEVICE_MEMORY, llm, l -> read(l, index, RankStats::deviceMemoryBytes))
                        .description("Device memory a rank holds").baseUnit("bytes").tag("rank", rank).register(registry);
            }
        }
    }

    /** A value of rank {@code index}'s current stats; NaN once the engine reports no ranks (closed). */
    private static double read(LLM llm, int index, ToDoubleFunction<RankStats> value) {
        List<RankStats> ranks = llm.rankStats();
        return index < ranks.size() ? value.applyAsDouble(ranks.get(index)) : Double.NaN;
    }
}
