package io.trtllm.spring.actuate;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Upper bounds of the histograms' buckets ({@code trtllm.metrics.buckets.*}): times in seconds, token counts in
 * tokens. Each list is positive, finite and strictly increasing.
 *
 * @param timeToFirstToken        vLLM's time to first token
 * @param timePerOutputToken      vLLM's time per output token (a request's mean after its first token) and inter-token
 *                                latency (each gap between two tokens)
 * @param requestLatency          vLLM's end-to-end latency and request phases (queue, prefill, decode, inference)
 * @param iterationTokens         tokens per forward pass
 * @param genAiRequestDuration    OpenTelemetry's {@code gen_ai.server.request.duration}
 * @param genAiTimeToFirstToken   OpenTelemetry's {@code gen_ai.server.time_to_first_token}
 * @param genAiTimePerOutputToken OpenTelemetry's {@code gen_ai.server.time_per_output_token}
 */
public record MetricsBuckets(List<Double> timeToFirstToken, List<Double> timePerOutputToken, List<Double> requestLatency,
                             List<Double> iterationTokens, List<Double> genAiRequestDuration,
                             List<Double> genAiTimeToFirstToken, List<Double> genAiTimePerOutputToken) {

    /** vLLM's {@code vllm:time_to_first_token_seconds}. */
    public static final List<Double> VLLM_TIME_TO_FIRST_TOKEN = List.of(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
            0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0);
    /** vLLM's {@code vllm:inter_token_latency_seconds} and {@code vllm:request_time_per_output_token_seconds}. */
    public static final List<Double> VLLM_TIME_PER_OUTPUT_TOKEN = List.of(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
            0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0);
    /** vLLM's {@code vllm:e2e_request_latency_seconds} and request phase histograms. */
    public static final List<Double> VLLM_REQUEST_LATENCY = List.of(0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0,
            20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0);
    /** vLLM's {@code vllm:iteration_tokens_total}. */
    public static final List<Double> VLLM_ITERATION_TOKENS = List.of(1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
            1024.0, 2048.0, 4096.0, 8192.0, 16384.0);
    /** OpenTelemetry GenAI semantic conventions' advice for {@code gen_ai.server.request.duration}. */
    public static final List<Double> OTEL_REQUEST_DURATION = List.of(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28,
            2.56, 5.12, 10.24, 20.48, 40.96, 81.92);
    /** OpenTelemetry GenAI semantic conventions' advice for {@code gen_ai.server.time_to_first_token}. */
    public static final List<Double> OTEL_TIME_TO_FIRST_TOKEN = List.of(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
            0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0);
    /** OpenTelemetry GenAI semantic conventions' advice for {@code gen_ai.server.time_per_output_token}. */
    public static final List<Double> OTEL_TIME_PER_OUTPUT_TOKEN = List.of(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
            0.4, 0.5, 0.75, 1.0, 2.5);

    /** The defaults: vLLM's lists and OpenTelemetry's advice. */
    public static final MetricsBuckets DEFAULTS = new MetricsBuckets(VLLM_TIME_TO_FIRST_TOKEN, VLLM_TIME_PER_OUTPUT_TOKEN,
            VLLM_REQUEST_LATENCY, VLLM_ITERATION_TOKENS, OTEL_REQUEST_DURATION, OTEL_TIME_TO_FIRST_TOKEN,
            OTEL_TIME_PER_OUTPUT_TOKEN);

    public MetricsBuckets {
        timeToFirstToken = checked("timeToFirstToken", timeToFirstToken);
        timePerOutputToken = checked("timePerOutputToken", timePerOutputToken);
        requestLatency = checked("requestLatency", requestLatency);
        iterationTokens = checked("iterationTokens", iterationTokens);
        genAiRequestDuration = checked("genAiRequestDuration", genAiRequestDuration);
        genAiTimeToFirstToken = checked("genAiTimeToFirstToken", genAiTimeToFirstToken);
        genAiTimePerOutputToken = checked("genAiTimePerOutputToken", genAiTimePerOutputToken);
    }

    private static List<Double> checked(String name, List<Double> bounds) {
        String problem = problem(bounds);
        if (problem != null) {
            throw new IllegalArgumentException(name + " " + bounds + ": " + problem);
        }
        return List.copyOf(bounds);
    }

    /** What is wrong with {@code bounds} as bucket bounds, or null when nothing is. */
    public static @Nullable String problem(@Nullable List<Double> bounds) {
        if (bounds == null || bounds.isEmpty()) {
            return "at least one bucket bound is needed";
        }
        double previous = 0;
        for (Double b : bounds) {
            if (b == null || !Double.isFinite(b) || b <= 0) {
                return "bucket bounds must be positive numbers, got " + b;
            }
            if (b <= previous) {
                return "bucket bounds must increase, got " + b + " after " + previous;
            }
            previous = b;
        }
        return null;
    }

    /** {@code seconds} as durations, for a timer's service-level objectives. */
    static java.time.Duration[] durations(List<Double> seconds) {
        return seconds.stream().map(s -> java.time.Duration.ofNanos(Math.round(s * 1e9))).toArray(java.time.Duration[]::new);
    }

    /** {@code bounds} as an array, for a distribution summary's service-level objectives. */
    static double[] values(List<Double> bounds) {
        return bounds.stream().mapToDouble(Double::doubleValue).toArray();
    }
}
