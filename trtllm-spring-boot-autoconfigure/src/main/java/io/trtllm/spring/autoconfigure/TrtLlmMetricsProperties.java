package io.trtllm.spring.autoconfigure;

import io.trtllm.spring.actuate.MetricsBuckets;
import java.util.ArrayList;
import java.util.List;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * The engine's meters besides {@code trtllm.*} ({@code trtllm.metrics.*}): vLLM's metric set, and the histogram
 * buckets of it and of the OpenAI API's {@code gen_ai.server.*} histograms. Defaults are vLLM's bucket lists and
 * OpenTelemetry's advice for the GenAI server metrics. See docs/OPERATIONS.md, "Metrics".
 */
@ConfigurationProperties(prefix = TrtLlmMetricsProperties.PREFIX)
public class TrtLlmMetricsProperties implements InitializingBean {
    /** Prefix of the metrics properties. */
    public static final String PREFIX = "trtllm.metrics";

    private final Vllm vllm = new Vllm();

    private final Buckets buckets = new Buckets();

    public Vllm getVllm() {
        return vllm;
    }

    public Buckets getBuckets() {
        return buckets;
    }

    @Override
    public void afterPropertiesSet() {
        toBuckets();
    }

    /**
     * The buckets as the meters take them.
     *
     * @throws InvalidConfigurationPropertyValueException naming the key of a list that is empty, not positive or
     *                                                    not increasing
     */
    public MetricsBuckets toBuckets() {
        String prefix = PREFIX + ".buckets.";
        return new MetricsBuckets(
                check(prefix + "time-to-first-token", buckets.timeToFirstToken),
                check(prefix + "time-per-output-token", buckets.timePerOutputToken),
                check(prefix + "request-latency", buckets.requestLatency),
                check(prefix + "iteration-tokens", buckets.iterationTokens),
                check(prefix + "gen-ai-request-duration", buckets.genAiRequestDuration),
                check(prefix + "gen-ai-time-to-first-token", buckets.genAiTimeToFirstToken),
                check(prefix + "gen-ai-time-per-output-token", buckets.genAiTimePerOutputToken));
    }

    private static List<Double> check(String key, List<Double> bounds) {
        String problem = MetricsBuckets.problem(bounds);
        if (problem != null) {
            throw new InvalidConfigurationPropertyValueException(key, bounds, problem);
        }
        return bounds;
    }

    /** vLLM's metric set ({@code vllm:*} series). */
    public static class Vllm {
        /**
         * Whether to register vLLM's metric set (vllm:num_requests_waiting, vllm:kv_cache_usage_perc,
         * vllm:time_to_first_token_seconds, ...) besides trtllm.*, so that dashboards, autoscalers and inference
         * gateways made for vLLM read this server unchanged.
         */
        private boolean enabled = true;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }
    }

    /** Upper bounds of histogram buckets: Prometheus {@code _bucket} series, one per bound and +Inf. */
    public static class Buckets {
        /** Bounds in seconds of vllm:time_to_first_token_seconds. */
        private List<Double> timeToFirstToken = new ArrayList<>(MetricsBuckets.VLLM_TIME_TO_FIRST_TOKEN);

        /** Bounds in seconds of vllm:request_time_per_output_token_seconds and vllm:inter_token_latency_seconds. */
        private List<Double> timePerOutputToken = new ArrayList<>(MetricsBuckets.VLLM_TIME_PER_OUTPUT_TOKEN);

        /**
         * Bounds in seconds of vllm:e2e_request_latency_seconds and of the request phases (queue, prefill, decode,
         * inference time).
         */
        private List<Double> requestLatency = new ArrayList<>(MetricsBuckets.VLLM_REQUEST_LATENCY);

        /** Bounds in tokens of vllm:iteration_tokens (tokens per forward pass). */
        private List<Double> iterationTokens = new ArrayList<>(MetricsBuckets.VLLM_ITERATION_TOKENS);

        /** Bounds in seconds of the OpenAI API's gen_ai.server.request.duration. */
        private List<Double> genAiRequestDuration = new ArrayList<>(MetricsBuckets.OTEL_REQUEST_DURATION);

        /** Bounds in seconds of the OpenAI API's gen_ai.server.time_to_first_token. */
        private List<Double> genAiTimeToFirstToken = new ArrayList<>(MetricsBuckets.OTEL_TIME_TO_FIRST_TOKEN);

        /** Bounds in seconds of the OpenAI API's gen_ai.server.time_per_output_token. */
        private List<Double> genAiTimePerOutputToken = new ArrayList<>(MetricsBuckets.OTEL_TIME_PER_OUTPUT_TOKEN);

        public List<Double> getTimeToFirstToken() {
            return timeToFirstToken;
        }

        public void setTimeToFirstToken(List<Double> timeToFirstToken) {
            this.timeToFirstToken = timeToFirstToken;
        }

        public List<Double> getTimePerOutputToken() {
            return timePerOutputToken;
        }

        public void setTimePerOutputToken(List<Double> timePerOutputToken) {
            this.timePerOutputToken = timePerOutputToken;
        }

        public List<Double> getRequestLatency() {
            return requestLatency;
        }

        public void setRequestLatency(List<Double> requestLatency) {
            this.requestLatency = requestLatency;
        }

        public List<Double> getIterationTokens() {
            return iterationTokens;
        }

        public void setIterationTokens(List<Double> iterationTokens) {
            this.iterationTokens = iterationTokens;
        }

        public List<Double> getGenAiRequestDuration() {
            return genAiRequestDuration;
        }

        public void setGenAiRequestDuration(List<Double> genAiRequestDuration) {
            this.genAiRequestDuration = genAiRequestDuration;
        }

        public List<Double> getGenAiTimeToFirstToken() {
            return genAiTimeToFirstToken;
        }

        public void setGenAiTimeToFirstToken(List<Double> genAiTimeToFirstToken) {
            this.genAiTimeToFirstToken = genAiTimeToFirstToken;
        }

        public List<Double> getGenAiTimePerOutputToken() {
            return genAiTimePerOutputToken;
        }

        public void setGenAiTimePerOutputToken(List<Double> genAiTimePerOutputToken) {
            this.genAiTimePerOutputToken = genAiTimePerOutputToken;
        }
    }
}
