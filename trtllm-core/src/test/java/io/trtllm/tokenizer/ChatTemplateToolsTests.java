package io.trtllm.tokenizer;

import static io.trtllm.api.config.ChatMessage.system;
import static io.trtllm.api.config.ChatMessage.user;
import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.ChatMessage;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tool definitions, tool calls and tool results through Qwen3's real chat template: what
 * transformers' {@code apply_chat_template(messages, tools=[...])} renders.
 */
class ChatTemplateToolsTests {
    private static Tokenizer qwen3;

    @BeforeAll
    static void load() {
        qwen3 = Tokenizer.load(TestFixtures.qwen3Tokenizer());
    }

    @AfterAll
    static void close() {
        qwen3.close();
    }

    /** OpenAI's function definition, key order as a caller builds it. */
    static Map<String, Object> weatherTool() {
        Map<String, Object> city = Map.of("type", "string");
        Map<String, Object> parameters = new LinkedHashMap<>();
        parameters.put("type", "object");
        parameters.put("properties", Map.of("city", city));
        parameters.put("required", List.of("city"));
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", "weather");
        function.put("description", "Weather in a city");
        function.put("parameters", parameters);
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("type", "function");
        tool.put("function", function);
        return tool;
    }

    private static final String TOOLS_SYSTEM = """
            <|im_start|>system
            You are a helpful assistant.

            # Tools

            You may call one or more functions to assist with the user query.

            You are provided with function signatures within <tools></tools> XML tags:
            <tools>
            {"type": "function", "function": {"name": "weather", "description": "Weather in a city", \
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
            </tools>

            For each function call, return a json object with function name and arguments within \
            <tool_call></tool_call> XML tags:
            <tool_call>
            {"name": <function-name>, "arguments": <args-json-object>}
            </tool_call><|im_end|>
            """;

    @Test
    void qwen3SupportsToolsAndTemplatesWithoutToolsDoNot(@TempDir Path dir) throws IOException {
        assertThat(qwen3.supportsTools()).isTrue();
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}""");
        try (Tokenizer noTools = Tokenizer.load(dir)) {
            assertThat(noTools.hasChatTemplate()).isTrue();
            assertThat(noTools.supportsTools()).isFalse();
        }
    }

    @Test
    void qwen3PutsTheFunctionDefinitionsInTheSystemPart() {
        String prompt = qwen3.applyChatTemplate(
                List.of(system("You are a helpful assistant."), user("What is the weather in Paris?")), true,
                Map.of("tools", List.of(weatherTool())));

        assertThat(prompt).isEqualTo(TOOLS_SYSTEM + """
                <|im_start|>user
                What is the weather in Paris?<|im_end|>
                <|im_start|>assistant
                """);
    }

    @Test
    void qwen3RendersToolCallsAndToolResponses() {
        var call = new ChatMessage.ToolCall("call_1", "weather", "{\"city\": \"Paris\"}");
        String prompt = qwen3.applyChatTemplate(List.of(system("You are a helpful assistant."),
                        user("What is the weather in Paris?"),
                        ChatMessage.assistant("", List.of(call)),
                        ChatMessage.tool("sunny, 21 C", "call_1", "weather")), true,
                Map.of("tools", List.of(weatherTool())));

        // The assistant turn comes after the last user query but is not last: no think block; the
        // arguments are a mapping, written with tojson; consecutive tool results share one user turn.
        assertThat(prompt).isEqualTo(TOOLS_SYSTEM + """
                <|im_start|>user
                What is the weather in Paris?<|im_end|>
                <|im_start|>assistant
                <tool_call>
                {"name": "weather", "arguments": {"city": "Paris"}}
                </tool_call><|im_end|>
                <|im_start|>user
                <tool_response>
                sunny, 21 C
                </tool_response><|im_end|>
                <|im_start|>assistant
                """);
    }

    @Test
    void argumentsThatAreNotAJsonObjectAreWrittenAsTheyCame() {
        var call = new ChatMessage.ToolCall(null, "weather", "Paris");
        String prompt = qwen3.applyChatTemplate(List.of(user("Weather?"), ChatMessage.assistant("Checking.", List.of(call)),
                ChatMessage.tool("rain", null, null), ChatMessage.tool("wind", null, null)), false);

        assertThat(prompt).isEqualTo("""
                <|im_start|>user
                Weather?<|im_end|>
                <|im_start|>assistant
                Checking.
                <tool_call>
                {"name": "weather", "arguments": Paris}
                </tool_call><|im_end|>
                <|im_start|>user
                <tool_response>
                rain
                </tool_response>
                <tool_response>
                wind
                </tool_response><|im_end|>
                """);
    }
}
