package io.trtllm.spring.web;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** What of an exception's message a client may see. */
class ClientMessagesTests {

    @Test
    void theEnginesArgumentChecksPassUnchanged() {
        for (String message : new String[] {"temperature must be a finite number >= 0, got -1.0",
                "prompt (300 tokens) exceeds the engine's max_input_len 256",
                "best_of (2) cannot be less than n (3)", "Invalid 'top_p': 1.5 is greater than the maximum of 1."}) {
            assertThat(ClientMessages.sanitize(message)).isEqualTo(message);
        }
    }

    @Test
    void serverPathsAreCut() {
        assertThat(ClientMessages.sanitize("cannot read /root/.cache/trtllm/3f2a/config.json: no such file"))
                .isEqualTo("cannot read <path>: no such file");
        assertThat(ClientMessages.sanitize("template 'C:\\models\\llama\\tokenizer_config.json' failed"))
                .isEqualTo("template '<path>' failed");
        assertThat(ClientMessages.sanitize("in file:/home/app/BOOT-INF/classes/application.yml"))
                .doesNotContain("/home/app").doesNotContain("application.yml");
    }

    @Test
    void urlsAndRatiosAreNotPaths() {
        assertThat(ClientMessages.sanitize("see https://example.com/docs/limits for 1/2 of it"))
                .isEqualTo("see https://example.com/docs/limits for 1/2 of it");
    }

    @Test
    void classNamesAndStackFramesAreCut() {
        String message = "java.lang.IllegalStateException: render failed at io.trtllm.tokenizer.ChatTemplate.render"
                + "(ChatTemplate.java:88) in com.hubspot.jinjava.Jinjava";
        String sanitized = ClientMessages.sanitize(message);
        assertThat(sanitized).doesNotContain("java.lang").doesNotContain("io.trtllm").doesNotContain("ChatTemplate.java")
                .doesNotContain("com.hubspot").startsWith("render failed");
    }

    @Test
    void nothingLeftIsSaidSo() {
        assertThat(ClientMessages.sanitize(null)).isEqualTo("(no message)");
        assertThat(ClientMessages.sanitize(" ")).isEqualTo("(no message)");
        assertThat(ClientMessages.sanitize("java.lang.NullPointerException")).isEqualTo("(no message)");
    }

    @Test
    void longMessagesAreCut() {
        assertThat(ClientMessages.sanitize("x".repeat(5000))).hasSize(ClientMessages.MAX_LENGTH + 3).endsWith("...");
    }
}
