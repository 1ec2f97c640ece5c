package io.trtllm.spring.openai;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LLM;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.testing.SharedLlm;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The API's routes bound without a server: base paths, the defaults of unset fields, and the 4xx that
 * absurd values get before anything reaches the engine.
 */
class TrtLlmOpenAiApiIT {

    private static WebTestClient client(TrtLlmChatOptions defaults, String basePath) {
        return client(defaults, basePath, 16);
    }

    private static WebTestClient client(TrtLlmChatOptions defaults, String basePath, int maxN) {
        var api = new TrtLlmOpenAiApi(SharedLlm.get(), "stories15M", defaults, maxN, TrtLlmRequestObserver.NOOP);
        return WebTestClient.bindToRouterFunction(api.routes(basePath)).build().mutate()
                .responseTimeout(Duration.ofSeconds(60)).build();
    }

    private static final String MESSAGES = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";

    /** Posts raw JSON; expects a 400 whose error names {@code param}, without class names or paths. */
    private static void expect400(WebTestClient client, String path, String json, String param) {
        byte[] body = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(json).exchange()
                .expectStatus().isBadRequest()
                .expectBody()
                .jsonPath("$.error.type").isEqualTo("invalid_request_error")
                .jsonPath("$.error.param").isEqualTo(param)
                .returnResult().getResponseBody();
        assertThat(new String(body, java.nio.charset.StandardCharsets.UTF_8)).as(json)
                .doesNotContain("Exception").doesNotContain("java.").doesNotContain("io.trtllm")
                .doesNotContain(SharedLlm.get().modelDirectory().toString());
    }

    @Test
    void absurdNumbersAre400sNamingTheFieldAndTheEngineStaysIdle() throws InterruptedException {
        WebTestClient client = client(TrtLlmChatOptions.builder().build(), "/v1");
        String chat = "/v1/chat/completions";
        String completions = "/v1/completions";
        for (String value : new String[] {"2147483647", "2147483648", "1e20", "-1", "0", "\"abc\"", "1.5", "[]", "{}",
                "true", "1e308", "-2147483648"}) {
            expect400(client, chat, "{" + MESSAGES + ", \"max_tokens\": " + value + "}", "max_tokens");
            expect400(client, chat, "{" + MESSAGES + ", \"max_completion_tokens\": " + value + "}", "max_completion_tokens");
            expect400(client, completions, "{\"prompt\": \"Once\", \"max_tokens\": " + value + "}", "max_tokens");
        }
        for (String value : new String[] {"1e9", "2147483647", "17", "-1", "0", "\"2\"", "2.5"}) {
            expect400(client, completions, "{\"prompt\": \"Once\", \"max_tokens\": 1, \"n\": " + value + "}", "n");
            expect400(client, completions, "{\"prompt\": \"Once\", \"max_tokens\": 1, \"best_of\": " + value + "}",
                    "best_of");
        }
        for (String value : new String[] {"21", "1e9", "2147483647", "-1", "\"x\""}) {
            expect400(client, completions, "{\"prompt\": \"Once\", \"max_tokens\": 1, \"logprobs\": " + value + "}",
                    "logprobs");
            expect400(client, chat, "{" + MESSAGES + ", \"logprobs\": true, \"top_logprobs\": " + value + "}",
                    "top_logprobs");
        }
        for (String value : new String[] {"-1", "1e308", "3", "\"hot\""}) {
            expect400(client, chat, "{" + MESSAGES + ", \"temperature\": " + value + "}", "temperature");
        }
        expect400(client, completions, "{\"prompt\": [1, 2147483647], \"max_tokens\": 1}", "prompt");
        expect400(client, completions, "{\"prompt\": [1, -5], \"max_tokens\": 1}", "prompt");
        expect400(client, completions, "{\"prompt\": \"Once\", \"max_tokens\": 1, \"min_tokens\": 2147483647}",
                "min_tokens");
        SharedLlm.awaitIdle(SharedLlm.get());
        assertThat(SharedLlm.get().failure()).isNull();
        assertThat(SharedLlm.get().stats().alive()).isTrue();
        assertThat(SharedLlm.get().stats().kvCache().usedBlocks()).isZero();
    }

