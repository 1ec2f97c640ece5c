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

/** The API's routes bound without a server: base paths and the defaults of unset fields. */
class TrtLlmOpenAiApiTests {

    private static WebTestClient client(TrtLlmChatOptions defaults, String basePath) {
        var api = new TrtLlmOpenAiApi(SharedLlm.get(), "stories15M", defaults, null, TrtLlmRequestObserver.NOOP);
        return WebTestClient.bindToRouterFunction(api.routes(basePath)).build().mutate()
                .responseTimeout(Duration.ofSeconds(60)).build();
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
                List.of(io.trtllm.tokenizer.ChatMessage.user("Once upon a time")), true),
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
}
