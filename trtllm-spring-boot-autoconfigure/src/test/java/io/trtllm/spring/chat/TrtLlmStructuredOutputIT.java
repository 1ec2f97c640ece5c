package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TransformersTokenizer;
import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.spring.testing.SharedLlm;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.ToolCallback;
import org.springframework.ai.tool.function.FunctionToolCallback;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;

/**
 * Spring AI's native structured output enforced by guided decoding on stories15M (a model that writes stories,
 * not JSON: the mask alone makes the reply an instance of the record), the schema reaching the sampling
 * parameters, tool calls in every format we parse, and Qwen3's reasoning in the message metadata (scripted
 * replies).
 */
class TrtLlmStructuredOutputIT {
    static LLM llm;

    enum Mood { HAPPY, SAD, SLEEPY }

    record Verdict(boolean happy, Mood mood, int stars) {
    }

    @BeforeAll
    static void load() {
        llm = SharedLlm.get();
    }

    private static TrtLlmChatModel stories() {
        return TrtLlmChatModel.builder().llm(llm)
                .defaultOptions(TrtLlmChatOptions.builder().model("stories15M").maxTokens(96).temperature(0.0).build())
                .build();
    }

    @Test
    void entityWithNativeStructuredOutputIsEnforcedByGuidedDecoding() {
        ChatClient client = ChatClient.create(stories());
        for (int i = 0; i < 3; i++) {
            Verdict v = client.prompt().advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT)
                    .options(TrtLlmChatOptions.builder().temperature(0.8).seed((long) i))
                    .user("Once upon a time " + i).call().entity(Verdict.class);
            assertThat(v).isNotNull();
            assertThat(v.mood()).isNotNull();

        }
    }

    @Test
    void theOutputSchemaBecomesTheRequestsGuideAndMerges() {
        String schema = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"boolean\"}}, \"required\": [\"a\"]}";
        var defaults = TrtLlmChatOptions.builder().model("m").maxTokens(8).build();
        var mapper = new ChatRequestMapper(llm.tokenizer(), llm.maxSeqLen(), defaults);
        var request = mapper.map(new Prompt("hi", TrtLlmChatOptions.builder().outputSchema(schema).build()));
        assertThat(request.options().getOutputSchema()).isEqualTo(schema);
        assertThat(request.params().guidedDecoding()).isNotNull()
                .satisfies(g -> assertThat(g.text()).isEqualTo(schema))
                .satisfies(g -> assertThat(g.compactWhitespace()).isTrue());
        assertThat(request.options().mutate().build()).isEqualTo(request.options());
        assertThat(mapper.map(new Prompt("hi")).params().guidedDecoding()).isNull();
        String reply = stories().call(new Prompt("Once upon a time", TrtLlmChatOptions.builder().outputSchema(schema).build()))
                .getResult().getOutput().getText();
        assertThat(reply).matches("\\{\"a\":(true|false)}");
        assertThatThrownBy(() -> stories().call(new Prompt("x",
                TrtLlmChatOptions.builder().outputSchema("{\"type\": \"object\", \"not\": {}}").build())))
                .isInstanceOf(GuidedDecodingException.class).hasMessageContaining("not");
    }

    /** One scripted reply for every request, rendered with {@code tokenizer}. */
    private record Scripted(String reply) implements TrtLlmChatModel.Generator {
        @Override
        public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
            return new RequestOutput("req", "", promptTokenIds, List.of(new CompletionOutput(0, reply, new int[3],
                    CompletionOutput.STOP)), true, new RequestMetrics(promptTokenIds.length, 3, 0, 1, 2, 3));
        }

        @Override
        public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
            return JdkFlowAdapter.publisherToFlowPublisher(Flux.defer(() -> Flux.just(generate(promptTokenIds, params))));
        }
    }

    record CityRequest(String city) {
    }

    private final ToolCallback weather = FunctionToolCallback.builder("weather", (CityRequest r) -> "sunny in " + r.city())
            .description("Weather in a city").inputType(CityRequest.class).build();

    private ChatResponse callWithTools(Path dir, String template, String reply) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"" + template + "\"}");
        try (TransformersTokenizer tokenizer = TransformersTokenizer.load(dir)) {
            var model = TrtLlmChatModel.builder().llm(llm).tokenizer(tokenizer).generator(new Scripted(reply))
                    .defaultOptions(TrtLlmChatOptions.builder().model("custom").build()).build();
            return model.call(new Prompt("weather?", TrtLlmChatOptions.builder().toolCallbacks(List.of(weather)).build()));
        }
    }

    private static final String TOOLS = "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}";

    @Test
    void mistralToolCallsBecomeSpringAiToolCalls(@TempDir Path dir) throws IOException {
        ChatResponse r = callWithTools(dir, "[TOOL_CALLS] " + TOOLS,
                "Let me see.[TOOL_CALLS][{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}, "
                        + "{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\"}}]");
        assertThat(r.getResult().getMetadata().getFinishReason()).isEqualTo(TrtLlmChatModel.TOOL_CALLS);
        assertThat(r.getResult().getOutput().getText()).isEqualTo("Let me see.");
        assertThat(r.getResult().getOutput().getToolCalls()).extracting(c -> c.name() + c.arguments())
                .containsExactly("weather{\"city\":\"Paris\"}", "weather{\"city\":\"Oslo\"}");
        assertThat(r.getResult().getOutput().getToolCalls()).allSatisfy(c -> assertThat(c.id()).hasSize(9));
    }

    @Test
    void llama3JsonToolCallsBecomeSpringAiToolCalls(@TempDir Path dir) throws IOException {
        ChatResponse r = callWithTools(dir, "<|python_tag|>" + TOOLS,
                "{\"name\": \"weather\", \"parameters\": {\"city\": \"Lima\"}}");
        assertThat(r.getResult().getOutput().getToolCalls()).singleElement()
                .satisfies(c -> assertThat(c.name() + c.arguments()).isEqualTo("weather{\"city\":\"Lima\"}"));
    }

    @Test
    void qwen3ReasoningGoesIntoTheMetadataAndHermesCallsAreParsed(@TempDir Path dir) throws IOException {
        ChatResponse r = callWithTools(dir, "<think><tool_call>" + TOOLS,
                "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"weather\", \"arguments\": "
                        + "{\"city\": \"Rome\"}}\n</tool_call>");
        var message = r.getResult().getOutput();
        assertThat(message.getMetadata()).containsEntry(TrtLlmChatModel.REASONING_CONTENT, "The user wants weather.");
        assertThat(message.getText()).isEmpty();
        assertThat(message.getToolCalls()).singleElement().satisfies(c -> {
            assertThat(c.name()).isEqualTo("weather");
            assertThat(c.arguments()).isEqualTo("{\"city\":\"Rome\"}");
        });
    }
}
