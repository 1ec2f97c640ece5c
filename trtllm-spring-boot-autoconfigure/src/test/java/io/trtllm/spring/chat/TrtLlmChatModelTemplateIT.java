package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.ChatTemplateException;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TemplateLimitException;
import io.trtllm.api.TransformersTokenizer;
import io.trtllm.model.ModelFormatException;
import io.trtllm.spring.testing.SharedLlm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;

/**
 * Issue 13's template payloads through the chat model, on stories15M with a chat template: Mistral
 * Instruct's, behind the branches a hostile checkpoint could add (read a file, loop 10^9 times),
 * which the last message's text selects. Message text reaches the engine as text; the hostile
 * branches fail with clear errors before any engine request, and the engine is left idle.
 */
class TrtLlmChatModelTemplateIT {
    static final String NESTED_RANGES = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x"
            + "{% endfor %}{% endfor %}{% endfor %}";

    /** Mistral-7B-Instruct-v0.1's chat template. */
    static final String MISTRAL_INSTRUCT = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') "
            + "!= (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/"
            + "assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}"
            + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    static final String HOSTILE_CHECKPOINT = "{% if messages[-1]['content'] == 'hostile: include' %}"
            + "{% include 'application.yml' %}"
            + "{% elif messages[-1]['content'] == 'hostile: loop' %}" + NESTED_RANGES
            + "{% endif %}" + MISTRAL_INSTRUCT;

    @TempDir
    static Path dir;

    static LLM llm;
    static TransformersTokenizer tokenizer;

    final Recording recording = new Recording();

    @BeforeAll
    static void load() throws IOException {
        llm = SharedLlm.get();
        Files.copy(llm.modelDirectory().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(llm.modelDirectory().resolve("tokenizer_config.json").toFile());
        config.put("chat_template", HOSTILE_CHECKPOINT);
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        tokenizer = TransformersTokenizer.load(dir);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @BeforeEach
    void idle() throws InterruptedException {
        SharedLlm.awaitIdle(llm);
    }

    /** Runs engine requests on the engine, recording each prompt and the thread that submitted it. */
    static final class Recording implements TrtLlmChatModel.Generator {
        final List<int[]> prompts = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();

        @Override
        public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
            record(promptTokenIds);
            return llm.generate(promptTokenIds, params);
        }

        @Override
        public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
            record(promptTokenIds);
            return llm.generateStream(promptTokenIds, params);
        }

        private void record(int[] promptTokenIds) {
            prompts.add(promptTokenIds);
            threads.add(Thread.currentThread().getName());
        }
    }

    private TrtLlmChatModel model() {
        return TrtLlmChatModel.builder().llm(llm).tokenizer(tokenizer).generator(recording)
                .defaultOptions(TrtLlmChatOptions.builder().model("stories15M-chat").temperature(0.0).maxTokens(4).build())
                .build();
    }

    /** What Mistral's template makes of one user message, as ids (encoded without the template). */
    private static int[] mistralPrompt(String message) {
        return tokenizer.encode("<s>[INST] " + message + " [/INST]", false);
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ 6*7 }}", "{% include 'application.yml' %}", "{% import 'application.yml' as c %}{{ c }}",
            "{% extends 'application.yml' %}", NESTED_RANGES})
    void messageTextReachesTheEngineAsText(String payload) {
        ChatResponse response = model().call(new Prompt(payload));

        assertThat(recording.prompts).singleElement().isEqualTo(mistralPrompt(payload));
        assertThat(response.getMetadata().getUsage().getPromptTokens()).isEqualTo(mistralPrompt(payload).length);
        assertThat(response.getMetadata().getUsage().getCompletionTokens()).isEqualTo(4);
    }

    @Test
    void streamRendersOnAWorkerThreadNotTheSubscribers() {
        List<ChatResponse> responses = model().stream(new Prompt(NESTED_RANGES)).collectList().block(Duration.ofSeconds(60));

        assertThat(responses).isNotEmpty();
        assertThat(recording.prompts).singleElement().isEqualTo(mistralPrompt(NESTED_RANGES));
        assertThat(recording.threads).singleElement().asString().startsWith("boundedElastic-");
    }

    @Test
    void templateThatReadsAFileFailsNamingItsFileBeforeAnyEngineRequest() {
        assertThatThrownBy(() -> model().call(new Prompt("hostile: include")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith(dir.resolve("tokenizer_config.json") + ": the chat template reads the template file "
                        + "'application.yml'")
                .hasMessageContaining("self-contained");
        assertThatThrownBy(() -> model().stream(new Prompt("hostile: include")).blockLast(Duration.ofSeconds(60)))
                .isInstanceOf(ModelFormatException.class);
        assertThat(recording.prompts).isEmpty();
    }

    @Test
    void runawayTemplateStopsAtItsLimitBeforeAnyEngineRequest() throws InterruptedException {
        long start = System.nanoTime();
        assertThatThrownBy(() -> model().stream(new Prompt("hostile: loop")).blockLast(Duration.ofSeconds(60)))
                .isInstanceOf(TemplateLimitException.class)
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageStartingWith(dir.resolve("tokenizer_config.json") + ": ")
                .satisfies(e -> assertThat(((ChatTemplateException) e).reason())
                        .matches("rendering the chat template took longer than its limit of 5000 ms|the chat template's output "
                                + "or a string it builds would exceed its limit of 4194304 characters"));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        assertThat(recording.prompts).isEmpty();
        SharedLlm.awaitIdle(llm);
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
        // The model still serves the next conversation.
        assertThat(model().call(new Prompt("Hello")).getResult().getOutput().getText()).isNotNull();
    }
}
