package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LLM;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The sample app with an API key: one key protects everything that costs GPU time ({@code /v1/**} and
 * the sample's own {@code /api/**}) and Actuator except the health probes, whose details only key
 * holders see; the chat page stays open; CORS lets the one configured origin in; a body that is not
 * JSON cannot start generation. A refused request never reaches the engine (its iteration count
 * stays the same).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "trtllm.openai.api-key=" + ApiKeySecurityIT.KEY, "trtllm.openai.cors.allowed-origins=" + ApiKeySecurityIT.UI})
class ApiKeySecurityIT {
    static final String KEY = "sk-test-7d2e91";
    static final String UI = "https://chat.example.com";
    private static final Map<String, Object> COMPLETION = Map.of("prompt", "Once upon a time", "max_tokens", 2);
    private static final Map<String, Object> CHAT = Map.of("message", "Once upon a time", "maxTokens", 2);

    @Autowired
    LLM llm;

    @LocalServerPort
    int port;

    private WebTestClient client(@Nullable String authorization) {
        // A connection per request: Reactor Netty 1.3.6 can stop reading a reused keep-alive connection
        // (reactor/reactor-netty#4361), which hung this test once; it is not what this test is about.
        var builder = WebTestClient.bindToServer().baseUrl("http://localhost:" + port).responseTimeout(Duration.ofSeconds(60))
                .defaultHeader(HttpHeaders.CONNECTION, "close");
        if (authorization != null) {
            builder.defaultHeader(HttpHeaders.AUTHORIZATION, authorization);
        }
        return builder.build();
    }

    /** A request of each generating endpoint, by method and path. */
    private static List<Object[]> generating() {
        return List.of(new Object[] {HttpMethod.POST, "/v1/completions", COMPLETION},
                new Object[] {HttpMethod.POST, "/v1/chat/completions",
                        Map.of("messages", List.of(Map.of("role", "user", "content", "hi")), "max_tokens", 2)},
                new Object[] {HttpMethod.GET, "/v1/models", null},
                new Object[] {HttpMethod.POST, "/api/chat", CHAT},
                new Object[] {HttpMethod.GET, "/api/chat/stream?message=hi&maxTokens=2", null});
    }

    private WebTestClient.ResponseSpec call(WebTestClient client, Object[] request) {
        var spec = client.method((HttpMethod) request[0]).uri((String) request[1]);
        return request[2] != null ? spec.contentType(MediaType.APPLICATION_JSON).bodyValue(request[2]).exchange()
                : spec.exchange();
    }

    @Test
    void everyGeneratingEndpointRefusesAMissingOrWrongKeyBeforeTheEngineSeesIt() {
        long iterations = llm.stats().iterations();
        for (Object[] request : generating()) {
            for (String authorization : new String[] {null, "Bearer wrong", "Basic " + KEY, "Bearer " + KEY + "x", "Bearer"}) {
                byte[] body = call(client(authorization), request)
                        .expectStatus().isUnauthorized()
                        .expectHeader().valueEquals(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                        .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
                        .expectBody()
                        .jsonPath("$.error.type").isEqualTo("invalid_request_error")
                        .jsonPath("$.error.code").isEqualTo(authorization != null && authorization.startsWith("Bearer ")
                                ? "invalid_api_key" : "missing_api_key")
                        .returnResult().getResponseBody();
                assertThat(new String(body, StandardCharsets.UTF_8)).as(request[1] + " " + authorization).doesNotContain(KEY);
            }
        }
        assertThat(llm.stats().iterations()).as("no engine pass for a refused request").isEqualTo(iterations);
    }

    @Test
    void theKeyOpensEveryGeneratingEndpoint() {
        for (Object[] request : generating()) {
            call(client("Bearer " + KEY), request).expectStatus().isOk();
        }
        // The scheme is case-insensitive, as OpenAI clients send it.
        client("bearer " + KEY).get().uri("/v1/models").exchange().expectStatus().isOk();
    }

    @Test
    void actuatorOpensOnlyTheHealthProbesWithoutTheKeyAndDetailsOnlyWithIt() {
        WebTestClient anonymous = client(null);
        byte[] health = anonymous.get().uri("/actuator/health").exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.status").isEqualTo("UP")
                .returnResult().getResponseBody();
        assertThat(new String(health, StandardCharsets.UTF_8)).as("no components, no details without the key")
                .doesNotContain("components").doesNotContain("trtllm").doesNotContain("stories15M");
        anonymous.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.status").isEqualTo("UP");
        anonymous.get().uri("/actuator/health/readiness").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.status").isEqualTo("UP");
        for (String path : new String[] {"/actuator", "/actuator/metrics", "/actuator/prometheus", "/actuator/info",
                "/actuator/metrics/trtllm.tokens"}) {
            anonymous.get().uri(path).exchange().expectStatus().isUnauthorized();
        }

        WebTestClient authorized = client("Bearer " + KEY);
        authorized.get().uri("/actuator/health").exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.components.trtllm.details.model")
                .value(m -> assertThat((String) m).contains("stories15M"));
        authorized.get().uri("/actuator/prometheus").exchange().expectStatus().isOk();
        authorized.get().uri("/actuator/metrics").exchange().expectStatus().isOk();
    }

    @Test
    void theChatPageStaysOpen() {
        client(null).get().uri("/").exchange().expectStatus().isOk();
        client(null).get().uri("/chat.js").exchange().expectStatus().isOk();
    }

    @Test
    void corsLetsTheConfiguredOriginInAndNoOther() {
        long iterations = llm.stats().iterations();
        client(null).options().uri("/v1/chat/completions").header(HttpHeaders.ORIGIN, UI)
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type").exchange()
                .expectStatus().isOk()
                .expectHeader().valueEquals(HttpHeaders.ACCESS_CONTROL_ALLOW_ORIGIN, UI);
        client(null).options().uri("/api/chat").header(HttpHeaders.ORIGIN, "https://evil.example")
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_METHOD, "POST").exchange()
                .expectStatus().isForbidden();
        // Even with the key (say, leaked into a page): another origin's request is refused.
        client("Bearer " + KEY).post().uri("/v1/completions").header(HttpHeaders.ORIGIN, "https://evil.example")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(COMPLETION).exchange()
                .expectStatus().isForbidden();
        client("Bearer " + KEY).post().uri("/v1/completions").header(HttpHeaders.ORIGIN, UI)
                .contentType(MediaType.APPLICATION_JSON).bodyValue(COMPLETION).exchange()
                .expectStatus().isOk()
                .expectHeader().valueEquals(HttpHeaders.ACCESS_CONTROL_ALLOW_ORIGIN, UI);
        assertThat(llm.stats().iterations()).isGreaterThan(iterations);
    }

    @Test
    void aBodyThatIsNotJsonCannotStartGeneration() {
        long iterations = llm.stats().iterations();
        WebTestClient authorized = client("Bearer " + KEY);
        for (String path : new String[] {"/v1/completions", "/v1/chat/completions", "/api/chat"}) {
            authorized.post().uri(path).contentType(MediaType.TEXT_PLAIN)
                    .bodyValue("{\"prompt\": \"Once\", \"message\": \"Once\", \"max_tokens\": 2}").exchange()
                    .expectStatus().isEqualTo(415)
                    .expectBody().jsonPath("$.error.code").isEqualTo("unsupported_media_type");
            authorized.post().uri(path).contentType(MediaType.APPLICATION_FORM_URLENCODED).bodyValue("prompt=Once")
                    .exchange().expectStatus().isEqualTo(415);
        }
        // What a cross-site form sends (no Origin on the request a page's <form> makes in older browsers).
        client(null).post().uri("/api/chat").header("Sec-Fetch-Site", "cross-site")
                .contentType(MediaType.TEXT_PLAIN).bodyValue("message=hi").exchange()
                .expectStatus().isUnauthorized();
        assertThat(llm.stats().iterations()).isEqualTo(iterations);
    }
}
