package io.trtllm.spring.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.EngineStats;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** vLLM's series in a Prometheus scrape: names, labels, values and buckets, from the engine's stats and requests. */
class TrtLlmVllmMetricsTests {
    private static final long MS = 1_000_000L;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AtomicReference<EngineStats> stats = new AtomicReference<>(
            new EngineStats(true, 3, 2, new EngineStats.KvCache(100, 25, 75, 4, 2, 32, 96), 50, 3, 3, 1, 120, 40));

    private TrtLlmVllmMetrics bound(MetricsBuckets buckets) {
        var metrics = new TrtLlmVllmMetrics(stats::get, "stories15M", buckets, 256);
        metrics.bindTo(registry);
        return metrics;
    }

    private static RequestOutput output(String finish, RequestMetrics metrics) {
        var completion = new CompletionOutput(0, "text", new int[] {5, 6, 7}, finish);
        return new RequestOutput("1", "prompt", new int[] {1, 2}, List.of(completion), true, metrics);
    }

    @Test
    void theEnginesStateReadsAsVllmsGaugesAndCounters() {
        bound(MetricsBuckets.DEFAULTS);
        String scrape = registry.scrape();
        assertThat(value(scrape, "vllm:num_requests_running{model_name=\"stories15M\"}")).isEqualTo(3);
        assertThat(value(scrape, "vllm:num_requests_waiting{model_name=\"stories15M\"}")).isEqualTo(2);
        assertThat(value(scrape, "vllm:kv_cache_usage_perc{model_name=\"stories15M\"}")).isEqualTo(0.25);
        assertThat(value(scrape, "vllm:prefix_cache_queries_total{model_name=\"stories15M\"}")).isEqualTo(96);
        assertThat(value(scrape, "vllm:prefix_cache_hits_total{model_name=\"stories15M\"}")).isEqualTo(32);
        assertThat(value(scrape, "vllm:num_preemptions_total{model_name=\"stories15M\"}")).isEqualTo(1);
        assertThat(value(scrape, "vllm:prompt_tokens_total{model_name=\"stories15M\"}")).isEqualTo(120);
        assertThat(value(scrape, "vllm:generation_tokens_total{model_name=\"stories15M\"}")).isEqualTo(40);
        // Every finish reason is there before the first request, at 0.
        for (String reason : List.of("stop", "length", "abort")) {
            assertThat(value(scrape, "vllm:request_success_total{finished_reason=\"" + reason + "\",model_name=\"stories15M\"}"))
                    .isZero();
        }
        // Read on each scrape, not copied at binding.
        stats.set(new EngineStats(true, 0, 7, new EngineStats.KvCache(100, 50, 50, 0, 2, 32, 200), 51, 0, 0, 1, 130, 41));
        scrape = registry.scrape();
        assertThat(value(scrape, "vllm:num_requests_waiting{model_name=\"stories15M\"}")).isEqualTo(7);
        assertThat(value(scrape, "vllm:kv_cache_usage_perc{model_name=\"stories15M\"}")).isEqualTo(0.5);
        assertThat(value(scrape, "vllm:prefix_cache_queries_total{model_name=\"stories15M\"}")).isEqualTo(200);
    }

    @Test
    void aFinishedRequestIsRecordedInEachHistogramWithVllmsBuckets() {
        var metrics = bound(MetricsBuckets.DEFAULTS);
        // Arrived at 0, first pass at 0.2 s (queue), first token at 0.25 s (prefill), 3 tokens, ended at 1.25 s.
        long t0 = 1_000_000 * MS;
        metrics.finished(output("length", new RequestMetrics(2, 3, 0, t0, t0 + 200 * MS, t0 + 250 * MS, t0 + 1250 * MS, 0,
                new long[] {400 * MS, 600 * MS})));
        metrics.finished(output("cancelled", new RequestMetrics(2, 0, 0, t0, 0, 0, t0 + 10 * MS, 0)));
        metrics.cancelled();
        String scrape = registry.scrape();

        assertThat(value(scrape, "vllm:request_success_total{finished_reason=\"length\",model_name=\"stories15M\"}")).isEqualTo(1);
        assertThat(value(scrape, "vllm:request_success_total{finished_reason=\"abort\",model_name=\"stories15M\"}")).isEqualTo(2);
        assertHistogram(scrape, "vllm:time_to_first_token_seconds", MetricsBuckets.VLLM_TIME_TO_FIRST_TOKEN, 1, 0.25);
        assertHistogram(scrape, "vllm:request_time_per_output_token_seconds", MetricsBuckets.VLLM_TIME_PER_OUTPUT_TOKEN, 1, 0.5);
        // One observation per gap between two tokens: 0.4 s and 0.6 s.
        assertHistogram(scrape, "vllm:inter_token_latency_seconds", MetricsBuckets.VLLM_TIME_PER_OUTPUT_TOKEN, 2, 1.0);
        assertThat(value(scrape, "vllm:inter_token_latency_seconds_bucket{model_name=\"stories15M\",le=\"0.5\"}")).isEqualTo(1);
        assertHistogram(scrape, "vllm:e2e_request_latency_seconds", MetricsBuckets.VLLM_REQUEST_LATENCY, 2, 1.26);
        assertHistogram(scrape, "vllm:request_queue_time_seconds", MetricsBuckets.VLLM_REQUEST_LATENCY, 1, 0.2);
        assertHistogram(scrape, "vllm:request_prefill_time_seconds", MetricsBuckets.VLLM_REQUEST_LATENCY, 1, 0.05);
        assertHistogram(scrape, "vllm:request_decode_time_seconds", MetricsBuckets.VLLM_REQUEST_LATENCY, 1, 1.0);
        assertHistogram(scrape, "vllm:request_inference_time_seconds", MetricsBuckets.VLLM_REQUEST_LATENCY, 1, 1.05);
        // Token counts: vLLM's 1-2-5 buckets up to the model's length (256 here).
        List<Double> tokenBuckets = List.of(1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0);
        assertHistogram(scrape, "vllm:request_prompt_tokens", tokenBuckets, 2, 4);
        assertHistogram(scrape, "vllm:request_generation_tokens", tokenBuckets, 2, 3);
        // The 0.25 s TTFT is in the 0.25 bucket and above, not below.
        assertThat(value(scrape, "vllm:time_to_first_token_seconds_bucket{model_name=\"stories15M\",le=\"0.1\"}")).isZero();
        assertThat(value(scrape, "vllm:time_to_first_token_seconds_bucket{model_name=\"stories15M\",le=\"0.25\"}")).isEqualTo(1);
    }

