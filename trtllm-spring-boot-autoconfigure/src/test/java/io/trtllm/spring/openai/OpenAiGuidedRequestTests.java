package io.trtllm.spring.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.chat.ToolCallFormat;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.api.config.GuidedDecodingParams.Kind;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Structured output, tools, tool messages and template variables as the reader takes them: every field,
 * good and bad, and the 400s that name it.
 */
class OpenAiGuidedRequestTests {
    private static final OpenAiRequestReader READER = OpenAiRequestReader.standalone();
    private static final String HI = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
    private static final String WEATHER = """
            {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}""";
    private static final String ADD = """
            {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
             "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}, "strict": true}}""";

    private static OpenAiRequest chat(String fields) {
        return READER.chat(("{" + HI + (fields.isEmpty() ? "" : ", " + fields) + "}").getBytes(StandardCharsets.UTF_8));
    }

    private static OpenAiRequest completion(String fields) {
        return READER.completion(("{\"prompt\": \"Once\", " + fields + "}").getBytes(StandardCharsets.UTF_8));
    }

    private static void invalid(Runnable parse, String param, String... words) {
        assertThatThrownBy(parse::run).isInstanceOfSatisfying(OpenAiException.class, e -> {
            assertThat(e.status()).isEqualTo(400);
            assertThat(e.type()).isEqualTo("invalid_request_error");
            assertThat(e.param()).isEqualTo(param);
            if (words.length > 0) {
                assertThat(e.getMessage()).contains(words);
            }
            assertThat(e.getMessage()).doesNotContain("Exception").doesNotContain("io.trtllm");
        });
    }

    @Test
    void responseFormatsBecomeGuidesWithTheInnerSchema() {
        assertThat(chat("\"response_format\": {\"type\": \"text\"}").guide()).isNull();
        OpenAiRequest.Guide object = chat("\"response_format\": {\"type\": \"json_object\"}").guide();
        assertThat(object.params().kind()).isEqualTo(Kind.JSON_OBJECT);
        assertThat(object.params().compactWhitespace()).isTrue();
        assertThat(object.param()).isEqualTo("response_format");
        OpenAiRequest.Guide schema = chat("""
                "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true,
                 "description": "A person", "schema": {"type": "object", "properties": {"age": {"type": "integer"}}}}}""")
                .guide();
        assertThat(schema.params()).isEqualTo(GuidedDecodingParams.json(
                "{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\"}}}").withCompactWhitespace(true));
        // Where OpenAI and vLLM take it, on /completions too.
        assertThat(completion("\"response_format\": {\"type\": \"json_object\"}").guide().params().kind())
                .isEqualTo(Kind.JSON_OBJECT);
    }

