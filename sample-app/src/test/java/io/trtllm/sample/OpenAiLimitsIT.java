package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.MeterRegistry;
import io.trtllm.api.LLM;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;

/**
 * The OpenAI API with an API key and an engine that runs one request and queues one: a missing or
 * wrong key is a 401, a request beyond the queue a 429 (also when it asked for a stream, and on the
 * sample's own endpoints), counted as rejected and never as cancelled; asking for more choices than
 * the queue holds is a 400, since no retry could help.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "trtllm.max-batch-size=1", "trtllm.max-queue-size=1", "trtllm.openai.api-key=test-key"})
class OpenAiLimitsIT {
    private static final Map<String, Object> LONG = Map.of("prompt", "Once upon a time", "max_tokens", 240,
            "ignore_eos", true, "stream", true);

    @Autowired
    LLM llm;

    @Autowired
    MeterRegistry meterRegistry;

    @LocalServerPort
    int port;

    private WebTestClient client(String key) {
        var builder = WebTestClient.bindToServer().baseUrl("http://localhost:" + port).responseTimeout(Duration.ofSeconds(60));
        if (key != null) {
            builder.defaultHeader(HttpHeaders.AUTHORIZATION, "Bearer " + key);
        }
        return builder.build();
    }

    @Test
    void aMissingOrWrongApiKeyIsA401() {
        client(null).get().uri("/v1/models").exchange()
                .expectStatus().isUnauthorized()
                .expectHeader().valueEquals(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                .expectBody().jsonPath("$.error.code").isEqualTo("missing_api_key");
        client("wrong").post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON).bodyValue("{}")
                .exchange()
                .expectStatus().isUnauthorized()
                .expectBody().jsonPath("$.error.code").isEqualTo("invalid_api_key");
        client("test-key").get().uri("/v1/models").exchange().expectStatus().isOk();
        // The rest of the application is not behind the key.
        client(null).get().uri("/actuator/health").exchange().expectStatus().isOk();
    }

    @Test
    void aRequestBeyondTheQueueIsA429AndTheEngineComesBackToIdle() throws InterruptedException {
        WebTestClient authorized = client("test-key");
        // One request runs (the batch holds one), one waits (the queue holds one).
        Disposable running = stream(LONG).subscribe();
        awaitStats(1, 0);
        Disposable waiting = stream(LONG).subscribe();
        awaitStats(1, 1);
        try {
            authorized.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("prompt", "The cat", "max_tokens", 4))
                    .exchange()
                    .expectStatus().isEqualTo(429)
                    .expectHeader().exists(HttpHeaders.RETRY_AFTER)
                    .expectBody()
                    .jsonPath("$.error.type").isEqualTo("rate_limit_error")
                    .jsonPath("$.error.code").isEqualTo("queue_full");
            authorized.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("messages", List.of(Map.of("role", "user", "content", "hi")), "stream", true))
                    .exchange()
                    .expectStatus().isEqualTo(429)
                    .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
                    .expectBody().jsonPath("$.error.code").isEqualTo("queue_full");
        } finally {
            running.dispose();
            waiting.dispose();
        }
        awaitStats(0, 0);
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
    }

    @Test
    void a429IsCountedAsRejectedAndNeverAsCancelled() throws InterruptedException {
        WebTestClient authorized = client("test-key");
        Disposable running = stream(LONG).subscribe();
        awaitStats(1, 0);
        Disposable waiting = stream(LONG).subscribe();
        awaitStats(1, 1);
        double cancelled = count("trtllm.requests.completed", "cancelled");
        double rejected = count("trtllm.requests.rejected", null);
        try {
            authorized.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("prompt", "The cat", "max_tokens", 4)).exchange()
                    .expectStatus().isEqualTo(429);
            authorized.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("prompt", "The cat", "max_tokens", 4, "stream", true)).exchange()
                    .expectStatus().isEqualTo(429);
            authorized.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("messages", List.of(Map.of("role", "user", "content", "hi")), "max_tokens", 4))
                    .exchange()
                    .expectStatus().isEqualTo(429);
            // The sample's own endpoints: 429 with Retry-After too (problem details), not a 500.
            authorized.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("message", "The cat", "maxTokens", 4)).exchange()
                    .expectStatus().isEqualTo(429)
                    .expectHeader().exists(HttpHeaders.RETRY_AFTER)
                    .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON);
            authorized.get().uri("/api/chat/stream?message=The%20cat&maxTokens=4").accept(MediaType.TEXT_EVENT_STREAM)
                    .exchange()
                    .expectStatus().isEqualTo(429)
                    .expectHeader().exists(HttpHeaders.RETRY_AFTER);

            assertThat(count("trtllm.requests.completed", "cancelled")).as("cancelled").isEqualTo(cancelled);
            assertThat(count("trtllm.requests.rejected", null)).as("rejected").isEqualTo(rejected + 5);
        } finally {
            running.dispose();
            waiting.dispose();
        }
        awaitStats(0, 0);
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
    }

    @Test
    void moreChoicesThanTheQueueHoldsIsA400NotA429() {
        client("test-key").post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", "The cat", "max_tokens", 2, "n", 2, "temperature", 1))
                .exchange()
                .expectStatus().isBadRequest()
                .expectHeader().doesNotExist(HttpHeaders.RETRY_AFTER)
                .expectBody().jsonPath("$.error.param").isEqualTo("n")
                .jsonPath("$.error.message").value(m -> assertThat((String) m).contains("max_queue_size 1"));
    }

    private double count(String name, String reason) {
        var search = meterRegistry.find(name);
        if (reason != null) {
            search = search.tag("reason", reason);
        }
        var counter = search.counter();
        return counter != null ? counter.count() : 0;
    }

    private Flux<String> stream(Map<String, Object> body) {
        return org.springframework.web.reactive.function.client.WebClient.create("http://localhost:" + port)
                .post().uri("/v1/completions")
                .header(HttpHeaders.AUTHORIZATION, "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .retrieve().bodyToFlux(String.class);
    }

    private void awaitStats(int running, int waiting) throws InterruptedException {
        for (int i = 0; i < 1000 && (llm.stats().running() != running || llm.stats().waiting() != waiting); i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().running()).as("running").isEqualTo(running);
        assertThat(llm.stats().waiting()).as("waiting").isEqualTo(waiting);
    }
}
