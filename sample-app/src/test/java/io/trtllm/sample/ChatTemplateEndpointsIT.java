package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.BuiltinModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Flux;
import reactor.netty.resources.LoopResources;

/**
 * Issue 13's template payloads through the HTTP endpoints, on the sample app with stories15M and a
 * chat template (trtllm.tokenizer): Mistral Instruct's, behind the branches a hostile checkpoint
 * could add (read a file; loop 10^9 times with or without output), which the last message's text
 * selects. Message text reaches the model as text; a template that reads a file is a server error
 * that names nothing of the server; a runaway template is a 400 once it hits its limit, and renders
 * on a worker thread meanwhile, not on the event loop.
 */
class ChatTemplateEndpointsIT extends SampleAppTestSupport {
    static final String NESTED_RANGES = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x"
            + "{% endfor %}{% endfor %}{% endfor %}";
    static final String SILENT_RANGES = NESTED_RANGES.replace("x", "");

    /** Mistral-7B-Instruct-v0.1's chat template. */
    static final String MISTRAL_INSTRUCT = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') "
            + "!= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/"
            + "assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}"
            + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    static final String HOSTILE_CHECKPOINT = "{% if messages[-1]['content'] == 'hostile: include' %}"
            + "{% include 'application.yml' %}"
            + "{% elif messages[-1]['content'] == 'hostile: loop' %}" + NESTED_RANGES
            + "{% elif messages[-1]['content'] == 'hostile: silent' %}" + SILENT_RANGES
            + "{% endif %}" + MISTRAL_INSTRUCT;

