package io.trtllm.spring.actuate;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.EngineStats;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestListener;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * vLLM's metric set, for the dashboards, autoscalers and inference gateways made for vLLM: the same Prometheus
 * series names ({@code vllm:num_requests_waiting}, {@code vllm:kv_cache_usage_perc},
 * {@code vllm:time_to_first_token_seconds_bucket}, ...), label {@code model_name} (the served model), same units
 * and, by default, the same histogram buckets ({@link MetricsBuckets}). Only what this engine measures is here;
 * docs/OPERATIONS.md has the table of vLLM's names against these and {@code trtllm.*}.
 *
 * <p>Micrometer names are vLLM's without the suffixes the Prometheus registry adds: {@code _total} for counters,
 * {@code _seconds} for timers. A colon is legal in a Prometheus name (vLLM's are {@code vllm:...}) and Micrometer's
 * Prometheus naming keeps it; other registries get the names as they are.
 *
 * <p>Read from the engine on each scrape: the request gauges, KV-cache utilization and the engine's cumulative
 * counters (prefix-cache queries and hits, preemptions, prompt and generated tokens). Recorded as each request
 * ends (a {@link RequestListener} on the {@code LLM}, so every request counts once, whichever way it came): finish
 * reasons and the request histograms. Recorded per forward pass (an iteration listener): tokens per pass.
 */
public final class TrtLlmVllmMetrics implements MeterBinder, AutoCloseable {
    static final String RUNNING = "vllm:num_requests_running";
    static final String WAITING = "vllm:num_requests_waiting";
    static final String KV_CACHE_USAGE = "vllm:kv_cache_usage_perc";
    static final String PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries";
    static final String PREFIX_CACHE_HITS = "vllm:prefix_cache_hits";
    static final String PREEMPTIONS = "vllm:num_preemptions";
    static final String PROMPT_TOKENS = "vllm:prompt_tokens";
    static final String GENERATION_TOKENS = "vllm:generation_tokens";
    static final String REQUEST_SUCCESS = "vllm:request_success";
    static final String TIME_TO_FIRST_TOKEN = "vllm:time_to_first_token";
    static final String TIME_PER_OUTPUT_TOKEN = "vllm:request_time_per_output_token";
    static final String INTER_TOKEN_LATENCY = "vllm:inter_token_latency";
    static final String E2E_LATENCY = "vllm:e2e_request_latency";
    static final String QUEUE_TIME = "vllm:request_queue_time";
    static final String PREFILL_TIME = "vllm:request_prefill_time";
    static final String DECODE_TIME = "vllm:request_decode_time";
    static final String INFERENCE_TIME = "vllm:request_inference_time";
    static final String REQUEST_PROMPT_TOKENS = "vllm:request_prompt_tokens";
    static final String REQUEST_GENERATION_TOKENS = "vllm:request_generation_tokens";
    /** vLLM's {@code vllm:iteration_tokens_total}: a histogram's name may not end in {@code _total} in Prometheus' client. */
    static final String ITERATION_TOKENS = "vllm:iteration_tokens";

    private final Supplier<EngineStats> stats;
    private final Tags tags;
    private final MetricsBuckets buckets;
    private final double[] tokenBuckets;
    private final double[] iterationBuckets;
    private final List<MeterRegistry> registries = new CopyOnWriteArrayList<>();
    /** Removes the listeners from the {@code LLM}, if there is one. */
    private volatile Runnable detach = () -> { };

    /**
     * @param llm       the engine
     * @param modelName the served model's name (label {@code model_name})
     * @param buckets   the histograms' bucket bounds
     */
    public TrtLlmVllmMetrics(LLM llm, String modelName, MetricsBuckets buckets) {
        this(llm::stats, modelName, buckets, llm.maxSeqLen());
        RequestListener requests = new RequestListener() {
            @Override
            public void onFinished(RequestOutput output) {
                finished(output);
            }

            @Override
            public void onCancelled() {
                cancelled();
            }
        };
        Consumer<EngineStats> iterations = this::iteration;
        llm.addRequestListener(requests);
        llm.onIterationStats(iterations);
        this.detach = () -> {
            llm.removeRequestListener(requests);
            llm.removeIterationStatsListener(iterations);
        };
    }

    /** Over any source of stats; the owner feeds {@link #finished}, {@link #cancelled} and {@link #iteration}. */
    TrtLlmVllmMetrics(Supplier<EngineStats> stats, String modelName, MetricsBuckets buckets, int maxModelLen) {
        this.stats = stats;
        this.tags = Tags.of("model_name", Objects.requireNonNull(modelName, "modelName"));
        this.buckets = buckets;
        this.tokenBuckets = oneTwoFive(maxModelLen);
        this.iterationBuckets = MetricsBuckets.values(buckets.iterationTokens());
    }

    /** vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... up to {@code max} (its {@code build_1_2_5_buckets}). */
    static double[] oneTwoFive(int max) {
        List<Double> bounds = new ArrayList<>();
        for (long scale = 1; scale <= max; scale *= 10) {
            for (int m : new int[] {1, 2, 5}) {
                if (m * scale <= max) {
                    bounds.add((double) (m * scale));
                }
            }
        }
        return bounds.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        gauge(registry, RUNNING, "Number of requests in model execution batches.", EngineStats::running);
        gauge(registry, WAITING, "Number of requests waiting to be processed.", EngineStats::waiting);
        gauge(registry, KV_CACHE_USAGE, "KV-cache usage. 1 means 100 percent usage.", s -> s.kvCache().utilization());
        counter(registry, PREFIX_CACHE_QUERIES, "Prefix cache queries, in terms of number of queried tokens.",
                s -> s.kvCache().queriedTokens());
        counter(registry, PREFIX_CACHE_HITS, "Prefix cache hits, in terms of number of cached tokens.",
                s -> s.kvCache().reuseHitTokens());
        counter(registry, PREEMPTIONS, "Cumulative number of preemption from the engine.", EngineStats::preemptions);
        counter(registry, PROMPT_TOKENS, "Number of prefill tokens processed.", EngineStats::promptTokens);
        counter(registry, GENERATION_TOKENS, "Number of generation tokens processed.", EngineStats::generatedTokens);
        // Present before the first request, as vLLM's are: dashboards and alerts find every series from the start.
        for (String reason : new String[] {"stop", "length", "abort"}) {
            success(registry, reason);
        }
        timer(registry, TIME_TO_FIRST_TOKEN, "Histogram of time to first token in seconds.", buckets.timeToFirstToken());
        timer(registry, TIME_PER_OUTPUT_TOKEN, "Histogram of time per output token in seconds.",
                buckets.timePerOutputToken());
        timer(registry, INTER_TOKEN_LATENCY, "Histogram of inter-token latency in seconds.", buckets.timePerOutputToken());
        timer(registry, E2E_LATENCY, "Histogram of e2e request latency in seconds.", buckets.requestLatency());
        timer(registry, QUEUE_TIME, "Histogram of time spent in WAITING phase for request.", buckets.requestLatency());
        timer(registry, PREFILL_TIME, "Histogram of time spent in PREFILL phase for request.", buckets.requestLatency());
        timer(registry, DECODE_TIME, "Histogram of time spent in DECODE phase for request.", buckets.requestLatency());
        timer(registry, INFERENCE_TIME, "Histogram of time spent in RUNNING phase for request.", buckets.requestLatency());
        summary(registry, REQUEST_PROMPT_TOKENS, "Number of prefill tokens processed.", tokenBuckets);
        summary(registry, REQUEST_GENERATION_TOKENS, "Number of generation tokens processed.", tokenBuckets);
        summary(registry, ITERATION_TOKENS, "Histogram of number of tokens per engine_step.", iterationBuckets);
        registries.add(registry);
    }

    private void gauge(MeterRegistry registry, String name, String description, ToDoubleFunction<EngineStats> value) {
        Gauge.builder(name, stats, s -> value.applyAsDouble(s.get())).description(description).tags(tags)
                .register(registry);
    }

    private void counter(MeterRegistry registry, String name, String description, ToDoubleFunction<EngineStats> value) {
        FunctionCounter.builder(name, stats, s -> value.applyAsDouble(s.get())).description(description).tags(tags)
                .register(registry);
    }

    private Counter success(MeterRegistry registry, String reason) {
        return Counter.builder(REQUEST_SUCCESS).description("Count of successfully processed requests.").tags(tags)
                .tag("finished_reason", reason).register(registry);
    }

    private Timer timer(MeterRegistry registry, String name, String description, List<Double> bounds) {
        return Timer.builder(name).description(description).tags(tags)
                .serviceLevelObjectives(MetricsBuckets.durations(bounds)).register(registry);
    }

    private DistributionSummary summary(MeterRegistry registry, String name, String description, double[] bounds) {
        return DistributionSummary.builder(name).description(description).tags(tags).serviceLevelObjectives(bounds)
                .register(registry);
    }

    /** Records a request that ended with its final output. */
    void finished(RequestOutput output) {
        String reason = switch (String.valueOf(output.output().finishReason())) {
            case "stop" -> "stop";
            case "length" -> "length";
            default -> "abort"; // cancelled (vLLM's abort)
        };
        RequestMetrics m = output.metrics();
        for (MeterRegistry registry : registries) {
            success(registry, reason).increment();
            record(registry, TIME_TO_FIRST_TOKEN, buckets.timeToFirstToken(), m.timeToFirstTokenNanos());
            record(registry, TIME_PER_OUTPUT_TOKEN, buckets.timePerOutputToken(), m.timePerOutputTokenNanos());
            Timer interToken = timer(registry, INTER_TOKEN_LATENCY, "", buckets.timePerOutputToken());
            for (long gap : m.interTokenNanos()) {
                interToken.record(gap, java.util.concurrent.TimeUnit.NANOSECONDS);
            }
            record(registry, E2E_LATENCY, buckets.requestLatency(), m.endToEndNanos());
            record(registry, QUEUE_TIME, buckets.requestLatency(), m.queueNanos());
            record(registry, PREFILL_TIME, buckets.requestLatency(), m.prefillNanos());
            record(registry, DECODE_TIME, buckets.requestLatency(), m.decodeNanos());
            record(registry, INFERENCE_TIME, buckets.requestLatency(), m.inferenceNanos());
            summary(registry, REQUEST_PROMPT_TOKENS, "Number of prefill tokens processed.", tokenBuckets)
                    .record(m.promptTokens());
            summary(registry, REQUEST_GENERATION_TOKENS, "Number of generation tokens processed.", tokenBuckets)
                    .record(m.generatedTokens());
        }
    }

    /** Records a request whose caller cancelled it before it ended (vLLM's {@code abort}). */
    void cancelled() {
        registries.forEach(r -> success(r, "abort").increment());
    }

    /** Records one forward pass. */
    void iteration(EngineStats pass) {
        for (MeterRegistry registry : registries) {
            summary(registry, ITERATION_TOKENS, "Histogram of number of tokens per engine_step.", iterationBuckets)
                    .record(pass.lastBatchTokens());
        }
    }

    /** 0 means the phase did not happen (no token, one token, never scheduled) and is not recorded. */
    private void record(MeterRegistry registry, String name, List<Double> bounds, long nanos) {
        if (nanos > 0) {
            timer(registry, name, "", bounds).record(Duration.ofNanos(nanos));
        }
    }

    /** Stops listening to the {@code LLM}. */
    @Override
    public void close() {
        detach.run();
    }
}
