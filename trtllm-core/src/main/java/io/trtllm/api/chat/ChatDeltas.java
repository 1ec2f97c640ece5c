package io.trtllm.api.chat;

import java.util.ArrayList;
import java.util.List;

/** Joins streamed deltas into the reply they make up. */
public final class ChatDeltas {
    private ChatDeltas() {
    }

    /**
     * The reply of {@code deltas}: reasoning and content concatenated; tool calls by index, each from the
     * piece that opens it (id, name) and the arguments of all its pieces.
     *
     * @throws IllegalArgumentException when a piece continues a call never opened, or a call is opened twice
     */
    public static AssistantReply assemble(List<ChatDelta> deltas) {
        StringBuilder reasoning = new StringBuilder();
        StringBuilder content = new StringBuilder();
        List<String[]> calls = new ArrayList<>(); // id, name
        List<StringBuilder> arguments = new ArrayList<>();
        for (ChatDelta d : deltas) {
            reasoning.append(d.reasoningContent());
            content.append(d.content());
            for (ToolCallDelta t : d.toolCalls()) {
                if (t.opensCall()) {
                    if (t.index() != calls.size()) {
                        throw new IllegalArgumentException("tool call " + t.index() + " opened after " + calls.size() + " calls");
                    }
                    calls.add(new String[] {t.id(), t.name()});
                    arguments.add(new StringBuilder());
                } else if (t.index() >= calls.size()) {
                    throw new IllegalArgumentException("arguments of tool call " + t.index() + " before it was opened");
                }
                arguments.get(t.index()).append(t.arguments());
            }
        }
        List<ToolCall> out = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            out.add(new ToolCall(calls.get(i)[0], calls.get(i)[1], arguments.get(i).toString()));
        }
        return new AssistantReply(reasoning.toString(), content.toString(), out);
    }
}
