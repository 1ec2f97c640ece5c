package io.trtllm.api.chat;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** Scripted replies of each model family, read into content, calls and reasoning. */
class ToolCallParserTests {
    private static Supplier<String> ids() {
        AtomicInteger n = new AtomicInteger();
        return () -> "call_" + n.getAndIncrement();
    }

    private static AssistantReply hermes(String text) {
        return ToolCallParser.of(ToolCallFormat.HERMES).withIds(ids()).parse(text);
    }

    private static AssistantReply llama(String text) {
        return ToolCallParser.of(ToolCallFormat.LLAMA3_JSON).withIds(ids()).parse(text);
    }

    private static AssistantReply mistral(String text) {
        return ToolCallParser.of(ToolCallFormat.MISTRAL).withIds(ids()).parse(text);
    }

    @Test
    void hermesCallsWithTextAround() {
        AssistantReply r = hermes("""
                Let me check both.
                <tool_call>
                {"name": "weather", "arguments": {"city": "Paris", "days": [1, 2], "units": {"t": "C"}}}
                </tool_call>
                <tool_call>
                {"name": "time", "arguments": {}}
                </tool_call>
                """);
        assertThat(r.content()).isEqualTo("Let me check both.");
        assertThat(r.toolCalls()).containsExactly(
                new ToolCall("call_0", "weather", "{\"city\":\"Paris\",\"days\":[1,2],\"units\":{\"t\":\"C\"}}"),
                new ToolCall("call_1", "time", "{}"));
        assertThat(r.reasoningContent()).isEmpty();
    }

    @Test
    void hermesArgumentsInAnyOrderAsObjectOrString() {
        assertThat(hermes("<tool_call>{\"arguments\": {\"q\": \"x y\"}, \"name\": \"search\"}</tool_call>").toolCalls())
                .containsExactly(new ToolCall("call_0", "search", "{\"q\":\"x y\"}"));
        assertThat(hermes("<tool_call>{\"name\": \"search\", \"arguments\": \"{\\\"q\\\": 1}\"}</tool_call>").toolCalls())
                .containsExactly(new ToolCall("call_0", "search", "{\"q\": 1}"));
        assertThat(hermes("<tool_call>{\"name\": \"now\"}</tool_call>").toolCalls())
                .containsExactly(new ToolCall("call_0", "now", "{}"));
        assertThat(hermes("<tool_call>{\"name\": \"u\", \"arguments\": {\"s\": \"é 😀 \\u00e9 \\\"q\\\"\"}}</tool_call>").toolCalls())
                .containsExactly(new ToolCall("call_0", "u", "{\"s\":\"é 😀 \\u00e9 \\\"q\\\"\"}"));
    }

    @Test
    void hermesBlocksThatAreNoCallsStayContent() {
        AssistantReply notJson = hermes("Hi <tool_call>not json</tool_call> there");
        assertThat(notJson.toolCalls()).isEmpty();
        assertThat(notJson.content()).isEqualTo("Hi <tool_call>not json</tool_call> there");
        AssistantReply noName = hermes("<tool_call>{\"arguments\": {}}</tool_call>");
        assertThat(noName.toolCalls()).isEmpty();
        assertThat(noName.content()).isEqualTo("<tool_call>{\"arguments\": {}}</tool_call>");
        AssistantReply numberName = hermes("<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>");
        assertThat(numberName.toolCalls()).isEmpty();
        AssistantReply thenCall = hermes("<tool_call>oops <tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>");
        assertThat(thenCall.toolCalls()).containsExactly(new ToolCall("call_0", "f", "{\"a\":1}"));
        assertThat(thenCall.content()).isEqualTo("<tool_call>oops");
    }

    @Test
    void hermesCallCutOffKeepsWhatWasWritten() {
        AssistantReply r = hermes("<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Pa");
        assertThat(r.toolCalls()).containsExactly(new ToolCall("call_0", "weather", "{\"city\":\"Pa"));
        assertThat(r.content()).isEmpty();
        AssistantReply beforeName = hermes("Sure <tool_call>\n{\"na");
        assertThat(beforeName.toolCalls()).isEmpty();
        assertThat(beforeName.content()).isEqualTo("Sure <tool_call>\n{\"na");
    }

    @Test
    void hermesWithoutClosingTagAndWithTextAfter() {
        AssistantReply r = hermes("<tool_call>{\"name\": \"f\", \"arguments\": {}}\nDone.");
        assertThat(r.toolCalls()).containsExactly(new ToolCall("call_0", "f", "{}"));
        assertThat(r.content()).isEqualTo("Done.");
    }

    @Test
    void llamaJsonCalls() {
        assertThat(llama("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}").toolCalls())
                .containsExactly(new ToolCall("call_0", "get_weather", "{\"city\":\"Oslo\"}"));
        AssistantReply tagged = llama("<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"arguments\": {\"x\": true}}");
        assertThat(tagged.toolCalls()).containsExactly(new ToolCall("call_0", "a", "{}"), new ToolCall("call_1", "b", "{\"x\":true}"));
        assertThat(tagged.content()).isEmpty();
        AssistantReply prose = llama("The weather in Oslo is {mild}.");
        assertThat(prose.toolCalls()).isEmpty();
        assertThat(prose.content()).isEqualTo("The weather in Oslo is {mild}.");
        AssistantReply object = llama("  {\"answer\": 42}");
        assertThat(object.toolCalls()).isEmpty();
        assertThat(object.content()).isEqualTo("{\"answer\": 42}");
        AssistantReply python = llama("<|python_tag|>brave_search.call(query=\"x\")");
        assertThat(python.toolCalls()).isEmpty();
        assertThat(python.content()).isEqualTo("<|python_tag|>brave_search.call(query=\"x\")");
    }

