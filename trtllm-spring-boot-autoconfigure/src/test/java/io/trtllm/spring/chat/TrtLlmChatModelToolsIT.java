package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TransformersTokenizer;
import io.trtllm.spring.testing.SharedLlm;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.ToolCallback;
import org.springframework.ai.tool.function.FunctionToolCallback;
import org.springframework.ai.tool.metadata.ToolMetadata;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;

/**
 * Tool calling through Qwen3's real chat template with scripted replies (no model here writes tool
 * calls): the prompts the engine would get, the parsed calls, and Spring AI's {@code ChatClient}
 * running the tool loop on this chat model.
 */
class TrtLlmChatModelToolsIT {
    static final String QUESTION = "What is the weather in Paris?";
    static final String CALL = """
            <tool_call>
            {"name": "weather", "arguments": {"city": "Paris"}}
            </tool_call>""";

    static LLM llm;
    static TransformersTokenizer qwen3;

    record WeatherRequest(String city) {
    }

    final List<String> cities = new CopyOnWriteArrayList<>();
    final ToolCallback weather = FunctionToolCallback.builder("weather", (WeatherRequest r) -> {
                cities.add(r.city());
                return "sunny in " + r.city();
            })
            .description("Weather in a city").inputType(WeatherRequest.class).build();

    @BeforeAll
    static void load() {
        llm = SharedLlm.get();
        qwen3 = TransformersTokenizer.load(TestFixtures.qwen3Tokenizer());
    }

    @AfterAll
    static void close() {
        qwen3.close();
    }

    /** Replies in order, one per engine request; records each request's prompt text. */
    static final class Script implements TrtLlmChatModel.Generator {
        final Deque<String> replies;
        final List<String> prompts = new CopyOnWriteArrayList<>();

        Script(String... replies) {
            this.replies = new ArrayDeque<>(List.of(replies));
        }

        @Override
        public synchronized RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
            prompts.add(qwen3.decode(promptTokenIds, false));
            String text = replies.removeFirst();
            var metrics = new RequestMetrics(promptTokenIds.length, 5, 0, 1, 2, 3);
            return new RequestOutput("req-" + prompts.size(), "", promptTokenIds,
                    List.of(new CompletionOutput(0, text, new int[5], CompletionOutput.STOP)), true, metrics);
        }

