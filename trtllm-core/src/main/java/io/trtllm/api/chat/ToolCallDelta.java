package io.trtllm.api.chat;

import org.jspecify.annotations.Nullable;

/**
 * A piece of a streamed tool call, as OpenAI streams {@code delta.tool_calls[]}: the first piece of
 * each call has its index, id and name (and possibly arguments); later pieces have the index and a
 * fragment of the arguments text.
 *
 * @param index     the call's position in the reply, from 0
 * @param id        the call's id on its first piece, else null
 * @param name      the function's name on its first piece, else null
 * @param arguments the next fragment of the arguments text (possibly empty)
 */
public record ToolCallDelta(int index, @Nullable String id, @Nullable String name, String arguments) {
    public ToolCallDelta {
        if (index < 0 || arguments == null || (id == null) != (name == null)) {
            throw new IllegalArgumentException("a tool call delta needs an index >= 0, arguments, and id and name together");
        }
    }

    /** Whether this is the first piece of its call (it names it). */
    public boolean opensCall() {
        return id != null;
    }
}
