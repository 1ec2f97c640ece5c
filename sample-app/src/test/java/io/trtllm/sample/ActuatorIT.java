package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;

/** Actuator on the sample app: health with the engine's details, metrics and a Prometheus scrape. */
class ActuatorIT extends SampleAppTestSupport {

    @Test
    void healthIsUpWithTheEnginesDetails() {
        web.get().uri("/actuator/health").exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.status").isEqualTo("UP")
                .jsonPath("$.components.trtllm.status").isEqualTo("UP")
                .jsonPath("$.components.trtllm.details.backend").value(b -> assertThat((String) b).startsWith("cpu"))
                .jsonPath("$.components.trtllm.details.model").value(m -> assertThat((String) m).contains("stories15M"))
                .jsonPath("$.components.trtllm.details.kvCacheBlocksTotal").value(n -> assertThat((Integer) n).isPositive())
                .jsonPath("$.components.trtllm.details.requestsRunning").isEqualTo(0);
    }

    @Test
    void metricsAndThePrometheusScrapeHaveTheEnginesMetersAfterTraffic() {
        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("message", PROMPT, "maxTokens", 8)).exchange().expectStatus().isOk();
        web.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", PROMPT, "max_tokens", 8)).exchange().expectStatus().isOk();

        web.get().uri("/actuator/metrics/trtllm.tokens?tag=type:generated").exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.measurements[0].value").value(v -> assertThat(((Number) v).doubleValue()).isGreaterThanOrEqualTo(16));
        web.get().uri("/actuator/metrics/gen_ai.client.operation").exchange().expectStatus().isOk();

        String scrape = web.get().uri("/actuator/prometheus").exchange()
                .expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(scrape).contains("trtllm_requests_active", "trtllm_requests_queued", "trtllm_kv_cache_blocks",
                "trtllm_iterations_total", "trtllm_request_duration_seconds_count");
        List<String> completed = scrape.lines().filter(l -> l.startsWith("trtllm_requests_completed_total{")).toList();
        assertThat(completed).anySatisfy(l -> assertThat(l).contains("reason=\"length\""));
        assertThat(scrape.lines().filter(l -> l.startsWith("trtllm_tokens_total{") && l.contains("type=\"generated\"")))
                .singleElement()
                .satisfies(l -> assertThat(Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).isGreaterThanOrEqualTo(16));
    }
}
