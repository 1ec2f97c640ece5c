package io.trtllm.spring.actuate;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.EngineStats;
import io.trtllm.api.LLM;
import io.trtllm.api.QueueFullException;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.RequestListener;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters of an {@link LLM}.
 *
 * <p>Read from {@link LLM#stats()} on every scrape: {@value #ACTIVE} and {@value #QUEUED} (requests
 * running and waiting), {@value #KV_BLOCKS} tagged {@code state=used|free}, {@value #KV_USAGE} (their
 * fraction in use, 0 to 1), {@value #BATCH_SIZE} (sequences
 * in the last forward pass) and {@value #ITERATIONS} (forward passes).
 *
 * <p>Recorded at the end of each request of the {@code LLM} (a {@link RequestListener} on it: every request
 * counts once, whether it came through the auto-configured chat model, the application's own {@code ChatModel},
 * the OpenAI API or the {@code LLM} itself): {@value #COMPLETED} tagged {@code reason=stop|length|cancelled},
 * {@value #REJECTED} (queue full), {@value #FAILED}, {@value #TOKENS} tagged {@code type=prompt|generated}, and
 * the timers {@value #TTFT}, {@value #TPOT} and {@value #E2E}.
 *
 * <p>{@link #close()} stops listening to the {@code LLM} (the bean's destroy method), so that an {@code LLM} that
 * outlives the application context does not feed meters of a closed one.
 */
public final class TrtLlmMetrics implements MeterBinder, AutoCloseable {
    static final String ACTIVE = "trtllm.requests.active";
    static final String QUEUED = "trtllm.requests.queued";
    static final String KV_BLOCKS = "trtllm.kv.cache.blocks";
    static final String KV_USAGE = "trtllm.kv.cache.usage";
    static final String BATCH_SIZE = "trtllm.iteration.batch.size";
    static final String ITERATIONS = "trtllm.iterations";
    static final String COMPLETED = "trtllm.requests.completed";
    static final String REJECTED = "trtllm.requests.rejected";
    static final String FAILED = "trtllm.requests.failed";
    static final String TOKENS = "trtllm.tokens";
    static final String TTFT = "trtllm.request.time.to.first.token";
    static final String TPOT = "trtllm.request.time.per.output.token";
    static final String E2E = "trtllm.request.duration";
    static final String ENGINE_LOADS = "trtllm.engine.loads";
    static final String GPU_MEMORY = "trtllm.gpu.memory.used";

    private final LLM llm;
    private final List<MeterRegistry> registries = new CopyOnWriteArrayList<>();
    private final RequestListener listener = new RequestListener() {
        @Override
        public void onFinished(RequestOutput output) {
            finished(output);
        }

        @Override
        public void onCancelled() {
            registries.forEach(r -> completed(r, "cancelled").increment());
        }

        @Override
        public void onRejected(QueueFullException e) {
            registries.forEach(r -> rejected(r).increment());
        }

        @Override
        public void onFailed(Throwable error) {
            registries.forEach(r -> failed(r).increment());
        }
    };

    public TrtLlmMetrics(LLM llm) {
        this.llm = llm;
        llm.addRequestListener(listener);
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        gauge(registry, ACTIVE, "Requests running in the engine", s -> s.running());
        gauge(registry, QUEUED, "Requests waiting to be admitted", s -> s.waiting());
        Gauge.builder(KV_BLOCKS, llm, l -> l.stats().kvCache().usedBlocks()).description("KV-cache blocks")
                .tag("state", "used").baseUnit("blocks").register(registry);
        Gauge.builder(KV_BLOCKS, llm, l -> l.stats().kvCache().freeBlocks()).description("KV-cache blocks")
                .tag("state", "free").baseUnit("blocks").register(registry);
        // One gauge of the fraction in use (Prometheus: trtllm_kv_cache_usage_ratio), as an inference gateway's
        // endpoint picker and an autoscaler read it: they take a metric name, not an expression.
        Gauge.builder(KV_USAGE, llm, l -> l.stats().kvCache().utilization()).description("Fraction of KV-cache blocks in use")
                .baseUnit("ratio").register(registry);
        gauge(registry, BATCH_SIZE, "Sequences in the last forward pass", s -> s.lastBatchSize());
        FunctionCounter.builder(ITERATIONS, llm, l -> l.stats().iterations()).description("Forward passes")
                .register(registry);
        // Present from the start, so that dashboards and alerts find them before the first request.
        // How this engine was obtained (built, loaded from the engine cache, shared, ...): 1 for its kind.
        Counter.builder(ENGINE_LOADS).description("Engines obtained at startup, by how (cache hit or build)")
                .tag("kind", llm.engineLoad().kind().name().toLowerCase(java.util.Locale.ROOT)).register(registry).increment();
        if (llm.deviceMemoryBytes() >= 0) {
            Gauge.builder(GPU_MEMORY, llm, LLM::deviceMemoryBytes).description("GPU memory the engine holds")
                    .baseUnit("bytes").register(registry);
        }
        rejected(registry);
        failed(registry);
        tokens(registry, "prompt");
        tokens(registry, "generated");
        registries.add(registry);
    }

    private void gauge(MeterRegistry registry, String name, String description, ToDoubleFunction<EngineStats> value) {
        Gauge.builder(name, llm, l -> value.applyAsDouble(l.stats())).description(description).register(registry);
    }

    private void finished(RequestOutput output) {
        String reason = output.output().finishReason();
        RequestMetrics m = output.metrics();
        for (MeterRegistry registry : registries) {
            completed(registry, reason != null ? reason : "unknown").increment();
            tokens(registry, "prompt").increment(m.promptTokens());
            tokens(registry, "generated").increment(m.generatedTokens());
            record(registry, TTFT, "Submission to first token (queueing and prefill)", m.timeToFirstTokenNanos());
            record(registry, TPOT, "Mean time per output token after the first", m.timePerOutputTokenNanos());
            record(registry, E2E, "Submission to the end of a request", m.endToEndNanos());
        }
    }

    /** Stops listening to the {@code LLM}'s requests. */
    @Override
    public void close() {
        llm.removeRequestListener(listener);
    }

    private static Counter completed(MeterRegistry registry, String reason) {
        return Counter.builder(COMPLETED).description("Requests that ended, by finish reason").tag("reason", reason)
                .register(registry);
    }

    private static Counter rejected(MeterRegistry registry) {
        return Counter.builder(REJECTED).description("Requests refused because the queue was full").register(registry);
    }

    private static Counter failed(MeterRegistry registry) {
        return Counter.builder(FAILED).description("Requests that failed").register(registry);
    }

    private static Counter tokens(MeterRegistry registry, String type) {
        return Counter.builder(TOKENS).description("Prompt and generated tokens").tag("type", type).baseUnit("tokens")
                .register(registry);
    }

    /** Records a duration; 0 means the event did not happen (no token, a single token) and is skipped. */
    private static void record(MeterRegistry registry, String name, String description, long nanos) {
        if (nanos > 0) {
            Timer.builder(name).description(description).register(registry).record(Duration.ofNanos(nanos));
        }
    }
}
