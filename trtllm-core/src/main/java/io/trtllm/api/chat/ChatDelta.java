package io.trtllm.api.chat;

import java.util.List;

/**
 * What one piece of streamed reply text adds, as OpenAI's {@code choices[].delta}: reasoning content,
 * content, tool call pieces (each possibly empty). Concatenating the reasoning and content of all
 * deltas of a reply, and joining the tool call pieces by index, gives the reply's
 * {@link AssistantReply} ({@link ChatDeltas#assemble}).
 */
public record ChatDelta(String reasoningContent, String content, List<ToolCallDelta> toolCalls) {
    public static final ChatDelta EMPTY = new ChatDelta("", "", List.of());

    public ChatDelta {
        if (reasoningContent == null || content == null || toolCalls == null) {
            throw new IllegalArgumentException("reasoningContent, content and toolCalls must not be null");
        }
        toolCalls = List.copyOf(toolCalls);
    }

    public boolean isEmpty() {
        return reasoningContent.isEmpty() && content.isEmpty() && toolCalls.isEmpty();
    }
}
