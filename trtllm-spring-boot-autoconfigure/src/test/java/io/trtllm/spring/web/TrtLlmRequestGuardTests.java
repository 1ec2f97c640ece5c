package io.trtllm.spring.web;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The guard in front of a handler that "generates" (answers 200): CORS, cross-site requests without
 * CORS, JSON bodies; paths it does not guard pass untouched.
 */
class TrtLlmRequestGuardTests {
    private static final String ALLOWED = "https://chat.example.com";

    private final WebTestClient client = WebTestClient.bindToRouterFunction(RouterFunctions.route()
                    .POST("/v1/completions", r -> ServerResponse.ok().bodyValue("generated"))
                    .GET("/api/chat/stream", r -> ServerResponse.ok().bodyValue("generated"))
                    .POST("/other", r -> ServerResponse.ok().bodyValue("other"))
                    .build())
            .webFilter(new TrtLlmRequestGuard(List.of("/v1/**", "/api/**"), List.of(ALLOWED)))
            .configureClient().baseUrl("http://localhost:8080") // CORS compares origins: the request needs one
            .build();

    @Test
    void jsonFromAServerPasses() {
        client.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON).bodyValue("{}").exchange()
                .expectStatus().isOk();
        client.post().uri("/v1/completions").header(HttpHeaders.CONTENT_TYPE, "application/json; charset=utf-8")
                .bodyValue("{}").exchange().expectStatus().isOk();
    }

    @Test
    void aBodyThatIsNotJsonIs415() {
        for (String type : new String[] {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                "*/*", "application/*", "application/jsonx"}) {
            client.post().uri("/v1/completions").header(HttpHeaders.CONTENT_TYPE, type).bodyValue("{}").exchange()
                    .expectStatus().isEqualTo(415)
                    .expectBody().jsonPath("$.error.code").isEqualTo("unsupported_media_type")
                    .jsonPath("$.error.type").isEqualTo("invalid_request_error");
        }
        var unparsable = new HttpHeaders(); // a client library would not send it; a raw socket can
        unparsable.set(HttpHeaders.CONTENT_TYPE, "not a media type");
        org.assertj.core.api.Assertions.assertThat(TrtLlmRequestGuard.isJson(unparsable)).isFalse();
        client.post().uri("/v1/completions").bodyValue(new byte[] {'{', '}'}).exchange().expectStatus().isEqualTo(415)
                .expectBody().jsonPath("$.error.message").value(m -> org.assertj.core.api.Assertions.assertThat((String) m)
                        .contains("no Content-Type"));
    }

    @Test
    void aCrossSiteRequestWithoutCorsIs403() {
        client.get().uri("/api/chat/stream?message=hi").header("Sec-Fetch-Site", "cross-site").exchange()
                .expectStatus().isForbidden()
                .expectBody().jsonPath("$.error.code").isEqualTo("cross_site_request");
        client.get().uri("/api/chat/stream?message=hi").header("Sec-Fetch-Site", "same-origin").exchange()
                .expectStatus().isOk();
        client.get().uri("/api/chat/stream?message=hi").header("Sec-Fetch-Site", "none").exchange()
                .expectStatus().isOk();
    }

    @Test
    void corsAllowsOnlyTheConfiguredOrigins() {
        client.options().uri("/v1/completions").header(HttpHeaders.ORIGIN, ALLOWED)
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type").exchange()
                .expectStatus().isOk()
                .expectHeader().valueEquals(HttpHeaders.ACCESS_CONTROL_ALLOW_ORIGIN, ALLOWED);
        client.options().uri("/v1/completions").header(HttpHeaders.ORIGIN, "https://evil.example")
                .header(HttpHeaders.ACCESS_CONTROL_REQUEST_METHOD, "POST").exchange()
                .expectStatus().isForbidden();
        client.post().uri("/v1/completions").header(HttpHeaders.ORIGIN, "https://evil.example")
                .header("Sec-Fetch-Site", "cross-site").contentType(MediaType.APPLICATION_JSON).bodyValue("{}").exchange()
                .expectStatus().isForbidden();
        client.post().uri("/v1/completions").header(HttpHeaders.ORIGIN, ALLOWED).header("Sec-Fetch-Site", "cross-site")
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{}").exchange()
                .expectStatus().isOk()
                .expectHeader().valueEquals(HttpHeaders.ACCESS_CONTROL_ALLOW_ORIGIN, ALLOWED);
    }

    @Test
    void otherPathsAreNotGuarded() {
        client.post().uri("/other").header(HttpHeaders.CONTENT_TYPE, "text/plain").header("Sec-Fetch-Site", "cross-site")
                .bodyValue("x").exchange().expectStatus().isOk();
    }
}
