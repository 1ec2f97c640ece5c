package io.trtllm.spring.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.messages.AssistantMessage;

/**
 * Reads Qwen-style tool calls out of generated text: blocks
 * <pre>{@code
 * <tool_call>
 * {"name": "weather", "arguments": {"city": "Paris"}}
 * </tool_call>
 * }</pre>
 * (one or more; Qwen 2.5/3, Hermes and others write them so, as their chat templates tell the model).
 * Each well-formed block becomes an {@link AssistantMessage.ToolCall} with a generated id, type
 * {@code function} and the arguments as compact JSON; the text outside the blocks, trimmed, is the
 * content.
 *
 * <p>A block that is not a JSON object with a string {@code name} (and an object, or absent,
 * {@code arguments}), or that is never closed (the reply hit max tokens), is left in the content
 * as generated and logged at WARN: the caller sees what the model wrote instead of losing it or
 * failing the whole request, and a {@code ChatClient} ends its tool loop there.
 */
final class ToolCallParser {
    private static final Logger log = LoggerFactory.getLogger(ToolCallParser.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    static final String OPEN = "<tool_call>";
    static final String CLOSE = "</tool_call>";

    /**
     * @param content   the text outside well-formed blocks, trimmed
     * @param toolCalls the calls in the order written
     */
    record Parsed(String content, List<AssistantMessage.ToolCall> toolCalls) {
    }

    private ToolCallParser() {
    }

    static Parsed parse(String text) {
        List<AssistantMessage.ToolCall> calls = new ArrayList<>();
        StringBuilder content = new StringBuilder();
        int from = 0;
        while (true) {
            int open = text.indexOf(OPEN, from);
            int close = open < 0 ? -1 : text.indexOf(CLOSE, open + OPEN.length());
            if (close < 0) {
                if (open >= 0) {
                    log.warn("Generated text has an unclosed {} block: left in the content", OPEN);
                }
                content.append(text, from, text.length());
                break;
            }
            content.append(text, from, open);
            int end = close + CLOSE.length();
            AssistantMessage.ToolCall call = toolCall(text.substring(open + OPEN.length(), close));
            if (call != null) {
                calls.add(call);
            } else {
                content.append(text, open, end);
            }
            from = end;
        }
        return new Parsed(content.toString().strip(), List.copyOf(calls));
    }

    /** The call in one block's body, or null (logged) when the body is not one. */
    private static AssistantMessage.@Nullable ToolCall toolCall(String body) {
        @Nullable JsonNode node;
        try {
            node = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            log.warn("Generated {} block is not JSON ({}): left in the content: {}", OPEN, e.getOriginalMessage(), body.strip());
            return null;
        }
        @Nullable JsonNode name = node == null ? null : node.get("name");
        @Nullable JsonNode arguments = node == null ? null : node.get("arguments");
        if (name == null || !name.isTextual() || name.asText().isBlank()
                || (arguments != null && !arguments.isObject() && !arguments.isNull())) {
            log.warn("Generated {} block is not {{\"name\": ..., \"arguments\": {{...}}}}: left in the content: {}",
                    OPEN, body.strip());
            return null;
        }
        String args = arguments == null || arguments.isNull() ? "{}" : arguments.toString();
        return new AssistantMessage.ToolCall("call_" + UUID.randomUUID().toString().replace("-", ""), "function",
                name.asText(), args);
    }
}