    @Test
    void configuredBucketsReplaceTheDefaults() {
        var custom = new MetricsBuckets(List.of(0.1, 0.3), List.of(0.02), List.of(1.0, 60.0), List.of(4.0, 64.0),
                MetricsBuckets.OTEL_REQUEST_DURATION, MetricsBuckets.OTEL_TIME_TO_FIRST_TOKEN,
                MetricsBuckets.OTEL_TIME_PER_OUTPUT_TOKEN);
        var metrics = bound(custom);
        metrics.iteration(stats.get());
        String scrape = registry.scrape();
        assertHistogram(scrape, "vllm:time_to_first_token_seconds", List.of(0.1, 0.3), 0, 0);
        assertHistogram(scrape, "vllm:request_time_per_output_token_seconds", List.of(0.02), 0, 0);
        assertHistogram(scrape, "vllm:e2e_request_latency_seconds", List.of(1.0, 60.0), 0, 0);
        assertHistogram(scrape, "vllm:iteration_tokens", List.of(4.0, 64.0), 1, 3);
    }

    @Test
    void closingDetachesNothingWithoutAnLlm() {
        bound(MetricsBuckets.DEFAULTS).close(); // no LLM to leave: nothing happens
        assertThat(registry.scrape()).contains("vllm:num_requests_running");
    }

    @Test
    void tokenBucketsAreOneTwoFiveUpToTheLength() {
        assertThat(TrtLlmVllmMetrics.oneTwoFive(100)).containsExactly(1, 2, 5, 10, 20, 50, 100);
        assertThat(TrtLlmVllmMetrics.oneTwoFive(4096)).containsExactly(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000);
    }

    @Test
    void bucketBoundsMustBePositiveAndIncrease() {
        assertThat(MetricsBuckets.problem(List.of(0.1, 0.2))).isNull();
        assertThat(MetricsBuckets.problem(List.of())).contains("at least one");
        assertThat(MetricsBuckets.problem(List.of(0.2, 0.1))).contains("must increase");
        assertThat(MetricsBuckets.problem(List.of(0.1, 0.1))).contains("must increase");
        assertThat(MetricsBuckets.problem(List.of(-1.0))).contains("positive");
        assertThat(MetricsBuckets.problem(List.of(Double.NaN))).contains("positive");
        assertThat(MetricsBuckets.problem(List.of(Double.POSITIVE_INFINITY))).contains("positive");
        assertThatThrownBy(() -> new MetricsBuckets(List.of(), List.of(1.0), List.of(1.0), List.of(1.0), List.of(1.0),
                List.of(1.0), List.of(1.0))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("timeToFirstToken");
    }

    /**
     * Asserts a histogram's buckets are exactly {@code bounds} and +Inf, cumulative and ending at {@code count}, and
     * that its sum is {@code sum}.
     */
    static void assertHistogram(String scrape, String name, List<Double> bounds, long count, double sum) {
        Matcher m = Pattern.compile("^" + Pattern.quote(name) + "_bucket\\{[^}]*le=\"([^\"]+)\"[^}]*} (\\S+)$", Pattern.MULTILINE)
                .matcher(scrape);
        List<String> les = new ArrayList<>();
        List<Double> counts = new ArrayList<>();
        while (m.find()) {
            les.add(m.group(1));
            counts.add(Double.parseDouble(m.group(2)));
        }
        List<String> expected = new ArrayList<>(bounds.stream().map(TrtLlmVllmMetricsTests::le).toList());
        expected.add("+Inf");
        assertThat(les).as(name + " buckets").isEqualTo(expected);
        assertThat(counts).as(name + " counts").isSorted();
        assertThat(counts.getLast()).as(name + " count").isEqualTo(count);
        assertThat(value(scrape, name + "_count", true)).as(name + "_count").isEqualTo(count);
        assertThat(value(scrape, name + "_sum", true)).as(name + "_sum").isCloseTo(sum, org.assertj.core.data.Offset.offset(1e-6));
    }

    /** A bound as Prometheus' client writes it in {@code le}. */
    private static String le(double bound) {
        return bound == Math.rint(bound) && Math.abs(bound) < 1e15 ? String.format("%.1f", bound) : Double.toString(bound);
    }

    static double value(String scrape, String series) {
        return value(scrape, series, false);
    }

    /** The value of {@code series} (its name and labels as scraped; with {@code anyLabels}, its name alone). */
    static double value(String scrape, String series, boolean anyLabels) {
        String pattern = "^" + Pattern.quote(series) + (anyLabels ? "(\\{[^}]*})?" : "") + " (\\S+)$";
        Matcher m = Pattern.compile(pattern, Pattern.MULTILINE).matcher(scrape);
        assertThat(m.find()).as(series + " in the scrape:\n" + scrape).isTrue();
        return Double.parseDouble(m.group(m.groupCount()));
    }
}
