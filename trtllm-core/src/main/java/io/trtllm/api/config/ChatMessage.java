package io.trtllm.api.config;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One message of a conversation, as transformers' chat templates read it.
 *
 * @param role       {@code system}, {@code user}, {@code assistant} or {@code tool}
 * @param content    the message text (a tool message's: the tool's result)
 * @param toolCalls  an assistant message's tool calls (template variable {@code tool_calls}); empty otherwise
 * @param toolCallId a tool message's id of the call it answers ({@code tool_call_id}), or null
 * @param name       a tool message's tool name ({@code name}), or null
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, @Nullable String toolCallId,
                          @Nullable String name) {
    public ChatMessage {
        if (role.isBlank()) {
            throw new IllegalArgumentException("chat message role must not be blank");
        }
        toolCalls = List.copyOf(toolCalls);
    }

    public ChatMessage(String role, String content) {
        this(role, content, List.of(), null, null);
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    /** An assistant message that calls tools ({@code content} may be empty). */
    public static ChatMessage assistant(String content, List<ToolCall> toolCalls) {
        return new ChatMessage("assistant", content, toolCalls, null, null);
    }

    /** A tool's result: role {@code tool}. */
    public static ChatMessage tool(String content, @Nullable String toolCallId, @Nullable String name) {
        return new ChatMessage("tool", content, List.of(), toolCallId, name);
    }

    /**
     * One function call of an assistant message. Templates get it the OpenAI way:
     * {@code {"id": id, "type": "function", "function": {"name": name, "arguments": {...}}}}, the
     * arguments parsed into a mapping when they are a JSON object (transformers' convention: templates
     * write them with {@code tojson}), else as the string.
     *
     * @param id        the call's id, or null
     * @param name      the function's name
     * @param arguments the arguments as JSON text
     */
    public record ToolCall(@Nullable String id, String name, String arguments) {
        public ToolCall {
            if (name.isBlank()) {
                throw new IllegalArgumentException("tool call name must not be blank");
            }
        }
    }
}
