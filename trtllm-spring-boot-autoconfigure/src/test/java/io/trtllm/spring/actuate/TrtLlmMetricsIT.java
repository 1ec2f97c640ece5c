package io.trtllm.spring.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.trtllm.api.LLM;
import io.trtllm.api.SamplingParams;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.testing.SharedLlm;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.prompt.Prompt;

/** Meters of the engine: gauges from its stats, counters and timers from every request of the LLM. */
class TrtLlmMetricsIT {

    @Test
    void requestsAreCountedAndTimed() throws InterruptedException {
        LLM llm = SharedLlm.get();
        MeterRegistry registry = new SimpleMeterRegistry();
        var metrics = new TrtLlmMetrics(llm);
        metrics.bindTo(registry);
        // A chat model without any observer of its own: the meters listen to the LLM.
        var chat = TrtLlmChatModel.builder().llm(llm)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(6).build()).build();
        assertThat(registry.get(TrtLlmMetrics.REJECTED).counter().count()).isZero();
        double iterationsBefore = registry.get(TrtLlmMetrics.ITERATIONS).functionCounter().count();

        try (metrics) {
            chat.call(new Prompt("Once upon a time"));
            chat.stream(new Prompt("One day")).blockLast(Duration.ofSeconds(60));
            chat.stream(new Prompt("The sun")).take(2).blockLast(Duration.ofSeconds(60));
            assertThatThrownBy(() -> llm.generate(new int[] {1, 1 << 30}, SamplingParams.greedy(2)))
                    .isInstanceOf(IllegalArgumentException.class);
            SharedLlm.awaitIdle(llm);
        }
        llm.generate("Closed", SamplingParams.greedy(2)); // after close: not counted

        assertThat(registry.get(TrtLlmMetrics.COMPLETED).tag("reason", "length").counter().count()).isEqualTo(2);
        assertThat(registry.get(TrtLlmMetrics.COMPLETED).tag("reason", "cancelled").counter().count()).isEqualTo(1);
        assertThat(registry.get(TrtLlmMetrics.REJECTED).counter().count()).isZero();
        assertThat(registry.get(TrtLlmMetrics.FAILED).counter().count()).isEqualTo(1);
        assertThat(registry.get(TrtLlmMetrics.TOKENS).tag("type", "generated").counter().count()).isEqualTo(12);
        int promptTokens = llm.tokenizer().encode("Once upon a time", true).length + llm.tokenizer().encode("One day", true).length;
        assertThat(registry.get(TrtLlmMetrics.TOKENS).tag("type", "prompt").counter().count()).isEqualTo(promptTokens);
        for (String timer : new String[] {TrtLlmMetrics.TTFT, TrtLlmMetrics.TPOT, TrtLlmMetrics.E2E}) {
            assertThat(registry.get(timer).timer().count()).as(timer).isEqualTo(2);
            assertThat(registry.get(timer).timer().totalTime(TimeUnit.NANOSECONDS)).as(timer).isPositive();
        }
        assertThat(registry.get(TrtLlmMetrics.E2E).timer().max(TimeUnit.NANOSECONDS))
                .isGreaterThanOrEqualTo(registry.get(TrtLlmMetrics.TTFT).timer().max(TimeUnit.NANOSECONDS));
        assertThat(registry.get(TrtLlmMetrics.ITERATIONS).functionCounter().count()).isGreaterThan(iterationsBefore + 12);
    }

    @Test
    void gaugesReadTheEnginesStats() {
        LLM llm = SharedLlm.get();
        MeterRegistry registry = new SimpleMeterRegistry();
        try (var metrics = new TrtLlmMetrics(llm)) {
            metrics.bindTo(registry);
        }

        var kv = llm.stats().kvCache();
        assertThat(registry.get(TrtLlmMetrics.KV_BLOCKS).tag("state", "free").gauge().value()).isEqualTo(kv.freeBlocks());
        assertThat(registry.get(TrtLlmMetrics.KV_BLOCKS).tag("state", "used").gauge().value()).isEqualTo(kv.usedBlocks());
        assertThat(registry.get(TrtLlmMetrics.KV_USAGE).gauge().value())
                .isEqualTo((double) kv.usedBlocks() / kv.numBlocks()).isBetween(0.0, 1.0);
        assertThat(registry.get(TrtLlmMetrics.ACTIVE).gauge().value()).isZero();
        assertThat(registry.get(TrtLlmMetrics.QUEUED).gauge().value()).isZero();
        assertThat(registry.get(TrtLlmMetrics.BATCH_SIZE).gauge()).isNotNull();
        assertThat(kv.freeBlocks()).isPositive();
        // The engine's load at startup, tagged with how it came (built, loaded from the cache, ...).
        String kind = llm.engineLoad().kind().name().toLowerCase(java.util.Locale.ROOT);
        assertThat(registry.get(TrtLlmMetrics.ENGINE_LOADS).tag("kind", kind).counter().count()).isEqualTo(1);
        // The CPU backend holds no GPU memory: no such gauge (the CUDA backend's is checked by CudaSoakGpuTests).
        assertThat(llm.deviceMemoryBytes()).isEqualTo(-1);
        assertThat(registry.find(TrtLlmMetrics.GPU_MEMORY).gauge()).isNull();
    }
}
