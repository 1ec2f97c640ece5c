package io.trtllm.api.chat;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.testing.Gen;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Streaming is exact: for scripted replies of every format (well-formed calls with random arguments,
 * malformed and cut-off ones, text and tags around, reasoning before), the deltas of a stream fed random
 * splits of the text — down to single characters, tags split anywhere — reassemble to exactly the
 * non-streamed result; every call is opened once, in order, before its arguments; and well-formed
 * calls come out with the name and arguments they were written with.
 */
class ReplyStreamPropertyTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private static final Gen.Outcomes OUTCOMES = new Gen.Outcomes();

    @AfterAll
    static void sawWellFormedReplies() {
        if (!Gen.Outcomes.singleSeed()) {
            assertThat(OUTCOMES.of("well-formed")).as("%s", OUTCOMES).isGreaterThan(150);
            assertThat(OUTCOMES.of("malformed")).as("%s", OUTCOMES).isGreaterThan(50);
        }
    }

    static Stream<Long> seeds() {
        return Gen.seeds("streamed reply deltas = parsed reply", 400);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void streamedDeltasReassembleToTheParsedReply(long seed) throws Exception {
        Gen gen = new Gen(seed);
        ToolCallFormat format = gen.oneOf(ToolCallFormat.values());
        boolean reasoning = gen.bool();
        List<ToolCall> written = new ArrayList<>();
        Expected expected = new Expected();
        String text = reply(gen, format, reasoning, written, expected);
        boolean withTools = gen.chance(0.9);
        // Each parser numbers its call ids from 0: the streamed and the whole reply get the same ids.
        AssistantReply whole = ReplyParser.of(reasoning ? ReasoningParser.qwen3() : null,
                withTools ? ToolCallParser.of(format).withIds(ids()) : null).parse(text);
        ReplyStream stream = ReplyParser.of(reasoning ? ReasoningParser.qwen3() : null,
                withTools ? ToolCallParser.of(format).withIds(ids()) : null).stream();
        List<ChatDelta> deltas = new ArrayList<>();
        int at = 0;
        while (at < text.length()) {
            int n = gen.frequency(3, () -> 1, 3, () -> gen.intBetween(1, 6), 1, () -> gen.intBetween(1, 40));
            int end = Math.min(text.length(), at + n);
            if (end < text.length() && Character.isHighSurrogate(text.charAt(end - 1))) {
                end++; // streams carry whole characters
            }
            deltas.add(stream.next(text.substring(at, end)));
            at = end;
            if (gen.chance(0.05)) {
                deltas.add(stream.next(""));
            }
        }
        deltas.add(stream.finish());
        AssistantReply assembled = ChatDeltas.assemble(deltas); // also checks open-before-arguments, in order
        assertThat(assembled).as("reply %s", text).isEqualTo(whole);
        OUTCOMES.count(expected.clean ? "well-formed" : "malformed");
        if (expected.clean) {
            // Against the script, not the parser: the reasoning and the text outside calls, trimmed.
            if (reasoning) {
                assertThat(whole.reasoningContent()).isEqualTo(expected.reasoning.toString().strip());
            }
            String outside = expected.outside.toString();
            if (withTools) {
                assertThat(whole.content()).as("content of %s", text).isEqualTo(outside.strip());
            } else if (!reasoning) {
                assertThat(whole.content()).isEqualTo(text);
            }
        }
        if (withTools && expected.clean) {
            assertThat(whole.toolCalls()).hasSize(written.size());
            for (int i = 0; i < written.size(); i++) {
                assertThat(whole.toolCalls().get(i).name()).isEqualTo(written.get(i).name());
                assertThat(JSON.readTree(whole.toolCalls().get(i).arguments()))
                        .isEqualTo(JSON.readTree(written.get(i).arguments()));
            }
        }
    }

    private static Supplier<String> ids() {
        AtomicInteger n = new AtomicInteger();
        return () -> "id" + n.getAndIncrement();
    }

    /** What a well-formed reply must read as (null fields where the reply is not well-formed). */
    private static final class Expected {
        final StringBuilder reasoning = new StringBuilder();
        final StringBuilder outside = new StringBuilder();
        boolean clean = true;
    }

    private static final List<String> MARKERS = List.of("<tool_call>", "</tool_call>", "<think>", "</think>", "[TOOL_CALLS]",
            "<|python_tag|>");

    /**
     * A reply in {@code format}; the well-formed calls it writes go to {@code written}, and the text
     * outside calls and reasoning to {@code expected} (marked unclean when any part is malformed).
     */
    private static String reply(Gen gen, ToolCallFormat format, boolean reasoning, List<ToolCall> written, Expected expected)
            throws Exception {
        StringBuilder s = new StringBuilder();
        if (reasoning) {
            String inner = gen.oneOf("", "\n") + text(gen) + gen.oneOf("", "\n");
            expected.reasoning.append(inner);
            boolean closed = gen.chance(0.9);
            s.append(gen.oneOf("", "\n", "  ")).append("<think>").append(inner).append(closed ? "</think>" : "</thi")
                    .append(gen.oneOf("", "\n\n"));
            if (!closed) {
                expected.clean = false;
                return s.toString();
            }
        }
        int calls = gen.intBetween(0, 3);
        switch (format) {
            case HERMES -> {
                outside(s, expected, gen.chance(0.5) ? text(gen) : "");
                for (int i = 0; i < calls; i++) {
                    outside(s, expected, gen.oneOf("", "\n", " "));
                    s.append("<tool_call>").append(gen.oneOf("", "\n"));
                    if (gen.chance(0.15)) {
                        s.append(gen.oneOf("not json", "{\"arguments\": {}}", "{\"name\": 1}", "{\"na"));
                        expected.clean = false;
                    } else {
                        s.append(call(gen, "arguments", written));
                    }
                    boolean closed = gen.chance(0.9);
                    s.append(gen.oneOf("", "\n")).append(closed ? "</tool_call>" : "</tool");
                    expected.clean &= closed;
                    if (gen.chance(0.3)) {
                        outside(s, expected, text(gen));
                    }
                }
            }
            case LLAMA3_JSON -> {
                if (calls == 0 || gen.chance(0.1)) {
                    outside(s, expected, text(gen));
                    expected.clean &= calls == 0;
                } else {
                    s.append(gen.oneOf("", "<|python_tag|>", " "));
                    for (int i = 0; i < calls; i++) {
                        if (i > 0) {
                            s.append(gen.oneOf(";", "; ", " ;\n"));
                        }
                        s.append(call(gen, gen.oneOf("parameters", "arguments"), written));
                    }
                }
            }
            case MISTRAL -> {
                outside(s, expected, gen.chance(0.5) ? text(gen) : "");
                if (calls > 0) {
                    s.append("[TOOL_CALLS]").append(gen.oneOf("", " ")).append('[');
                    for (int i = 0; i < calls; i++) {
                        if (i > 0) {
                            s.append(gen.oneOf(",", ", "));
                        }
                        s.append(call(gen, "arguments", written));
                    }
                    boolean closed = gen.chance(0.9);
                    s.append(closed ? "]" : "");
                    expected.clean &= closed;
                }
            }
        }
        if (gen.chance(0.1)) {
            s.setLength(gen.intBetween(0, s.length())); // cut off, as at max_tokens
            expected.clean = false;
        }
        return s.toString();
    }

    /** Text outside calls: content, unless it happens to spell a marker. */
    private static void outside(StringBuilder s, Expected expected, String text) {
        s.append(text);
        expected.outside.append(text);
        for (String m : MARKERS) {
            expected.clean &= !text.contains(m);
        }
        expected.clean &= !text.stripLeading().startsWith("{") && !text.stripLeading().startsWith("<");
    }

    private static String call(Gen gen, String argumentsKey, List<ToolCall> written) throws Exception {
        String name = gen.string("abcdefgh_", 1, 10);
        JsonNode args = object(gen, 0);
        ObjectNode call = NODES.objectNode();
        if (gen.chance(0.2)) {
            call.set(argumentsKey, args);
            call.put("name", name);
        } else {
            call.put("name", name);
            call.set(argumentsKey, args);
        }
        written.add(new ToolCall("", name, JSON.writeValueAsString(args)));
        String json = gen.bool() ? JSON.writeValueAsString(call) : JSON.writerWithDefaultPrettyPrinter().writeValueAsString(call);
        return json;
    }

    private static JsonNode object(Gen gen, int depth) {
        ObjectNode o = NODES.objectNode();
        int n = gen.intBetween(0, 3);
        for (int i = 0; i < n; i++) {
            String key = gen.frequency(4, () -> gen.string("abcxyz", 1, 5), 1, () -> gen.anyString(6));
            o.set(key, value(gen, depth + 1));
        }
        return o;
    }

    private static JsonNode value(Gen gen, int depth) {
        return gen.frequency(
                3, () -> NODES.textNode(gen.frequency(3, () -> gen.string("ab <>/{}[]\":,\\é😀", 0, 8), 1, () -> gen.anyString(8))),
                2, () -> gen.bool() ? NODES.numberNode(gen.anyInt()) : NODES.numberNode(gen.intBetween(-1000, 1000) / 8.0),
                1, () -> gen.oneOf(NODES.booleanNode(true), NODES.booleanNode(false), NODES.nullNode()),
                depth < 3 ? 2 : 0, () -> gen.bool() ? object(gen, depth) : NODES.arrayNode().add(value(gen, depth + 1)));
    }

    private static String text(Gen gen) {
        return gen.frequency(
                4, () -> gen.string("abc ,.!\n", 1, 20),
                1, () -> gen.string("<>/_tolcaTOLC[]{}think|python", 1, 16),
                1, () -> gen.anyString(10));
    }
}
