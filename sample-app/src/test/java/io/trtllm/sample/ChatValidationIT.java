package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * {@code /api/chat} and {@code /api/chat/stream} answer every bad value with 400 and a message naming
 * it (RFC 9457 problem details), not 500 with a stack trace in the log; the engine stays idle and well.
 */
@ExtendWith(OutputCaptureExtension.class)
class ChatValidationIT extends SampleAppTestSupport {
    private static final String LONG_PROMPT = "Once upon a time there was a little girl named Lily. ".repeat(400);

    /** Bodies of POST /api/chat, each wrong in one way, with the field the answer must name (or null). */
    private static final List<String[]> BAD_BODIES = List.of(
            new String[] {"{}", "message"},
            new String[] {"{\"message\": \"   \"}", "message"},
            new String[] {"{\"message\": null}", "message"},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": -1}", "maxTokens"},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": 0}", "maxTokens"},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": 2147483647}", null},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": 100000}", null},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": 1e20}", "maxTokens"},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": \"abc\"}", "maxTokens"},
            new String[] {"{\"message\": \"hi\", \"maxTokens\": [1]}", "maxTokens"},
            new String[] {"{\"message\": \"hi\", \"temperature\": -1}", "temperature"},
            new String[] {"{\"message\": \"hi\", \"temperature\": 1e308}", "temperature"},
            new String[] {"{\"message\": \"hi\", \"temperature\": 3}", "temperature"},
            new String[] {"{\"message\": \"hi\", \"temperature\": \"hot\"}", "temperature"},
            new String[] {"{\"message\": \"hi\", \"temperature\": NaN}", null},
            new String[] {"{\"message\": {\"nested\": true}}", "message"},
            new String[] {"{\"message\": \"" + LONG_PROMPT + "\"}", null},
            new String[] {"{\"message\": \"hi\"", null},
            new String[] {"[1, 2]", null},
            new String[] {"", "body"});

    /** Query strings of GET /api/chat/stream, likewise. */
    private static final List<String[]> BAD_QUERIES = List.of(
            new String[] {"", "message"},
            new String[] {"message=", "message"},
            new String[] {"message=hi&maxTokens=-1", "maxTokens"},
            new String[] {"message=hi&maxTokens=2147483647", null},
            new String[] {"message=hi&maxTokens=99999999999", "maxTokens"},
            new String[] {"message=hi&maxTokens=abc", "maxTokens"},
            new String[] {"message=hi&maxTokens=1.5", "maxTokens"},
            new String[] {"message=hi&temperature=-1", "temperature"},
            new String[] {"message=hi&temperature=1e308", "temperature"},
            new String[] {"message=hi&temperature=NaN", "temperature"},
            new String[] {"message=hi&temperature=Infinity", "temperature"},
            new String[] {"message=hi&temperature=hot", "temperature"},
            new String[] {"message=" + "Lily%20".repeat(400), null});

    private static void expectProblem(WebTestClient.ResponseSpec response, String what, String param) {
        byte[] bytes = response.expectStatus().isBadRequest()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody()
                .jsonPath("$.status").isEqualTo(400)
                .jsonPath("$.detail").value(d -> assertThat((String) d).as(what).isNotBlank())
                .returnResult().getResponseBody();
        String body = new String(bytes, StandardCharsets.UTF_8);
        if (param != null) {
            assertThat(body).as(what).contains("\"param\":\"" + param + "\"");
        }
        assertThat(body).as(what).doesNotContain("Exception").doesNotContain("java.").doesNotContain("io.trtllm")
                .doesNotContain("tools.jackson").doesNotContain("\tat ").doesNotContain("/root/").doesNotContain("/home/");
    }

    @Test
    void everyBadValueIsA400NamingItAndNothingFailsOnTheServer(CapturedOutput output) throws InterruptedException {
        long iterations = llm.stats().iterations();
        int logged = output.getOut().length() + output.getErr().length();
        for (String[] bad : BAD_BODIES) {
            expectProblem(web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON).bodyValue(bad[0]).exchange(),
                    "POST " + bad[0].substring(0, Math.min(60, bad[0].length())), bad[1]);
        }
        for (String[] bad : BAD_QUERIES) {
            expectProblem(web.get().uri("/api/chat/stream?" + bad[0]).accept(MediaType.TEXT_EVENT_STREAM).exchange(),
                    "GET ?" + bad[0].substring(0, Math.min(60, bad[0].length())), bad[1]);
        }
        String log = (output.getOut() + output.getErr()).substring(logged);
        assertThat(log).as("nothing logged as an error or with a stack trace").doesNotContain(" ERROR ")
                .doesNotContain("\tat ");
        assertThat(llm.stats().iterations()).as("nothing reached the engine").isEqualTo(iterations);
        assertThat(awaitIdle()).isTrue();
        assertThat(llm.failure()).isNull();
    }

    @Test
    void theLargestMaxTokensThePromptLeavesIsStillServed() {
        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"message\": \"hi\", \"maxTokens\": 3, \"temperature\": 0}").exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.completionTokens").isEqualTo(3);
    }
}