    static final String LIMIT_REASON = "rendering the chat template took longer than its limit of 5000 ms|the chat "
            + "template's output or a string it builds would exceed its limit of 4194304 characters";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** stories15M's tokenizer with the hostile checkpoint's template, in target/ (rewritten for each run). */
    @DynamicPropertySource
    static void tokenizerWithChatTemplate(DynamicPropertyRegistry registry) {
        registry.add("trtllm.tokenizer", () -> {
            try {
                Path model = BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null));
                Path dir = Files.createDirectories(Path.of("target", "test-models", "stories15M-chat-template"))
                        .toAbsolutePath();
                Files.copy(model.resolve("tokenizer.json"), dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
                ObjectNode config = (ObjectNode) JSON.readTree(model.resolve("tokenizer_config.json").toFile());
                config.put("chat_template", HOSTILE_CHECKPOINT);
                JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
                return dir.toString();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** The prompt's length when Mistral's template prints {@code message} as written (encoded without a template). */
    private int mistralPromptTokens(String message) {
        return llm.tokenizer().encode("<s>[INST] " + message + " [/INST]", false).length;
    }

    private static Map<String, Object> chat(String content) {
        return Map.of("messages", List.of(Map.of("role", "user", "content", content)), "max_tokens", 2, "temperature", 0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ 6*7 }}", "{% include 'application.yml' %}", "{% import 'application.yml' as c %}{{ c }}",
            "{% extends 'application.yml' %}", NESTED_RANGES})
    void chatCompletionsPrintMessageTextAsWritten(String payload) {
        web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON).bodyValue(chat(payload))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.usage.prompt_tokens").isEqualTo(mistralPromptTokens(payload))
                .jsonPath("$.usage.completion_tokens").isEqualTo(2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ 6*7 }}", "{% include 'application.yml' %}", "{% import 'application.yml' as c %}{{ c }}",
            "{% extends 'application.yml' %}", NESTED_RANGES})
    void apiChatPrintsMessageTextAsWritten(String payload) {
        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("message", payload, "maxTokens", 2, "temperature", 0))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.promptTokens").isEqualTo(mistralPromptTokens(payload))
                .jsonPath("$.completionTokens").isEqualTo(2);
    }

    @Test
    void templateThatReadsAFileIsAServerErrorThatNamesNothingOfTheServer() {
        String body = web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(chat("hostile: include"))
                .exchange()
                .expectStatus().isEqualTo(500)
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(body).contains("\"type\":\"server_error\"").contains("error id")
                .doesNotContain("tokenizer_config.json").doesNotContain("Exception").doesNotContain("stories15M-chat-template")
                .doesNotContain("application.yml");

        String apiChat = web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("message", "hostile: include"))
                .exchange()
                .expectStatus().isEqualTo(500)
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(apiChat).doesNotContain("tokenizer_config.json").doesNotContain("Exception")
                .doesNotContain("application.yml");
    }

    @Test
    void runawayTemplateIsABadRequestOnceItHitsItsLimit() throws InterruptedException {
        for (boolean stream : new boolean[] {false, true}) {
            Map<String, Object> request = new HashMap<>(chat("hostile: loop"));
            request.put("stream", stream);
            web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON).bodyValue(request)
                    .exchange()
                    .expectStatus().isBadRequest()
                    .expectBody()
                    .jsonPath("$.error.type").isEqualTo("invalid_request_error")
                    .jsonPath("$.error.param").isEqualTo("messages")
                    .jsonPath("$.error.code").isEqualTo("chat_template_limit_exceeded")
                    .jsonPath("$.error.message").value(m -> assertThat((String) m).matches(LIMIT_REASON));
        }

        web.post().uri("/api/chat").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("message", "hostile: loop"))
                .exchange()
                .expectStatus().isBadRequest()
                .expectBody()
                .jsonPath("$.title").isEqualTo("Chat template limit exceeded")
                .jsonPath("$.detail").value(d -> assertThat((String) d).matches(LIMIT_REASON));

        // An EventSource asks for events only: the problem comes as one (the status is what it acts on).
        String events = web.get().uri(u -> u.path("/api/chat/stream").queryParam("message", "hostile: loop").build())
                .accept(MediaType.TEXT_EVENT_STREAM)
                .exchange()
                .expectStatus().isBadRequest()
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(events).startsWith("data:{").contains("\"title\":\"Chat template limit exceeded\"")
                .containsPattern(LIMIT_REASON).doesNotContain("tokenizer_config.json");

        assertThat(awaitIdle()).as("no engine request was made, nothing is held").isTrue();
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
    }

    @Test
    void runawayTemplatesRenderOnWorkersWhileTheEventLoopsServeOthers() {
        // For each endpoint, one runaway render more than there are event loops: were either rendered on
        // the loops, every loop would be stuck for the render's 5 s, and so would the request after them.
        int perEndpoint = LoopResources.DEFAULT_IO_WORKER_COUNT + 1;
        WebClient client = WebClient.create("http://localhost:" + port);
        long start = System.nanoTime();
        ConcurrentLinkedQueue<Long> finished = new ConcurrentLinkedQueue<>();
        List<Flux<Integer>> calls = new ArrayList<>();
        for (int i = 0; i < perEndpoint; i++) {
            var completion = client.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(chat("hostile: silent"));
            var stream = client.get().uri(u -> u.path("/api/chat/stream").queryParam("message", "hostile: silent").build())
                    .accept(MediaType.TEXT_EVENT_STREAM);
            for (var call : List.of(completion, stream)) {
                calls.add(call.exchangeToMono(r -> r.releaseBody().thenReturn(r.statusCode().value()))
                        .doOnNext(s -> finished.add(System.nanoTime() - start)).flux());
            }
        }
        int renders = calls.size();
        var statuses = Flux.merge(calls).collectList().toFuture();
        sleep(Duration.ofMillis(500)); // the renders are under way

        long before = System.nanoTime();
        String models = client.get().uri("/v1/models").retrieve().bodyToMono(String.class).block(Duration.ofSeconds(60));
        Duration served = Duration.ofNanos(System.nanoTime() - before);

        assertThat(models).contains("stories15M");
        assertThat(served).isLessThan(Duration.ofSeconds(2));
        assertThat(finished).as("no render had finished when /v1/models was answered").isEmpty();
        assertThat(statuses.join()).hasSize(renders).containsOnly(400);
        assertThat(finished).allSatisfy(t -> assertThat(Duration.ofNanos(t)).isGreaterThan(Duration.ofMillis(4900)));
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Test
    void mistralTemplateStillRejectsASystemMessageWithoutTheServersPath() {
        String body = web.post().uri("/v1/chat/completions").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("messages", List.of(Map.of("role", "system", "content", "Be brief."),
                        Map.of("role", "user", "content", "Hi")), "max_tokens", 2))
                .exchange()
                .expectStatus().isBadRequest()
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(body)
                .contains("\"code\":\"chat_template_error\"")
                .contains("the chat template rejected the conversation: Conversation roles must alternate")
                .doesNotContain("tokenizer_config.json");
    }
}
