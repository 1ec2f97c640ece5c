package io.trtllm.sample;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A WebFlux application on the trtllm starter: with no configuration it loads the builtin
 * {@code stories15M} and serves {@code POST /api/chat}, {@code GET /api/chat/stream}, the
 * OpenAI-compatible API under {@code /v1}, Actuator health/metrics/prometheus and a chat page at
 * {@code /}. With {@code trtllm.openai.api-key} set, the key guards {@code /v1}, {@code /api} and
 * Actuator (health stays open without its details).
 */
// No user store: the chat page is open and the API key is the only credential (see SampleSecurity), so
// Spring Boot's generated in-memory user (and the password it logs) would serve nothing.
@SpringBootApplication(excludeName = "org.springframework.boot.security.autoconfigure.ReactiveUserDetailsServiceAutoConfiguration")
public class SampleApplication {

    public static void main(String[] args) {
        SpringApplication.run(SampleApplication.class, args);
    }
}
