package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.HttpHeaders;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * {@code trtllm.openai.open-actuator-endpoints}: with a key, the named endpoints (here the Prometheus scrape, as
 * deploy/kubernetes/deployment.yaml sets it for the inference gateway's endpoint picker) need no key; the rest of
 * Actuator still does, and health still shows details to key holders only. An id that names no exposed endpoint
 * fails startup naming the property.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "trtllm.openai.api-key=" + OpenActuatorEndpointsIT.KEY, "trtllm.openai.open-actuator-endpoints=prometheus"})
class OpenActuatorEndpointsIT {
    static final String KEY = "sk-test-open-4b1c";

    @LocalServerPort
    int port;

    private WebTestClient anonymous() {
        // A connection per request (reactor/reactor-netty#4361, see ApiKeySecurityIT).
        return WebTestClient.bindToServer().baseUrl("http://localhost:" + port).responseTimeout(Duration.ofSeconds(60))
                .defaultHeader(HttpHeaders.CONNECTION, "close").build();
    }

    @Test
    void theNamedEndpointIsOpenAndTheRestOfActuatorIsNot() {
        WebTestClient client = anonymous();
        byte[] scrape = client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        assertThat(new String(scrape, StandardCharsets.UTF_8)).contains("trtllm_requests_queued");
        for (String path : new String[] {"/actuator", "/actuator/metrics", "/actuator/info", "/v1/models"}) {
            client.get().uri(path).exchange().expectStatus().isUnauthorized();
        }
        byte[] health = client.get().uri("/actuator/health").exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        assertThat(new String(health, StandardCharsets.UTF_8)).doesNotContain("components");
    }

    @Test
    void anIdThatNamesNoExposedEndpointFailsStartupNamingTheProperty() {
        var app = new SpringApplicationBuilder(SampleApplication.class).properties("server.port=0",
                "spring.main.banner-mode=off", "trtllm.openai.api-key=" + KEY,
                "trtllm.openai.open-actuator-endpoints=prometheus,heapdumps");
        assertThatThrownBy(app::run).rootCause()
                .isInstanceOf(InvalidConfigurationPropertyValueException.class)
                .hasMessageContaining("trtllm.openai.open-actuator-endpoints")
                .hasMessageContaining("heapdumps");
    }
}
