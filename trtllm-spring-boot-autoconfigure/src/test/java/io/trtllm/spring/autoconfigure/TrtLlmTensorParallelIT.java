package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.trtllm.api.LLM;
import io.trtllm.api.SamplingParams;
import io.trtllm.spring.actuate.TrtLlmHealthIndicator;
import io.trtllm.spring.actuate.TrtLlmRankMetrics;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * {@code trtllm.tensor-parallel-size=2} on stories15M's CPU ranks: the engine runs as two ranks, the health
 * indicator shows each rank's passes and the rank meters count them.
 */
class TrtLlmTensorParallelIT {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmActuatorAutoConfiguration.class))
            .withPropertyValues("trtllm.backend=cpu", "trtllm.tensor-parallel-size=2",
                    "trtllm.threads=2", "trtllm.max-seq-len=64", "trtllm.max-batch-size=4");

    @Test
    void twoRanksShowInHealthAndMeters() {
        runner.run(context -> {
            assertThat(context).hasNotFailed().hasSingleBean(TrtLlmRankMetrics.class);
            LLM llm = context.getBean(LLM.class);
            assertThat(llm.backendDescription()).contains("TP 2 × PP 1");
            MeterRegistry registry = new SimpleMeterRegistry();
            context.getBean(TrtLlmRankMetrics.class).bindTo(registry);

            var out = llm.generate("Once upon a time", SamplingParams.builder().temperature(0).maxTokens(6).build());
            assertThat(out.output().tokenIds()).hasSize(6);

            Health health = context.getBean(TrtLlmHealthIndicator.class).health();
            assertThat(health.getStatus()).isEqualTo(Status.UP);
            @SuppressWarnings("unchecked")
            var ranks = (List<Map<String, Object>>) health.getDetails().get("ranks");
            assertThat(ranks).hasSize(2);
            for (int r = 0; r < 2; r++) {
                Map<String, Object> rank = ranks.get(r);
                assertThat(rank).containsEntry("rank", r).doesNotContainKeys("failure", "deviceMemoryBytes");
                assertThat((String) rank.get("shard")).contains("TP rank " + r + " of 2");
                // Lockstep: both ranks ran every pass (warm-up, prefill, five decodes at least).
                assertThat((long) rank.get("passes")).isGreaterThanOrEqualTo(6).isEqualTo(ranks.get(0).get("passes"));
                assertThat((double) rank.get("lastPassMillis")).isPositive();
                String tag = Integer.toString(r);
                assertThat(registry.get("trtllm.rank.passes").tag("rank", tag).functionCounter().count())
                        .isEqualTo(((Long) rank.get("passes")).doubleValue());
                assertThat(registry.get("trtllm.rank.last.pass").tag("rank", tag).timeGauge().value(TimeUnit.NANOSECONDS))
                        .isPositive();
                assertThat(registry.get("trtllm.rank.failed").tag("rank", tag).gauge().value()).isZero();
            }
            assertThat(registry.find("trtllm.rank.device.memory.used").gauges()).isEmpty();
        });
    }

    @Test
    void oneRankBindsNoRankMeters() {
        runner.withPropertyValues("trtllm.tensor-parallel-size=1").run(context -> {
            MeterRegistry registry = new SimpleMeterRegistry();
            context.getBean(TrtLlmRankMetrics.class).bindTo(registry);
            assertThat(registry.find("trtllm.rank.passes").meters()).isEmpty();
            assertThat(context.getBean(TrtLlmHealthIndicator.class).health().getDetails()).doesNotContainKey("ranks");
        });
    }
}
