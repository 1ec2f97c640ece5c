package io.trtllm.api.chat;

import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Reads a chat reply: reasoning first (when the model reasons), then tool calls in the content (when
 * tools were offered). Without either the content is the text as generated.
 *
 * <pre>{@code
 * ReplyParser parser = ReplyParser.of(ReasoningParser.qwen3(), ToolCallParser.of(ToolCallFormat.HERMES));
 * AssistantReply reply = parser.parse(text);                 // non-streamed
 * ReplyStream stream = parser.stream();                      // streamed
 * for (String piece : pieces) send(stream.next(piece));
 * send(stream.finish());
 * }</pre>
 *
 * <p>{@code parse} runs the stream over the whole text, and a stream's output does not depend on how the
 * text is split: the deltas of any stream reassemble ({@link ChatDeltas#assemble}) to {@code parse}'s
 * result. Immutable and thread-safe.
 */
public final class ReplyParser {
    private final @Nullable ReasoningParser reasoning;
    private final @Nullable ToolCallParser tools;

    private ReplyParser(@Nullable ReasoningParser reasoning, @Nullable ToolCallParser tools) {
        this.reasoning = reasoning;
        this.tools = tools;
    }

    /** A parser with reasoning and tool calls each optional (null: none). */
    public static ReplyParser of(@Nullable ReasoningParser reasoning, @Nullable ToolCallParser tools) {
        return new ReplyParser(reasoning, tools);
    }

    public AssistantReply parse(String reply) {
        return complete(stream(), reply);
    }

    public ReplyStream stream() {
        DeltaBuilder out = new DeltaBuilder();
        ToolCallParser.ContentSink sink = tools == null ? null : tools.sink(out);
        if (reasoning == null) {
            if (sink != null) {
                return sink;
            }
            return new ReplyStream() {
                @Override
                public ChatDelta next(String text) {
                    out.content(Objects.requireNonNull(text, "text"));
                    return out.take();
                }

                @Override
                public ChatDelta finish() {
                    return out.take();
                }
            };
        }
        ReasoningParser.Splitter splitter = sink == null
                ? reasoning.splitter(out, out::content, () -> { })
                : reasoning.splitter(out, sink::accept, sink::end);
        return new ReplyStream() {
            @Override
            public ChatDelta next(String text) {
                splitter.accept(Objects.requireNonNull(text, "text"));
                return out.take();
            }

            @Override
            public ChatDelta finish() {
                splitter.end();
                return out.take();
            }
        };
    }

    /** Runs {@code stream} over the whole text and assembles the result. */
    static AssistantReply complete(ReplyStream stream, String text) {
        Objects.requireNonNull(text, "reply");
        return ChatDeltas.assemble(List.of(stream.next(text), stream.finish()));
    }
}
