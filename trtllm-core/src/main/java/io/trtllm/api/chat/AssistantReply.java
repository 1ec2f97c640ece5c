package io.trtllm.api.chat;

import java.util.List;

/**
 * A complete reply, read: OpenAI's {@code message.reasoning_content}, {@code message.content} and
 * {@code message.tool_calls}.
 *
 * @param reasoningContent the reasoning (Qwen3's think block), trimmed; empty when none
 * @param content          the text outside reasoning and tool calls
 * @param toolCalls        the calls in the order written
 */
public record AssistantReply(String reasoningContent, String content, List<ToolCall> toolCalls) {
    public AssistantReply {
        if (reasoningContent == null || content == null || toolCalls == null) {
            throw new IllegalArgumentException("reasoningContent, content and toolCalls must not be null");
        }
        toolCalls = List.copyOf(toolCalls);
    }
}
