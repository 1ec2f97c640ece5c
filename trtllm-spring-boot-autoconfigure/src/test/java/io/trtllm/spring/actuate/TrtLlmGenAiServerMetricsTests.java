package io.trtllm.spring.actuate;

import static io.trtllm.spring.actuate.TrtLlmVllmMetricsTests.assertHistogram;
import static io.trtllm.spring.actuate.TrtLlmVllmMetricsTests.value;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.trtllm.api.RequestMetrics;
import io.trtllm.spring.openai.GenAiServerObserver;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The OpenAI API's requests as OpenTelemetry's gen_ai.server.* histograms in a Prometheus scrape. */
class TrtLlmGenAiServerMetricsTests {
    private static final long MS = 1_000_000L;
    private static final String LABELS = "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"trtllm\","
            + "gen_ai_request_model=\"stories15M\",gen_ai_response_model=\"stories15M\",gen_ai_system=\"trtllm\"";
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    @Test
    void successesAndFailuresAreRecordedWithTheSemanticConventionsAttributes() {
        var metrics = new TrtLlmGenAiServerMetrics(MetricsBuckets.DEFAULTS);
        metrics.bindTo(registry);
        long start = System.nanoTime() - 2000 * MS; // arrived 2 s ago
        // First token 0.3 s after arrival, then 11 more tokens in 1.1 s: 0.1 s per output token.
        var output = new RequestMetrics(5, 12, 0, start + 100 * MS, start + 200 * MS, start + 300 * MS, start + 1400 * MS, 0);
        metrics.succeeded(GenAiServerObserver.CHAT, "stories15M", start, List.of(output));
        metrics.failed(GenAiServerObserver.CHAT, "stories15M", start, "queue_full");
        metrics.failed(GenAiServerObserver.TEXT_COMPLETION, "stories15M", start, "context_length_exceeded");
        String scrape = registry.scrape();

        assertThat(value(scrape, "gen_ai_server_time_to_first_token_seconds_count{" + LABELS + "}")).isEqualTo(1);
        assertThat(value(scrape, "gen_ai_server_time_to_first_token_seconds_sum{" + LABELS + "}")).isCloseTo(0.3,
                org.assertj.core.data.Offset.offset(1e-9));
        assertThat(value(scrape, "gen_ai_server_time_per_output_token_seconds_sum{" + LABELS + "}")).isCloseTo(0.1,
                org.assertj.core.data.Offset.offset(1e-9));
        // A success has no error.type (an empty label is no label to Prometheus); a failure names it.
        assertThat(value(scrape, "gen_ai_server_request_duration_seconds_count{error_type=\"\"," + LABELS + "}")).isEqualTo(1);
        assertThat(value(scrape, "gen_ai_server_request_duration_seconds_count{error_type=\"queue_full\"," + LABELS + "}"))
                .isEqualTo(1);
        assertThat(value(scrape, "gen_ai_server_request_duration_seconds_count{error_type=\"context_length_exceeded\","
                + LABELS.replace("\"chat\"", "\"text_completion\"") + "}")).isEqualTo(1);
        assertThat(value(scrape, "gen_ai_server_request_duration_seconds_sum{error_type=\"\"," + LABELS + "}"))
                .isGreaterThanOrEqualTo(2.0);
        // The conventions' advised buckets.
        assertThat(scrape).contains("gen_ai_server_request_duration_seconds_bucket{error_type=\"\"," + LABELS + ",le=\"81.92\"} 1");
        assertThat(scrape).contains("gen_ai_server_time_to_first_token_seconds_bucket{" + LABELS + ",le=\"10.0\"} 1");
        assertThat(scrape).contains("gen_ai_server_time_per_output_token_seconds_bucket{" + LABELS + ",le=\"2.5\"} 1");
    }

    @Test
    void configuredBucketsReplaceTheAdvice() {
        var custom = new MetricsBuckets(MetricsBuckets.VLLM_TIME_TO_FIRST_TOKEN, MetricsBuckets.VLLM_TIME_PER_OUTPUT_TOKEN,
                MetricsBuckets.VLLM_REQUEST_LATENCY, MetricsBuckets.VLLM_ITERATION_TOKENS, List.of(1.0, 30.0),
                List.of(0.5), List.of(0.05, 0.2));
        var metrics = new TrtLlmGenAiServerMetrics(custom);
        metrics.bindTo(registry);
        long start = System.nanoTime() - 100 * MS;
        var output = new RequestMetrics(5, 3, 0, start, start, start + 10 * MS, start + 50 * MS, 0);
        metrics.succeeded(GenAiServerObserver.TEXT_COMPLETION, "m", start, List.of(output));
        String scrape = registry.scrape();
        assertHistogram(scrape, "gen_ai_server_request_duration_seconds", List.of(1.0, 30.0), 1, value(scrape,
                "gen_ai_server_request_duration_seconds_sum", true));
        assertHistogram(scrape, "gen_ai_server_time_to_first_token_seconds", List.of(0.5), 1, 0.01);
        assertHistogram(scrape, "gen_ai_server_time_per_output_token_seconds", List.of(0.05, 0.2), 1, 0.02);
    }
}
