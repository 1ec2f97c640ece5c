package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LLM;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The Prometheus scrape after real traffic on stories15M (the sample app's own chat endpoint, which goes through
 * the ChatModel, and /v1 successes and failures): every series docs/OPERATIONS.md's "Metrics" tables name is there,
 * histograms with their buckets (configured ones honoured), and /v1 is recorded as gen_ai.server.* once per request,
 * with error.type on failures, while the ChatModel's request is not.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "trtllm.metrics.buckets.time-to-first-token=0.05,0.5,5",
        "trtllm.metrics.buckets.gen-ai-request-duration=1,30"})
class PrometheusScrapeIT {
    private static final Path OPERATIONS = Path.of("..", "docs", "OPERATIONS.md");
    private static final Pattern SERIES = Pattern.compile("`((?:vllm:|trtllm_|gen_ai_)[a-z0-9_:]+)");

    @Autowired
    LLM llm;

    @LocalServerPort
    int port;

    private WebTestClient web() {
        return WebTestClient.bindToServer().baseUrl("http://localhost:" + port).responseTimeout(Duration.ofSeconds(60)).build();
    }

    @Test
    void everyDocumentedSeriesIsScrapedAfterTrafficAndV1IsRecordedAsGenAiServerMetrics() throws Exception {
        WebTestClient web = web();
        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("message", "Once upon a time", "maxTokens", 4)).exchange().expectStatus().isOk();
        web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("max_tokens", 4, "messages", List.of(Map.of("role", "user", "content", "Hi"))))
                .exchange().expectStatus().isOk();
        web.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", "One day", "max_tokens", 4, "stream", true)).exchange()
                .expectStatus().isOk().expectBody(String.class).value(body -> assertThat(body).contains("[DONE]"));
        web.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("model", "another-model", "prompt", "One day")).exchange()
                .expectStatus().isNotFound();
        web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("max_tokens", llm.maxSeqLen(), "messages", List.of(Map.of("role", "user", "content", "Hi"))))
                .exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.error.code").isEqualTo("context_length_exceeded");
        awaitIdle();

        String scrape = web.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(scrape).isNotBlank();

        // Every series the tables name (vLLM-compatible, trtllm_*, gen_ai_server_*), as a series or a histogram's.
        Set<String> documented = documentedSeries();
        assertThat(documented).contains("vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                "vllm:time_to_first_token_seconds", "trtllm_requests_queued", "gen_ai_server_request_duration_seconds");
        List<String> missing = new ArrayList<>();
        for (String series : documented) {
            if (scrape.lines().noneMatch(l -> l.startsWith(series + "{") || l.startsWith(series + " ")
                    || l.startsWith(series + "_bucket{") || l.startsWith(series + "_count"))) {
                missing.add(series);
            }
        }
        assertThat(missing).as("documented series missing from the scrape").isEmpty();

        // Histograms have buckets: the configured ones where set, vLLM's elsewhere.
        assertThat(les(scrape, "vllm:time_to_first_token_seconds")).containsExactly("0.05", "0.5", "5.0", "+Inf");
        assertThat(les(scrape, "vllm:e2e_request_latency_seconds")).hasSize(22).startsWith("0.3").endsWith("7680.0", "+Inf");
        assertThat(les(scrape, "vllm:iteration_tokens")).startsWith("1.0", "8.0", "16.0").endsWith("16384.0", "+Inf");
        assertThat(les(scrape, "gen_ai_server_request_duration_seconds")).containsExactly("1.0", "30.0", "+Inf");
        assertThat(les(scrape, "gen_ai_server_time_to_first_token_seconds")).startsWith("0.001").endsWith("10.0", "+Inf");

        // Three generating requests reached the engine (the chat endpoint, two through /v1); each counted once.
        double ended = sum(scrape, "vllm:request_success_total");
        assertThat(ended).isEqualTo(3);
        assertThat(sum(scrape, "trtllm_requests_completed_total")).isEqualTo(3);
        assertThat(sum(scrape, "vllm:e2e_request_latency_seconds_count")).isEqualTo(3);
        assertThat(sum(scrape, "vllm:time_to_first_token_seconds_count")).isEqualTo(3);
        assertThat(sum(scrape, "vllm:generation_tokens_total")).isEqualTo(sum(scrape, "vllm:request_generation_tokens_sum"));

        // /v1: four requests, two answered, two refused; the chat endpoint's ChatModel call is not among them.
        assertThat(sum(scrape, "gen_ai_server_request_duration_seconds_count")).isEqualTo(4);
        assertThat(series(scrape, "gen_ai_server_request_duration_seconds_count", "error_type=\"\"",
                "gen_ai_operation_name=\"chat\"")).isEqualTo(1);
        assertThat(series(scrape, "gen_ai_server_request_duration_seconds_count", "error_type=\"\"",
                "gen_ai_operation_name=\"text_completion\"")).isEqualTo(1);
        assertThat(series(scrape, "gen_ai_server_request_duration_seconds_count", "error_type=\"model_not_found\"",
                "gen_ai_operation_name=\"text_completion\"", "gen_ai_request_model=\"stories15M\"")).isEqualTo(1);
        assertThat(series(scrape, "gen_ai_server_request_duration_seconds_count",
                "error_type=\"context_length_exceeded\"", "gen_ai_operation_name=\"chat\"")).isEqualTo(1);
        assertThat(sum(scrape, "gen_ai_server_time_to_first_token_seconds_count")).isEqualTo(2);
        assertThat(sum(scrape, "gen_ai_server_time_per_output_token_seconds_count")).isEqualTo(2);
        assertThat(scrape).contains("gen_ai_provider_name=\"trtllm\"", "gen_ai_response_model=\"stories15M\"")
                .doesNotContain("another-model");
    }

    /** The series named in the ours / trtllm_* / Prometheus columns of the Metrics section's tables. */
    private static Set<String> documentedSeries() throws IOException {
        String doc = Files.readString(OPERATIONS);
        String section = doc.substring(doc.indexOf("\n## Metrics"));
        int next = section.indexOf("\n## ", 5);
        section = next > 0 ? section.substring(0, next) : section;
        Set<String> series = new LinkedHashSet<>();
        for (String row : section.lines().filter(l -> l.startsWith("| `")).toList()) {
            String[] cells = row.split("\\|");
            // "", vLLM, ours, trtllm_*, meaning (the mapping); "", Micrometer, Prometheus, what (GenAI; the bucket
            // properties' rows have defaults there, no series).
            int[] columns = cells.length == 5 ? new int[] {2, 3} : cells.length == 4 ? new int[] {2} : new int[0];
            for (int c : columns) {
                Matcher m = SERIES.matcher(cells[c]);
                while (m.find()) {
                    series.add(m.group(1));
                }
            }
        }
        return series;
    }

    /** A histogram's bucket bounds in scrape order (its first series). */
    private static List<String> les(String scrape, String histogram) {
        List<String> les = new ArrayList<>();
        String first = null;
        for (String line : scrape.lines().filter(l -> l.startsWith(histogram + "_bucket{")).toList()) {
            String labels = line.substring(0, line.indexOf("le=\""));
            if (first == null) {
                first = labels;
            }
            if (labels.equals(first)) {
                int at = line.indexOf("le=\"") + 4;
                les.add(line.substring(at, line.indexOf('"', at)));
            }
        }
        return les;
    }

    /** The sum of every series of {@code name} (any labels). */
    private static double sum(String scrape, String name) {
        return scrape.lines().filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    /** The value of the one series of {@code name} whose labels include all of {@code labels}. */
    private static double series(String scrape, String name, String... labels) {
        List<String> lines = scrape.lines().filter(l -> l.startsWith(name + "{"))
                .filter(l -> java.util.Arrays.stream(labels).allMatch(l::contains)).toList();
        assertThat(lines).as(name + " " + List.of(labels)).hasSize(1);
        String line = lines.getFirst();
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
    }

    private void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000; i++) {
            var stats = llm.stats();
            if (stats.running() == 0 && stats.waiting() == 0 && stats.kvCache().usedBlocks() == 0) {
                return;
            }
            Thread.sleep(10);
        }
    }
}