        @Override
        public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
            return JdkFlowAdapter.publisherToFlowPublisher(Flux.defer(() -> Flux.just(generate(promptTokenIds, params))));
        }
    }

    private static TrtLlmChatModel model(Script script) {
        return TrtLlmChatModel.builder().llm(llm).tokenizer(qwen3).generator(script)
                .defaultOptions(TrtLlmChatOptions.builder().model("qwen3").maxTokens(64).build()).build();
    }

    @Test
    void aChatClientRendersTheToolsRunsTheCallAndAnswersWithTheResult() {
        var script = new Script(CALL, "It is sunny in Paris.");

        String answer = ChatClient.create(model(script)).prompt().user(QUESTION).toolCallbacks(weather).call().content();

        assertThat(answer).isEqualTo("It is sunny in Paris.");
        assertThat(cities).containsExactly("Paris");
        assertThat(script.prompts).hasSize(2);
        // First prompt: the function definition in the system part, as Qwen3's template writes it.
        assertThat(script.prompts.get(0))
                .contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"weather\", "
                        + "\"description\": \"Weather in a city\", \"parameters\": {")
                .contains("\"city\": {\"type\": \"string\"}")
                .endsWith("<|im_start|>user\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n");
        // Second prompt: the model's call and the tool's result as Qwen expects them.
        assertThat(script.prompts.get(1))
                .startsWith(script.prompts.get(0).substring(0, script.prompts.get(0).indexOf("<|im_start|>user")))
                .contains("<|im_start|>assistant\n" + CALL + "<|im_end|>\n")
                .containsPattern("<\\|im_start\\|>user\n<tool_response>\n\"?sunny in Paris\"?\n</tool_response><\\|im_end\\|>\n"
                        + "<\\|im_start\\|>assistant\n$");
    }

    @Test
    void aDirectCallReturnsTheToolCallsWithoutRunningThem() {
        var script = new Script("I will look it up.\n" + CALL);

        ChatResponse response = model(script).call(new Prompt(QUESTION,
                TrtLlmChatOptions.builder().toolCallbacks(List.of(weather)).build()));

        assertThat(response.hasToolCalls()).isTrue();
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualTo(TrtLlmChatModel.TOOL_CALLS);
        var message = response.getResult().getOutput();
        assertThat(message.getText()).isEqualTo("I will look it up.");
        assertThat(message.getToolCalls()).singleElement().satisfies(call -> {
            assertThat(call.name()).isEqualTo("weather");
            assertThat(call.arguments()).isEqualTo("{\"city\":\"Paris\"}");
            assertThat(call.id()).startsWith("call_");
        });
        assertThat(cities).isEmpty();
        assertThat(response.getMetadata().getUsage().getPromptTokens()).isPositive();
    }

    @Test
    void aReplyWithoutToolCallsIsPlainText() {
        var script = new Script("Paris is in France.");

        ChatResponse response = model(script).call(new Prompt(QUESTION,
                TrtLlmChatOptions.builder().toolCallbacks(List.of(weather)).build()));

        assertThat(response.hasToolCalls()).isFalse();
        assertThat(response.getResult().getOutput().getText()).isEqualTo("Paris is in France.");
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualTo("STOP");
    }

    @Test
    void aReturnDirectToolsResultGoesStraightToTheCaller() {
        var direct = FunctionToolCallback.builder("weather", (WeatherRequest r) -> {
                    cities.add(r.city());
                    return "sunny in " + r.city();
                })
                .description("Weather in a city").inputType(WeatherRequest.class)
                .toolMetadata(ToolMetadata.builder().returnDirect(true).build()).build();
        var script = new Script(CALL);

        String answer = ChatClient.create(model(script)).prompt().user(QUESTION).toolCallbacks(direct).call().content();

        assertThat(answer).contains("sunny in Paris");
        assertThat(cities).containsExactly("Paris");
        assertThat(script.prompts).hasSize(1);
    }

    @Test
    void streamingWithToolsEmitsTheWholeReplyOnceAndTheChatClientLoopWorks() {
        var script = new Script(CALL);
        List<ChatResponse> direct = model(script).stream(new Prompt(QUESTION,
                TrtLlmChatOptions.builder().toolCallbacks(List.of(weather)).build())).collectList()
                .block(Duration.ofSeconds(30));
        assertThat(direct).singleElement().satisfies(r -> {
            assertThat(r.hasToolCalls()).isTrue();
            assertThat(r.getResult().getMetadata().getFinishReason()).isEqualTo(TrtLlmChatModel.TOOL_CALLS);
        });

        var looped = new Script(CALL, "It is sunny in Paris.");
        List<String> chunks = ChatClient.create(model(looped)).prompt().user(QUESTION).toolCallbacks(weather).stream()
                .content().collectList().block(Duration.ofSeconds(30));

        assertThat(String.join("", chunks)).isEqualTo("It is sunny in Paris.");
        assertThat(cities).containsExactly("Paris");
        assertThat(looped.prompts.get(1)).contains("<tool_response>");
    }

    @Test
    void aTemplateWithToolsButNoToolCallFormatIsRefused(@TempDir Path dir) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}"}""");
        try (TransformersTokenizer tokenizer = TransformersTokenizer.load(dir)) {
            var model = TrtLlmChatModel.builder().llm(llm).tokenizer(tokenizer).generator(new Script())
                    .defaultOptions(TrtLlmChatOptions.builder().model("custom").build()).build();

            assertThatThrownBy(() -> model.call(new Prompt(QUESTION,
                    TrtLlmChatOptions.builder().toolCallbacks(List.of(weather)).build())))
                    .isInstanceOf(UnsupportedOperationException.class)
                    .hasMessageContaining("model 'custom'")
                    .hasMessageContaining("<tool_call>")
                    .hasMessageContaining(dir.resolve("tokenizer_config.json").toString());
        }
    }
}