    @Test
    void badResponseFormatsName400sTheirField() {
        invalid(() -> chat("\"response_format\": {\"type\": \"yaml\"}"), "response_format.type", "yaml");
        invalid(() -> chat("\"response_format\": {}"), "response_format.type");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_schema\"}"), "response_format.json_schema");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": {}}}"),
                "response_format.json_schema.name");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"a b\", "
                + "\"schema\": {}}}"), "response_format.json_schema.name");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\"}}"),
                "response_format.json_schema.schema");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", "
                + "\"schema\": [1]}}"), "response_format.json_schema.schema", "expected an object");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_schema\", \"json_schema\": \"x\"}"),
                "response_format.json_schema");
    }

    @Test
    void vllmGuidesOnBothEndpointsOneAtATime() {
        assertThat(chat("\"guided_regex\": \"[0-9]+\"").guide())
                .isEqualTo(new OpenAiRequest.Guide(GuidedDecodingParams.regex("[0-9]+").withCompactWhitespace(true),
                        "guided_regex"));
        assertThat(completion("\"guided_choice\": [\"yes\", \"no\"]").guide().params().choices()).containsExactly("yes", "no");
        assertThat(completion("\"guided_grammar\": \"root ::= \\\"a\\\"+\"").guide().params().kind()).isEqualTo(Kind.GRAMMAR);
        assertThat(chat("\"guided_json\": {\"type\": \"integer\"}").guide().params().text()).isEqualTo("{\"type\":\"integer\"}");
        assertThat(chat("\"guided_json\": \"{\\\"type\\\": \\\"integer\\\"}\"").guide().params().text())
                .isEqualTo("{\"type\": \"integer\"}");
        assertThat(chat("\"structured_outputs\": {\"json\": {\"type\": \"boolean\"}, \"disable_any_whitespace\": false}")
                .guide()).isEqualTo(new OpenAiRequest.Guide(GuidedDecodingParams.json("{\"type\":\"boolean\"}"),
                "structured_outputs.json"));
        assertThat(completion("\"structured_outputs\": {\"regex\": \"a|b\"}").guide().param())
                .isEqualTo("structured_outputs.regex");
        assertThat(chat("\"structured_outputs\": {\"choice\": [\"x\"]}").guide().params().kind()).isEqualTo(Kind.CHOICE);
        assertThat(chat("\"structured_outputs\": {\"grammar\": \"root ::= \\\"x\\\"\"}").guide().params().kind())
                .isEqualTo(Kind.GRAMMAR);
        assertThat(chat("\"structured_outputs\": {\"json_object\": true}").guide().params().kind())
                .isEqualTo(Kind.JSON_OBJECT);
        assertThat(chat("\"structured_outputs\": {\"structural_tag\": {\"type\": \"structural_tag\", \"format\": "
                + "{\"type\": \"const_string\", \"value\": \"hi\"}}}").guide().params().kind()).isEqualTo(Kind.STRUCTURAL_TAG);

        invalid(() -> chat("\"guided_regex\": \"a\", \"guided_choice\": [\"b\"]"), "guided_choice", "guided_regex");
        invalid(() -> chat("\"response_format\": {\"type\": \"json_object\"}, \"guided_json\": {}"), "guided_json",
                "response_format");
        invalid(() -> completion("\"structured_outputs\": {\"regex\": \"a\", \"choice\": [\"b\"]}"),
                "structured_outputs.choice");
        invalid(() -> chat("\"guided_choice\": []"), "guided_choice", "at least 1");
        invalid(() -> chat("\"guided_regex\": \"\""), "guided_regex");
        invalid(() -> chat("\"guided_regex\": 5"), "guided_regex");
        invalid(() -> chat("\"guided_json\": 5"), "guided_json");
        invalid(() -> chat("\"structured_outputs\": {\"json\": [1]}"), "structured_outputs.json");
        invalid(() -> chat("\"structured_outputs\": 3"), "structured_outputs");
    }

    @Test
    void toolsAndToolChoice() {
        OpenAiTools auto = chat("\"tools\": [" + WEATHER + ", " + ADD + "]").tools();
        assertThat(auto.choice()).isEqualTo(OpenAiTools.Choice.AUTO);
        assertThat(auto.parallel()).isTrue();
        assertThat(auto.tools()).extracting(OpenAiTools.Tool::name).containsExactly("get_weather", "add");
        assertThat(auto.guide(ToolCallFormat.HERMES)).isNull(); // auto is not enforced
        assertThat(auto.definitions(READER::plain).getFirst()).isEqualTo(Map.of("type", "function", "function", Map.of(
                "name", "get_weather", "description", "Weather in a city", "parameters", Map.of("type", "object",
                        "properties", Map.of("city", Map.of("type", "string")), "required", List.of("city")))));

        OpenAiTools required = chat("\"tools\": [" + WEATHER + "], \"tool_choice\": \"required\", "
                + "\"parallel_tool_calls\": false").tools();
        assertThat(required.enforced()).isTrue();
        assertThat(required.parallel()).isFalse();
        GuidedDecodingParams guide = required.guide(ToolCallFormat.HERMES);
        assertThat(guide.kind()).isEqualTo(Kind.STRUCTURAL_TAG);
        assertThat(guide.text()).contains("\"begin\":\"<tool_call>\\n{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": \"",
                "\"stop_after_first\":true", "\"at_least_one\":true");

        OpenAiTools named = chat("\"tools\": [" + WEATHER + ", " + ADD + "], \"tool_choice\": {\"type\": \"function\", "
                + "\"function\": {\"name\": \"add\"}}").tools();
        assertThat(named.choice()).isEqualTo(OpenAiTools.Choice.NAMED);
        String mistral = named.guide(ToolCallFormat.MISTRAL).text();
        assertThat(mistral).contains("[TOOL_CALLS][", "\\\"add\\\"").doesNotContain("get_weather");
        assertThat(named.guide(ToolCallFormat.LLAMA3_JSON).text()).contains("\\\"parameters\\\": ");
        assertThat(chat("\"tools\": [" + WEATHER + "], \"tool_choice\": \"none\"").tools().callsExpected()).isFalse();
        // A function without parameters takes an empty object.
        assertThat(chat("\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"now\"}}]").tools().tools()
                .getFirst().parameters().toString()).isEqualTo("{\"type\":\"object\",\"properties\":{}}");
    }

    @Test
    void badToolsAndToolChoicesAre400s() {
        invalid(() -> chat("\"tool_choice\": \"auto\""), "tool_choice", "only allowed when 'tools'");
        invalid(() -> chat("\"tools\": [" + WEATHER + "], \"tool_choice\": {\"type\": \"function\", \"function\": "
                + "{\"name\": \"get_time\"}}"), "tool_choice.function.name", "get_time", "get_weather");
        invalid(() -> chat("\"tools\": [" + WEATHER + "], \"tool_choice\": \"always\""), "tool_choice", "always");
        invalid(() -> chat("\"tools\": [" + WEATHER + "], \"tool_choice\": {\"type\": \"function\"}"),
                "tool_choice.function.name");
        invalid(() -> chat("\"tools\": [" + WEATHER + "], \"tool_choice\": {\"type\": \"file_search\"}"), "tool_choice.type");
        invalid(() -> chat("\"tools\": [" + WEATHER + "], \"tool_choice\": 3"), "tool_choice");
        invalid(() -> chat("\"tools\": [{\"type\": \"code_interpreter\"}]"), "tools[0].type", "code_interpreter");
        invalid(() -> chat("\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]"),
                "tools[0].function.name", "a b");
        invalid(() -> chat("\"tools\": [" + WEATHER + ", " + WEATHER + "]"), "tools[1].function.name", "Duplicate");
        invalid(() -> chat("\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": \"x\"}}]"),
                "tools[0].function.parameters");
        invalid(() -> chat("\"tools\": [" + WEATHER + "], \"tool_choice\": \"required\", "
                + "\"response_format\": {\"type\": \"json_object\"}"), "tool_choice", "response_format");
        String many = String.join(", ", java.util.Collections.nCopies(129, "{\"type\": \"function\", \"function\": {\"name\": \"f\"}}"));
        invalid(() -> chat("\"tools\": [" + many + "]"), "tools", "at most 128");
    }

    @Test
    void toolErrorsNameTheToolWhoseSchemaFailed() {
        OpenAiTools tools = chat("\"tools\": [" + WEATHER + ", " + ADD + "], \"tool_choice\": \"required\"").tools();
        OpenAiException e = tools.error(new GuidedDecodingException("'not' is not supported", "not",
                "/format/tags/1/content/json_schema/properties/a/not"));
        assertThat(e.param()).isEqualTo("tools[1].function.parameters");
        assertThat(e.getMessage()).contains("'/properties/a/not'", "keyword 'not'");
        OpenAiTools named = chat("\"tools\": [" + WEATHER + ", " + ADD + "], \"tool_choice\": {\"type\": \"function\", "
                + "\"function\": {\"name\": \"add\"}}").tools();
        assertThat(named.error(new GuidedDecodingException("x", "not", "/format/tags/0/content/json_schema/not")).param())
                .isEqualTo("tools[1].function.parameters");
    }

    @Test
    void toolMessagesAndAssistantCallsInTheHistory() {
        OpenAiRequest r = READER.chat("""
                {"messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]}]}"""
                .getBytes(StandardCharsets.UTF_8));
        assertThat(r.messages()).containsExactly(ChatMessage.user("Weather in Paris?"),
                ChatMessage.assistant("", List.of(new ChatMessage.ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}"))),
                ChatMessage.tool("sunny", "call_1", null));

        String call = "{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}";
        invalid(() -> history("{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\", \"function\": "
                + "{\"name\": \"f\", \"arguments\": \"{}\"}}]}"), "messages[0].tool_calls[0].id");
        invalid(() -> history("{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"function\": "
                + "{\"name\": \"f\", \"arguments\": {\"a\": 1}}}]}"), "messages[0].tool_calls[0].function.arguments");
        invalid(() -> history("{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"function\": "
                + "{\"arguments\": \"{}\"}}]}"), "messages[0].tool_calls[0].function.name");
        invalid(() -> history("{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"function\": "
                + "{\"name\": \"f\"}}]}"), "messages[0].tool_calls[0].function.arguments");
        invalid(() -> history("{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"type\": \"web\", \"function\": "
                + "{\"name\": \"f\", \"arguments\": \"{}\"}}]}"), "messages[0].tool_calls[0].type");
        invalid(() -> history("{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"" + "x".repeat(257) + "\", "
                + "\"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}"), "messages[0].tool_calls[0].id", "too long");
        invalid(() -> history("{\"role\": \"user\", \"content\": \"x\", \"tool_calls\": [" + call + "]}"),
                "messages[0].tool_calls");
        invalid(() -> history("{\"role\": \"tool\", \"content\": \"x\", \"tool_call_id\": \"\"}"),
                "messages[0].tool_call_id");
        invalid(() -> history("{\"role\": \"tool\", \"tool_call_id\": \"c\"}"), "messages[0].content");
        invalid(() -> history("{\"role\": \"tool\", \"content\": \"x\", \"tool_call_id\": 7}"), "messages[0].tool_call_id");
    }

    private static OpenAiRequest history(String message) {
        return READER.chat(("{\"messages\": [" + message + "]}").getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void chatTemplateKwargsAreABoundedObjectOfVariables() {
        assertThat(chat("\"chat_template_kwargs\": {\"enable_thinking\": false, \"depth\": 2, \"unset\": null}").templateKwargs())
                .isEqualTo(Map.of("enable_thinking", false, "depth", 2));
        assertThat(chat("").templateKwargs()).isEmpty();
        invalid(() -> chat("\"chat_template_kwargs\": [1]"), "chat_template_kwargs", "expected an object");
        invalid(() -> chat("\"chat_template_kwargs\": {\"messages\": []}"), "chat_template_kwargs.messages");
        invalid(() -> chat("\"chat_template_kwargs\": {\"tools\": []}"), "chat_template_kwargs.tools", "'tools'");
        invalid(() -> chat("\"chat_template_kwargs\": {\"a-b\": 1}"), "chat_template_kwargs", "a-b");
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 33; i++) {
            many.append(i == 0 ? "" : ", ").append("\"v").append(i).append("\": 1");
        }
        invalid(() -> chat("\"chat_template_kwargs\": {" + many + "}"), "chat_template_kwargs", "at most 32");
        invalid(() -> chat("\"chat_template_kwargs\": {\"big\": \"" + "x".repeat(20_000) + "\"}"),
                "chat_template_kwargs", "too large");
    }
}
