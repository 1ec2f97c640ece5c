package io.trtllm.sample;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A WebFlux application on the trtllm starter: with no configuration it loads the builtin
 * {@code stories15M} and serves {@code POST /api/chat}, {@code GET /api/chat/stream}, the
 * OpenAI-compatible API under {@code /v1}, Actuator health/metrics/prometheus and a chat page at
 * {@code /}.
 */
@SpringBootApplication
public class SampleApplication {

    public static void main(String[] args) {
        SpringApplication.run(SampleApplication.class, args);
    }
}
