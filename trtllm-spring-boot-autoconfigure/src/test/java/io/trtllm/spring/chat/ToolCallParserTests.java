package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.messages.AssistantMessage;

/** Qwen-style {@code <tool_call>} blocks out of generated text. */
class ToolCallParserTests {

    @Test
    void aBlockBecomesAToolCallWithAGeneratedIdAndCompactArguments() {
        var parsed = ToolCallParser.parse("""
                <tool_call>
                {"name": "weather", "arguments": {"city": "Paris", "days": 2}}
                </tool_call>""");

        assertThat(parsed.content()).isEmpty();
        assertThat(parsed.toolCalls()).singleElement().satisfies(call -> {
            assertThat(call.id()).startsWith("call_").hasSizeGreaterThan(10);
            assertThat(call.type()).isEqualTo("function");
            assertThat(call.name()).isEqualTo("weather");
            assertThat(call.arguments()).isEqualTo("{\"city\":\"Paris\",\"days\":2}");
        });
    }

    @Test
    void severalBlocksKeepTheirOrderAndTheTextAroundIsTheContent() {
        var parsed = ToolCallParser.parse("""
                Let me check both.
                <tool_call>
                {"name": "weather", "arguments": {"city": "Paris"}}
                </tool_call>
                <tool_call>
                {"name": "time", "arguments": {}}
                </tool_call>
                """);

        assertThat(parsed.content()).isEqualTo("Let me check both.");
        assertThat(parsed.toolCalls()).extracting(AssistantMessage.ToolCall::name).containsExactly("weather", "time");
        assertThat(parsed.toolCalls()).extracting(AssistantMessage.ToolCall::arguments).containsExactly(
                "{\"city\":\"Paris\"}", "{}");
        assertThat(parsed.toolCalls().get(0).id()).isNotEqualTo(parsed.toolCalls().get(1).id());
    }

    @Test
    void textWithoutBlocksIsTheContentUnchangedButTrimmed() {
        var parsed = ToolCallParser.parse("It is sunny in Paris.\n");

        assertThat(parsed.content()).isEqualTo("It is sunny in Paris.");
        assertThat(parsed.toolCalls()).isEmpty();
    }

    @Test
    void malformedOrUnclosedBlocksAreLeftInTheContent() {
        String notJson = "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": }\n</tool_call>";
        String noName = "<tool_call>\n{\"arguments\": {}}\n</tool_call>";
        String stringArguments = "<tool_call>\n{\"name\": \"weather\", \"arguments\": \"Paris\"}\n</tool_call>";
        String unclosed = "<tool_call>\n{\"name\": \"weather\", \"argu";

        for (String text : new String[] {notJson, noName, stringArguments, unclosed}) {
            var parsed = ToolCallParser.parse(text);
            assertThat(parsed.toolCalls()).as(text).isEmpty();
            assertThat(parsed.content()).as(text).isEqualTo(text);
        }
        var mixed = ToolCallParser.parse(notJson + "\n<tool_call>\n{\"name\": \"time\"}\n</tool_call>");
        assertThat(mixed.toolCalls()).extracting(AssistantMessage.ToolCall::name).containsExactly("time");
        assertThat(mixed.toolCalls().getFirst().arguments()).isEqualTo("{}");
        assertThat(mixed.content()).isEqualTo(notJson);
    }
}
