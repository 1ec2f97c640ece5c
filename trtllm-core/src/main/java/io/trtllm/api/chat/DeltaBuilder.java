package io.trtllm.api.chat;

import java.util.ArrayList;
import java.util.List;

/** Collects what one step of a stream adds, merging argument fragments of the same call. */
final class DeltaBuilder {
    private final StringBuilder reasoning = new StringBuilder();
    private final StringBuilder content = new StringBuilder();
    private final List<ToolCallDelta> calls = new ArrayList<>();

    void reasoning(CharSequence s) {
        reasoning.append(s);
    }

    void content(CharSequence s) {
        content.append(s);
    }

    void openCall(int index, String id, String name, String arguments) {
        calls.add(new ToolCallDelta(index, id, name, arguments));
    }

    void arguments(int index, CharSequence fragment) {
        if (fragment.isEmpty()) {
            return;
        }
        if (!calls.isEmpty() && calls.getLast().index() == index) {
            ToolCallDelta last = calls.removeLast();
            calls.add(new ToolCallDelta(index, last.id(), last.name(), last.arguments() + fragment));
        } else {
            calls.add(new ToolCallDelta(index, null, null, fragment.toString()));
        }
    }

    ChatDelta take() {
        if (reasoning.isEmpty() && content.isEmpty() && calls.isEmpty()) {
            return ChatDelta.EMPTY;
        }
        ChatDelta d = new ChatDelta(reasoning.toString(), content.toString(), calls);
        reasoning.setLength(0);
        content.setLength(0);
        calls.clear();
        return d;
    }
}