    @Test
    void moreChoicesThanTheServerAllowsOrTheQueueHoldsAre400sNot429s() {
        WebTestClient client = client(TrtLlmChatOptions.builder().build(), "/v1");
        // trtllm.openai.max-n (16 here), also over a batch of prompts.
        expect400(client, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 1, \"n\": 17, \"temperature\": 1}",
                "n");
        expect400(client, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 1, \"n\": 2, \"best_of\": 17, "
                + "\"temperature\": 1}", "best_of");
        expect400(client, "/v1/completions", "{\"prompt\": [\"a\", \"b\", \"c\"], \"max_tokens\": 1, \"n\": 6, "
                + "\"temperature\": 1}", "prompt");
        // Beyond the engine's queue (max_queue_size, 1024 for the shared engine): never admissible, whatever max-n is.
        int queue = SharedLlm.get().maxQueueSize();
        WebTestClient unlimited = client(TrtLlmChatOptions.builder().build(), "/v1", 100_000);
        byte[] body = unlimited.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"prompt\": \"Once\", \"max_tokens\": 1, \"n\": " + (queue + 1) + ", \"temperature\": 1}")
                .exchange()
                .expectStatus().isBadRequest()
                .expectBody().jsonPath("$.error.param").isEqualTo("n")
                .returnResult().getResponseBody();
        assertThat(new String(body, java.nio.charset.StandardCharsets.UTF_8)).contains("max_queue_size " + queue);
    }

    @Test
    void aBatchWithARefusedPromptCountsOneRejectionAndNoCancellation() throws Exception {
        // One request runs (batch 1), one waits: the queue (2) has room for one more.
        try (LLM small = new LLM(io.trtllm.api.LlmArgs.builder("stories15M").threads(1).maxBatchSize(1).maxQueueSize(2)
                .build())) {
            var seen = new java.util.concurrent.ConcurrentHashMap<String, Integer>();
            var observer = new TrtLlmRequestObserver() {
                @Override
                public void onCancelled() {
                    seen.merge("cancelled", 1, Integer::sum);
                }

                @Override
                public void onRejected(io.trtllm.api.QueueFullException e) {
                    seen.merge("rejected", 1, Integer::sum);
                }
            };
            var api = new TrtLlmOpenAiApi(small, "stories15M", TrtLlmChatOptions.builder().build(), 16, observer);
            WebTestClient client = WebTestClient.bindToRouterFunction(api.routes("/v1")).build().mutate()
                    .responseTimeout(Duration.ofSeconds(60)).build();
            var long200 = io.trtllm.api.SamplingParams.builder().maxTokens(200).ignoreEos(true).build();
            var running = small.generateAsync("Once upon a time", long200);
            var waiting = small.generateAsync("Once upon a time", long200);
            try {
                for (int i = 0; i < 1000 && !(small.stats().running() == 1 && small.stats().waiting() == 1); i++) {
                    Thread.sleep(10);
                }
                // The first prompt is admitted, the second refused: the first is aborted with it.
                for (boolean stream : new boolean[] {false, true}) {
                    client.post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                            .bodyValue(Map.of("prompt", List.of("The cat", "The dog"), "max_tokens", 2, "stream", stream))
                            .exchange()
                            .expectStatus().isEqualTo(429);
                }
                assertThat(seen).containsEntry("rejected", 2).doesNotContainKey("cancelled");
            } finally {
                running.cancel(true);
                waiting.cancel(true);
            }
            SharedLlm.awaitIdle(small);
            assertThat(small.stats().kvCache().usedBlocks()).isZero();
        }
    }

    @Test
    void aBodyThatIsNotJsonIs415() {
        WebTestClient client = client(TrtLlmChatOptions.builder().build(), "/v1");
        client.post().uri("/v1/completions").contentType(MediaType.TEXT_PLAIN)
                .bodyValue("{\"prompt\": \"Once\", \"max_tokens\": 1}").exchange()
                .expectStatus().isEqualTo(415)
                .expectBody().jsonPath("$.error.code").isEqualTo("unsupported_media_type");
        client.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_FORM_URLENCODED)
                .bodyValue("messages=hi").exchange()
                .expectStatus().isEqualTo(415);
    }

    @Test
    void aDefaultMaxTokensBeyondWhatThePromptLeavesIsCappedNotRefused() {
        LLM llm = SharedLlm.get();
        var defaults = TrtLlmChatOptions.builder().temperature(0.0).maxTokens(10_000).build();
        int promptTokens = llm.tokenizer().encode("Once upon a time", true).length;

        client(defaults, "/v1").post().uri("/v1/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", "Once upon a time", "ignore_eos", true))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.choices[0].finish_reason").isEqualTo("length")
                .jsonPath("$.usage.completion_tokens").isEqualTo(llm.maxSeqLen() - promptTokens);
    }

    @Test
    void unsetFieldsTakeTheDefaultsAndTheRequestsFieldsWin() {
        var defaults = TrtLlmChatOptions.builder().temperature(0.0).maxTokens(6).build();
        String greedy = SharedLlm.get().generate(SharedLlm.get().tokenizer().encodeChat(
                List.of(io.trtllm.api.config.ChatMessage.user("Once upon a time")), true),
                io.trtllm.api.SamplingParams.greedy(3)).output().text();

        client(defaults, "").post().uri("/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("messages", List.of(Map.of("role", "user", "content", "Once upon a time")),
                        "max_tokens", 3))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.choices[0].message.content").isEqualTo(greedy)
                .jsonPath("$.usage.completion_tokens").isEqualTo(3);
        assertThat(greedy).isNotBlank();
    }

    @Test
    void completionTextReadsAsItDoesAfterThePromptAndTheOffsetsAgree() throws Exception {
        byte[] body = client(TrtLlmChatOptions.builder().build(), "/v1").post().uri("/v1/completions")
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("prompt", "The cat", "max_tokens", 4, "temperature", 0, "logprobs", 0))
                .exchange()
                .expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        var choice = new com.fasterxml.jackson.databind.ObjectMapper().readTree(body).path("choices").get(0);

        String text = choice.path("text").asText();
        assertThat(text).isEqualTo(" was walking in the");
        var tokens = choice.path("logprobs").path("tokens");
        var offsets = choice.path("logprobs").path("text_offset");
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < tokens.size(); i++) {
            assertThat(offsets.get(i).asInt()).isEqualTo(joined.length());
            assertThat(text.substring(offsets.get(i).asInt())).startsWith(tokens.get(i).asText());
            joined.append(tokens.get(i).asText());
        }
        assertThat(joined.toString()).isEqualTo(text);
    }
}
