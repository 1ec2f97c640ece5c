package io.trtllm.api.chat;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * Splits a reasoning model's reply into reasoning and content: Qwen3 (and DeepSeek-R1 style) models
 * think in {@code <think>...</think>} before they answer. The reasoning is the text between the tags,
 * without leading and trailing whitespace; the content is what follows the closing tag, without the
 * whitespace that starts it. A reply that does not start with the opening tag (whitespace aside) is all
 * content, unchanged — unless the prompt already opened the block ({@link #startingInReasoning}: chat
 * templates that end the generation prompt with {@code <think>}), and then the reply is reasoning up to
 * the closing tag. A reply cut off before the closing tag is all reasoning.
 *
 * <p>Immutable and thread-safe; each stream is for one reply.
 */
public final class ReasoningParser {
    private final String open;
    private final String close;
    private final boolean startsInReasoning;

    private ReasoningParser(String open, String close, boolean startsInReasoning) {
        this.open = open;
        this.close = close;
        this.startsInReasoning = startsInReasoning;
    }

    /** {@code <think>...</think>}, as Qwen3 writes it. */
    public static ReasoningParser qwen3() {
        return new ReasoningParser("<think>", "</think>", false);
    }

    /** This parser for replies whose prompt already opened the reasoning block. */
    public ReasoningParser startingInReasoning(boolean inside) {
        return new ReasoningParser(open, close, inside);
    }

    /** The reasoning and content of a complete reply. */
    public AssistantReply parse(String reply) {
        return ReplyParser.complete(stream(), reply);
    }

    /** A stream for one reply. */
    public ReplyStream stream() {
        DeltaBuilder out = new DeltaBuilder();
        Splitter splitter = new Splitter(out, out::content, () -> { });
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

    Splitter splitter(DeltaBuilder out, Consumer<CharSequence> content, Runnable contentEnd) {
        return new Splitter(out, content, contentEnd);
    }

    /** Reasoning into the builder, content on to {@code content}. */
    final class Splitter {
        private enum State { START, REASONING, CONTENT }

        private final TrimmedText reasoning;
        private final Consumer<CharSequence> content;
        private final Runnable contentEnd;
        private State state = startsInReasoning ? State.REASONING : State.START;
        private final StringBuilder held = new StringBuilder();
        private boolean skipSpace;
        /** Whether anything but whitespace came at the start. */
        private boolean startText;

        Splitter(DeltaBuilder out, Consumer<CharSequence> content, Runnable contentEnd) {
            this.reasoning = new TrimmedText(out::reasoning);
            this.content = content;
            this.contentEnd = contentEnd;
        }

        void accept(CharSequence text) {
            int from = 0;
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                switch (state) {
                    case START -> {
                        held.append(c);
                        if (Character.isWhitespace(c) && !startText) {
                            continue; // whitespace before the opening tag
                        }
                        startText = true;
                        String h = held.toString().stripLeading();
                        if (open.startsWith(h) && h.length() < open.length()) {
                            continue;
                        }
                        if (h.equals(open)) {
                            state = State.REASONING;
                        } else {
                            state = State.CONTENT;
                            content.accept(held.toString());
                        }
                        held.setLength(0);
                    }
                    case REASONING -> {
                        held.append(c);
                        int keep = Math.min(held.length(), close.length());
                        while (keep > 0 && !close.startsWith(held.substring(held.length() - keep))) {
                            keep--;
                        }
                        if (keep < held.length()) {
                            reasoning.append(held.substring(0, held.length() - keep));
                            held.delete(0, held.length() - keep);
                        }
                        if (held.length() == close.length() && held.toString().equals(close)) {
                            held.setLength(0);
                            reasoning.end();
                            state = State.CONTENT;
                            skipSpace = true;
                        }
                    }
                    case CONTENT -> {
                        if (skipSpace && Character.isWhitespace(c)) {
                            continue;
                        }
                        skipSpace = false;
                        // The rest of this piece is content: pass it on at once.
                        content.accept(text.subSequence(i, text.length()));
                        return;
                    }
                }
            }
        }

        void end() {
            if (state == State.START) {
                content.accept(held.toString());
            } else if (state == State.REASONING) {
                reasoning.append(held.toString());
            }
            held.setLength(0);
            reasoning.end();
            contentEnd.run();
        }
    }
}