    @Test
    void mistralArrayOfCalls() {
        AssistantReply r = ToolCallParser.of(ToolCallFormat.MISTRAL).parse(
                "Checking.[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}, {\"name\": \"neg\", \"arguments\": {\"a\": -1.5e3}}]");
        assertThat(r.content()).isEqualTo("Checking.");
        assertThat(r.toolCalls()).extracting(ToolCall::name, ToolCall::arguments)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("add", "{\"a\":1,\"b\":2}"),
                        org.assertj.core.groups.Tuple.tuple("neg", "{\"a\":-1.5e3}"));
        assertThat(r.toolCalls()).allSatisfy(c -> assertThat(c.id()).matches("[A-Za-z0-9]{9}"));
        assertThat(r.toolCalls().get(0).id()).isNotEqualTo(r.toolCalls().get(1).id());
        AssistantReply bad = mistral("[TOOL_CALLS] not a list");
        assertThat(bad.toolCalls()).isEmpty();
        assertThat(bad.content()).isEqualTo("[TOOL_CALLS] not a list");
        AssistantReply badItem = mistral("[TOOL_CALLS][{\"x\": 1}]");
        assertThat(badItem.toolCalls()).isEmpty();
        assertThat(badItem.content()).isEqualTo("[TOOL_CALLS][{\"x\": 1}]");
    }

    @Test
    void qwen3ReasoningThenAnswer() {
        AssistantReply r = ReasoningParser.qwen3().parse("<think>\nThe user greets me.\n</think>\n\nHello!");
        assertThat(r.reasoningContent()).isEqualTo("The user greets me.");
        assertThat(r.content()).isEqualTo("Hello!");
        AssistantReply none = ReasoningParser.qwen3().parse("  Hello <think>");
        assertThat(none.reasoningContent()).isEmpty();
        assertThat(none.content()).isEqualTo("  Hello <think>");
        AssistantReply cut = ReasoningParser.qwen3().parse("<think>Let me see");
        assertThat(cut.reasoningContent()).isEqualTo("Let me see");
        assertThat(cut.content()).isEmpty();
        AssistantReply opened = ReasoningParser.qwen3().startingInReasoning(true).parse("hmm</think>Yes.");
        assertThat(opened.reasoningContent()).isEqualTo("hmm");
        assertThat(opened.content()).isEqualTo("Yes.");
    }

    @Test
    void reasoningThenToolCalls() {
        ReplyParser parser = ReplyParser.of(ReasoningParser.qwen3(), ToolCallParser.of(ToolCallFormat.HERMES).withIds(ids()));
        AssistantReply r = parser.parse("<think>I need the weather.</think>\n\n<tool_call>\n{\"name\": \"weather\", \"arguments\": "
                + "{\"city\": \"Paris\"}}\n</tool_call>");
        assertThat(r.reasoningContent()).isEqualTo("I need the weather.");
        assertThat(r.content()).isEmpty();
        assertThat(r.toolCalls()).containsExactly(new ToolCall("call_0", "weather", "{\"city\":\"Paris\"}"));
        // A <tool_call> inside the reasoning is reasoning.
        AssistantReply inside = parser.parse("<think>maybe <tool_call>{\"name\": \"x\"}</tool_call>?</think>No.");
        assertThat(inside.toolCalls()).isEmpty();
        assertThat(inside.content()).isEqualTo("No.");
    }

    @Test
    void plainRepliesPassThrough() {
        assertThat(ReplyParser.of(null, null).parse("  as is \n").content()).isEqualTo("  as is \n");
        assertThat(ReplyParser.of(ReasoningParser.qwen3(), null).parse("<think>a</think> b ").content()).isEqualTo("b ");
    }

    @Test
    void streamedDeltasLookLikeOpenAis() {
        ReplyStream s = ToolCallParser.of(ToolCallFormat.HERMES).withIds(ids()).stream();
        List<ChatDelta> deltas = new java.util.ArrayList<>();
        for (String piece : List.of("Sure.\n<tool", "_call>\n{\"name\": \"wea", "ther\", \"arguments\": {\"ci", "ty\": \"Paris\"}}",
                "\n</tool_call>")) {
            deltas.add(s.next(piece));
        }
        deltas.add(s.finish());
        assertThat(deltas.get(0).content()).isEqualTo("Sure.");
        assertThat(deltas.get(1).isEmpty()).isTrue(); // the name is not complete yet
        assertThat(deltas.get(2).toolCalls()).containsExactly(new ToolCallDelta(0, "call_0", "weather", "{\"ci"));
        assertThat(deltas.get(3).toolCalls()).containsExactly(new ToolCallDelta(0, null, null, "ty\":\"Paris\"}"));
        assertThat(deltas.get(4).isEmpty()).isTrue();
    }

    @Test
    void longRepliesTakeLinearTime() {
        String longText = "x".repeat(500_000);
        String spaces = " ".repeat(300_000);
        String reply = spaces + "<tool_call>{\"name\": \"f\", \"arguments\": {\"s\": \"" + longText + "\"}}" + spaces
                + "</tool_call>" + spaces + "end";
        AssistantReply r = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20),
                () -> ReplyParser.of(ReasoningParser.qwen3(), ToolCallParser.of(ToolCallFormat.HERMES).withIds(ids())).parse(reply));
        assertThat(r.toolCalls()).hasSize(1);
        assertThat(r.toolCalls().getFirst().arguments()).hasSize(longText.length() + 8);
        assertThat(r.content()).isEqualTo("end");
        AssistantReply llama = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20),
                () -> llama(spaces + "{\"name\": \"g\", \"parameters\": {}}" + spaces));
        assertThat(llama.toolCalls()).hasSize(1);
    }
}
