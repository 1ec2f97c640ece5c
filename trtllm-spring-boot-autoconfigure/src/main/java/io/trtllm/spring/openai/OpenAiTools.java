package io.trtllm.spring.openai;

import io.trtllm.api.chat.ToolCallFormat;
import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The tools of a chat request ({@code tools}, {@code tool_choice}, {@code parallel_tool_calls}), checked.
 *
 * <p>{@code tool_choice: required} and a named function are enforced: {@link #guide} is a structural tag
 * that allows only tool calls in the model's format, each {@code {"name": <a tool's name>, "arguments":
 * <a value of its parameters' schema>}} (Llama 3: {@code "parameters"}), one of them when
 * {@code parallel_tool_calls} is false or a function is named, else one or more.
 *
 * @param tools    the tools, in the request's order
 * @param choice   how the model may call them
 * @param named    the function {@code tool_choice} names, or null
 * @param parallel whether a reply may call more than one ({@code parallel_tool_calls}, default true)
 */
record OpenAiTools(List<Tool> tools, Choice choice, @Nullable String named, boolean parallel) {
    /** OpenAI's rule for function names: what a tool-call tag may hold without escaping. */
    static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");
    /** Most tools one request may offer. */
    static final int MAX_TOOLS = 128;

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Pattern TAG_POINTER = Pattern.compile("/tags/(\\d+)/content/json_schema(/.*)?$");

    /** {@code tool_choice}. */
    enum Choice { NONE, AUTO, REQUIRED, NAMED }

    /**
     * One function the model may call.
     *
     * @param name        its name ({@link #NAME})
     * @param description what it does, or null
     * @param parameters  its parameters' JSON Schema (an object with no properties when the request gave none)
     */
    record Tool(String name, @Nullable String description, JsonNode parameters) {
    }

    OpenAiTools {
        tools = List.copyOf(tools);
    }

    /** Whether replies are read for tool calls ({@code tool_choice} is not {@code none}). */
    boolean callsExpected() {
        return choice != Choice.NONE;
    }

    /** Whether the reply must consist of tool calls (enforced by {@link #guide}). */
    boolean enforced() {
        return choice == Choice.REQUIRED || choice == Choice.NAMED;
    }

    /** The tools as chat templates read them: OpenAI's {@code {"type": "function", "function": {...}}}. */
    List<Map<String, Object>> definitions(java.util.function.Function<JsonNode, @Nullable Object> plain) {
        List<Map<String, Object>> out = new ArrayList<>(tools.size());
        for (Tool t : tools) {
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", t.name());
            if (t.description() != null) {
                function.put("description", t.description());
            }
            function.put("parameters", java.util.Objects.requireNonNull(plain.apply(t.parameters())));
            Map<String, Object> tool = new LinkedHashMap<>();
            tool.put("type", "function");
            tool.put("function", function);
            out.add(tool);
        }
        return out;
    }

    /**
     * The guide that enforces {@code required} or a named function in {@code format}: a structural tag, compact
     * JSON inside the format's own literal text; null when calls are not enforced.
     */
    @Nullable GuidedDecodingParams guide(ToolCallFormat format) {
        if (!enforced()) {
            return null;
        }
        String begin;
        String end;
        String separator;
        switch (format) {
            case HERMES -> {
                begin = "<tool_call>\n{\"name\": \"%s\", \"arguments\": ";
                end = "}\n</tool_call>";
                separator = "\n";
            }
            case LLAMA3_JSON -> {
                begin = "{\"name\": \"%s\", \"parameters\": ";
                end = "}";
                separator = "; ";
            }
            case MISTRAL -> {
                begin = "{\"name\": \"%s\", \"arguments\": ";
                end = "}";
                separator = ", ";
            }
            default -> throw new IllegalStateException("no guide for " + format);
        }
        ObjectNode calls = NODES.objectNode().put("type", "tags_with_separator").put("separator", separator)
                .put("at_least_one", true).put("stop_after_first", choice == Choice.NAMED || !parallel);
        ArrayNode tags = calls.putArray("tags");
        for (Tool t : tools) {
            if (choice == Choice.NAMED && !t.name().equals(named)) {
                continue; // one tag: the named tool's (errors name its index, see error)
            }
            ObjectNode tag = tags.addObject().put("type", "tag").put("begin", begin.formatted(t.name())).put("end", end);
            tag.putObject("content").put("type", "json_schema").set("json_schema", t.parameters());
        }
        ObjectNode format0 = calls;
        if (format == ToolCallFormat.MISTRAL) {
            format0 = NODES.objectNode().put("type", "sequence");
            ArrayNode elements = format0.putArray("elements");
            elements.addObject().put("type", "const_string").put("value", "[TOOL_CALLS][");
            elements.add(calls);
            elements.addObject().put("type", "const_string").put("value", "]");
        }
        ObjectNode root = NODES.objectNode().put("type", "structural_tag");
        root.set("format", format0);
        return GuidedDecodingParams.structuralTag(root.toString()).withCompactWhitespace(true);
    }

    private int indexOf(@Nullable String name) {
        for (int i = 0; i < tools.size(); i++) {
            if (tools.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalStateException("no tool " + name);
    }

    /**
     * The request field a tool guide's compile error is about: {@code tools[i].function.parameters}, with the
     * schema's own pointer in the message.
     */
    OpenAiException error(GuidedDecodingException e) {
        String pointer = e.pointer() == null ? "" : e.pointer();
        Matcher m = TAG_POINTER.matcher(pointer);
        String param = "tools";
        String within = "";
        if (m.find()) {
            int index = choice == Choice.NAMED ? indexOf(named) : Integer.parseInt(m.group(1));
            param = "tools[" + index + "].function.parameters";
            within = m.group(2) == null ? "" : m.group(2);
        }
        return OpenAiException.invalid(param, "Invalid schema for '" + param + "'"
                + (within.isEmpty() ? "" : " at '" + within + "'")
                + (e.keyword() == null ? "" : " (keyword '" + e.keyword() + "')") + ": " + e.getMessage());
    }
}
