package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;

/**
 * Without an API key anyone who reaches the port may generate; a web page someone on the network
 * opens must not, through that person's browser: no cross-site request without CORS, no body that is
 * not JSON, no origin that is not allowed (none by default). None of them reaches the engine.
 */
class CrossSiteIT extends SampleAppTestSupport {

    @Test
    void aCrossSitePageCannotStartGeneration() {
        long iterations = llm.stats().iterations();
        // <img src=".../api/chat/stream?message=..."> or a link: no Origin, marked cross-site.
        web.get().uri("/api/chat/stream?message=hi&maxTokens=4").header("Sec-Fetch-Site", "cross-site").exchange()
                .expectStatus().isForbidden()
                .expectBody().jsonPath("$.error.code").isEqualTo("cross_site_request");
        // A <form> POST: text/plain or form-encoded, which a browser sends without a preflight.
        for (String path : new String[] {"/v1/completions", "/v1/chat/completions", "/api/chat"}) {
            web.post().uri(path).contentType(MediaType.TEXT_PLAIN).bodyValue("{\"prompt\": \"" + PROMPT + "\"}").exchange()
                    .expectStatus().isEqualTo(415);
            web.post().uri(path).contentType(MediaType.APPLICATION_FORM_URLENCODED).bodyValue("message=hi").exchange()
                    .expectStatus().isEqualTo(415);
        }
        // fetch() from another origin: CORS refuses it (no origin is allowed by default), preflight or not.
        web.options().uri("/v1/completions").header(HttpHeaders.ORIGIN, "https://evil.example")
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_METHOD, "POST").exchange()
                .expectStatus().isForbidden();
        web.get().uri("/api/chat/stream?message=hi&maxTokens=4").header(HttpHeaders.ORIGIN, "https://evil.example")
                .exchange().expectStatus().isForbidden();
        assertThat(llm.stats().iterations()).as("no engine pass").isEqualTo(iterations);
    }

    @Test
    void theSameOriginAndServersStillGenerate() {
        web.get().uri("/api/chat/stream?message=hi&maxTokens=2").header("Sec-Fetch-Site", "same-origin")
                .header(HttpHeaders.ORIGIN, "http://localhost:" + port).accept(MediaType.TEXT_EVENT_STREAM).exchange()
                .expectStatus().isOk();
        web.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", PROMPT, "max_tokens", 2)).exchange()
                .expectStatus().isOk();
    }
}
