package io.trtllm.api.chat;

/**
 * Reads one reply as it streams: each text delta in, the OpenAI-style delta it completes out. Text that
 * could still turn out to be part of a tag ({@code <tool_call>}, {@code </think>}) is held back until it
 * is known not to be. Not thread-safe: one per reply.
 */
public interface ReplyStream {
    /** The delta that {@code text} (the next piece of the reply) completes; possibly empty. */
    ChatDelta next(String text);

    /** The end of the reply: what was held back, and the end of a call cut off mid-way. */
    ChatDelta finish();
}
