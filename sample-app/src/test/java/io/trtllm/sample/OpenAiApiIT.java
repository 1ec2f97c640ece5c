package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.reactive.function.client.WebClient;

/** The OpenAI-compatible API of the sample app: /v1/models, /v1/chat/completions, /v1/completions. */
class OpenAiApiIT extends SampleAppTestSupport {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void modelsListsTheConfiguredModel() {
        web.get().uri("/v1/models").exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.object").isEqualTo("list")
                .jsonPath("$.data[0].id").isEqualTo("stories15M")
                .jsonPath("$.data[0].object").isEqualTo("model");
        web.get().uri("/v1/models/stories15M").exchange().expectStatus().isOk();
        web.get().uri("/v1/models/gpt-4o").exchange().expectStatus().isNotFound()
                .expectBody().jsonPath("$.error.code").isEqualTo("model_not_found");
    }

    @Test
    void chatCompletionGoesThroughTheChatTemplateAndEqualsTheChatModel() {
        String expected = greedyReply(24);

        web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("model", "stories15M", "temperature", 0, "max_tokens", 24,
                        "messages", List.of(Map.of("role", "user", "content", PROMPT))))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.object").isEqualTo("chat.completion")
                .jsonPath("$.id").value(id -> assertThat((String) id).startsWith("chatcmpl-"))
                .jsonPath("$.model").isEqualTo("stories15M")
                .jsonPath("$.choices[0].message.role").isEqualTo("assistant")
                .jsonPath("$.choices[0].message.content").isEqualTo(expected)
                .jsonPath("$.choices[0].finish_reason").isEqualTo("length")
                .jsonPath("$.usage.completion_tokens").isEqualTo(24)
                .jsonPath("$.usage.total_tokens").value(t -> assertThat((Integer) t).isGreaterThan(24));
    }

    @Test
    void completionOfTextAndOfTokenIdsInOneBatch() {
        int[] ids = llm.tokenizer().encode(PROMPT, true);
        String expected = llm.generate(PROMPT, io.trtllm.api.SamplingParams.greedy(16)).output().text();

        JsonNode body = post("/v1/completions", Map.of("prompt", List.of(PROMPT, ids), "temperature", 0,
                "max_tokens", 16, "logprobs", 2));

        assertThat(body.get("object").asText()).isEqualTo("text_completion");
        assertThat(body.get("choices")).hasSize(2);
        for (int i = 0; i < 2; i++) {
            JsonNode choice = body.get("choices").get(i);
            assertThat(choice.get("index").asInt()).isEqualTo(i);
            assertThat(choice.get("text").asText()).isEqualTo(expected);
            assertThat(choice.get("logprobs").get("tokens")).hasSize(16);
            assertThat(choice.get("logprobs").get("top_logprobs").get(0).size()).isBetween(1, 2);
            assertThat(choice.get("logprobs").get("token_logprobs").get(0).asDouble()).isLessThanOrEqualTo(0);
        }
        assertThat(body.get("usage").get("prompt_tokens").asInt()).isEqualTo(2 * ids.length);
        assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(32);
    }

    @Test
    void nChoicesWithASeedAreReproducible() {
        Map<String, Object> request = Map.of("prompt", PROMPT, "temperature", 1.0, "seed", 7, "n", 3, "max_tokens", 12);

        JsonNode first = post("/v1/completions", request);
        JsonNode second = post("/v1/completions", request);

        assertThat(first.get("choices")).hasSize(3);
        assertThat(first.get("choices").findValuesAsText("text")).isEqualTo(second.get("choices").findValuesAsText("text"));
    }

    @Test
    void streamedChatCompletionSendsChunksThenUsageThenDone() {
        String expected = greedyReply(24);

        String raw = web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("temperature", 0, "max_tokens", 24, "stream", true,
                        "stream_options", Map.of("include_usage", true),
                        "messages", List.of(Map.of("role", "user", "content", PROMPT))))
                .exchange()
                .expectStatus().isOk()
                .expectHeader().contentTypeCompatibleWith(MediaType.TEXT_EVENT_STREAM)
                .expectBody(String.class).returnResult().getResponseBody();

        List<String> events = events(raw);
        assertThat(events.getLast()).isEqualTo("[DONE]");
        List<JsonNode> chunks = events.subList(0, events.size() - 1).stream().map(OpenAiApiIT::parse).toList();
        assertThat(chunks).hasSizeGreaterThan(5);
        JsonNode usage = chunks.getLast();
        assertThat(usage.get("choices")).isEmpty();
        assertThat(usage.get("usage").get("completion_tokens").asInt()).isEqualTo(24);
        List<JsonNode> deltas = chunks.subList(0, chunks.size() - 1);
        assertThat(deltas).allSatisfy(c -> {
            assertThat(c.get("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(c.get("id").asText()).isEqualTo(usage.get("id").asText());
            assertThat(c.get("usage").isNull()).isTrue();
        });
        assertThat(deltas.getFirst().at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        StringBuilder text = new StringBuilder();
        deltas.forEach(c -> text.append(c.at("/choices/0/delta/content").asText()));
        assertThat(text.toString()).isEqualTo(expected);
        assertThat(deltas.getLast().at("/choices/0/finish_reason").asText()).isEqualTo("length");
        assertThat(deltas.subList(0, deltas.size() - 1))
                .allSatisfy(c -> assertThat(c.at("/choices/0/finish_reason").isNull()).isTrue());
    }

    @Test
    void streamedCompletionHasNoUsageChunkUnlessAskedFor() {
        String raw = web.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", PROMPT, "temperature", 0, "max_tokens", 8, "stream", true))
                .exchange()
                .expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();

        List<String> events = events(raw);
        assertThat(events.getLast()).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode chunk = parse(e);
            assertThat(chunk.get("object").asText()).isEqualTo("text_completion");
            assertThat(chunk.has("usage")).isFalse();
            text.append(chunk.at("/choices/0/text").asText());
        }
        assertThat(text.toString()).isEqualTo(llm.generate(PROMPT, io.trtllm.api.SamplingParams.greedy(8)).output().text());
    }

    @Test
    void invalidRequestsAre400sNamingTheField() {
        expectError("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "hi")),
                "temperature", "hot"), 400, "temperature", "invalid_type");
        expectError("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "hi")),
                "top_p", 1.5), 400, "top_p", "invalid_value");
        expectError("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "hi")),
                "max_tokens", 0), 400, "max_tokens", "invalid_value");
        expectError("/v1/chat/completions", Map.of("model", "stories15M"), 400, "messages", "invalid_value");
        expectError("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "robot", "content", "hi"))),
                400, "messages[0].role", "invalid_value");
        expectError("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "hi")),
                "tools", List.of(Map.of("type", "function"))), 400, "tools[0].function.name", "invalid_value");
        expectError("/v1/completions", Map.of("prompt", PROMPT, "max_tokens", 1000), 400, "max_tokens",
                "context_length_exceeded");
        expectError("/v1/completions", Map.of("prompt", PROMPT, "stream", true, "n", 2, "temperature", 1), 400, "n",
                "unsupported_parameter");
        expectError("/v1/completions", Map.of("prompt", List.of(1, 99999)), 400, "prompt", "invalid_value");
        expectError("/v1/completions", Map.of("prompt", PROMPT, "model", "gpt-4o"), 404, "model", "model_not_found");

        web.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON).bodyValue("{\"prompt\": ")
                .exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.error.type").isEqualTo("invalid_request_error")
                .jsonPath("$.error.message").value(m -> assertThat((String) m).contains("not valid JSON"));
        web.post().uri("/v1/embeddings").contentType(MediaType.APPLICATION_JSON).bodyValue("{}")
                .exchange().expectStatus().isNotFound().expectBody().jsonPath("$.error.code").isEqualTo("unknown_url");
    }

    @Test
    void aClientThatLeavesTheStreamAbortsItsEngineRequest() throws InterruptedException {
        double cancelledBefore = cancelledCount();
        WebClient client = WebClient.create("http://localhost:" + port);

        List<String> firstChunks = client.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", PROMPT, "max_tokens", 240, "ignore_eos", true, "stream", true))
                .retrieve()
                .bodyToFlux(String.class)
                .take(3) // then cancel: the connection closes mid-stream
                .collectList()
                .block(Duration.ofSeconds(60));

        assertThat(firstChunks).hasSize(3);
        assertThat(awaitIdle()).as("the engine is idle again, its KV blocks freed").isTrue();
        assertThat(awaitCancelled(cancelledBefore + 1)).as("the request was cancelled, not run to max_tokens").isTrue();
    }

    private JsonNode post(String path, Map<String, Object> body) {
        byte[] bytes = web.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return parse(new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
    }

    private void expectError(String path, Map<String, Object> body, int status, String param, String code) {
        WebTestClient.BodyContentSpec error = web.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange()
                .expectStatus().isEqualTo(status)
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
                .expectBody();
        error.jsonPath("$.error.param").isEqualTo(param)
                .jsonPath("$.error.code").isEqualTo(code)
                .jsonPath("$.error.type").isEqualTo("invalid_request_error")
                .jsonPath("$.error.message").value(m -> assertThat((String) m).isNotBlank());
    }

    /** The data of each server-sent event, checking OpenAI's framing: {@code data: ...} and a blank line. */
    static List<String> events(String raw) {
        List<String> out = new ArrayList<>();
        assertThat(raw).endsWith("\n\n");
        for (String event : raw.split("\n\n")) {
            assertThat(event).startsWith("data: ");
            out.add(event.substring("data: ".length()));
        }
        return out;
    }

    static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new AssertionError("not JSON: " + json, e);
        }
    }
}
