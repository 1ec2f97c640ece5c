package io.trtllm.api.chat;

import java.util.ArrayList;
import java.util.List;

/** Collects what one step of a stream adds, merging argument fragments of the same call. */
final class DeltaBuilder {
    private final StringBuilder reasoning = new StringBuilder();
    private final StringBuilder content = new StringBuilder();
    private final List<Call> calls = new ArrayList<>();

    /** A tool call delta being built: arguments grow in place (a long argument costs linear time). */
    private record Call(int index, String id, String name, StringBuilder arguments) {
    }

    void reasoning(CharSequence s) {
        reasoning.append(s);
    }

    void content(CharSequence s) {
        content.append(s);
    }

    void openCall(int index, String id, String name, String arguments) {
        calls.add(new Call(index, id, name, new StringBuilder(arguments)));
    }

    void arguments(int index, CharSequence fragment) {
        if (!fragment.isEmpty()) {
            argumentsOf(index).append(fragment);
        }
    }

    void arguments(int index, char c) {
        argumentsOf(index).append(c);
    }

    private StringBuilder argumentsOf(int index) {
        if (calls.isEmpty() || calls.getLast().index() != index) {
            calls.add(new Call(index, null, null, new StringBuilder()));
        }
        return calls.getLast().arguments();
    }

    ChatDelta take() {
        if (reasoning.isEmpty() && content.isEmpty() && calls.isEmpty()) {
            return ChatDelta.EMPTY;
        }
        List<ToolCallDelta> out = new ArrayList<>(calls.size());
        for (Call c : calls) {
            out.add(new ToolCallDelta(c.index(), c.id(), c.name(), c.arguments().toString()));
        }
        ChatDelta d = new ChatDelta(reasoning.toString(), content.toString(), out);
        reasoning.setLength(0);
        content.setLength(0);
        calls.clear();
        return d;
    }
}
