package io.trtllm.api.chat;

import java.security.SecureRandom;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Reads tool calls out of a reply in one {@link ToolCallFormat}: the content outside the calls (without
 * leading and trailing whitespace) and the calls, for a complete reply ({@link #parse}) or as it streams
 * ({@link #stream}). {@code parse} runs the stream over the whole text, so a stream's deltas reassemble
 * ({@link ChatDeltas#assemble}) to exactly what {@code parse} returns, however the text was split.
 *
 * <p>What is not a call stays content, as written: a {@code <tool_call>} block whose body is not a JSON
 * object with a string {@code name}, a Llama reply that is not JSON. A call is reported from the moment
 * its name is complete; if the text then stops being JSON (or ends, as at max_tokens), the call keeps the
 * arguments written so far and what follows is content. Special tokens that mark calls
 * ({@code <|python_tag|>}, {@code [TOOL_CALLS]}) must be kept in the text (decode without skipping
 * special tokens).
 *
 * <p>Immutable and thread-safe; each stream is for one reply.
 */
public final class ToolCallParser {
    private static final Set<String> ARGUMENT_KEYS = Set.of("arguments", "parameters");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private final ToolCallFormat format;
    private final Supplier<String> ids;

    private ToolCallParser(ToolCallFormat format, Supplier<String> ids) {
        this.format = format;
        this.ids = ids;
    }

    /** A parser of {@code format} with random call ids ({@code call_} and 24 letters and digits; 9 for Mistral). */
    public static ToolCallParser of(ToolCallFormat format) {
        Objects.requireNonNull(format, "format");
        return new ToolCallParser(format, format == ToolCallFormat.MISTRAL ? () -> randomId(9) : () -> "call_" + randomId(24));
    }

    /** This parser with call ids from {@code ids} (for tests, or ids a caller keeps). */
    public ToolCallParser withIds(Supplier<String> ids) {
        return new ToolCallParser(format, Objects.requireNonNull(ids, "ids"));
    }

    public ToolCallFormat format() {
        return format;
    }

    /** The content and calls of a complete reply. */
    public AssistantReply parse(String reply) {
        return ReplyParser.complete(stream(), reply);
    }

    /** A stream for one reply. */
    public ReplyStream stream() {
        DeltaBuilder out = new DeltaBuilder();
        return switch (format) {
            case HERMES -> new Tagged(out, ids, "<tool_call>", "</tool_call>", false);
            case MISTRAL -> new Tagged(out, ids, "[TOOL_CALLS]", null, true);
            case LLAMA3_JSON -> new Llama(out, ids);
        };
    }

    /** Content and calls into {@code out}, for a stream nested in another (the reasoning parser's). */
    ContentSink sink(DeltaBuilder out) {
        return switch (format) {
            case HERMES -> new Tagged(out, ids, "<tool_call>", "</tool_call>", false);
            case MISTRAL -> new Tagged(out, ids, "[TOOL_CALLS]", null, true);
            case LLAMA3_JSON -> new Llama(out, ids);
        };
    }

    private static String randomId(int length) {
        char[] c = new char[length];
        for (int i = 0; i < length; i++) {
            c[i] = ALPHANUMERIC.charAt(RANDOM.nextInt(ALPHANUMERIC.length()));
        }
        return new String(c);
    }

    /** Text in, content and calls out (into a {@link DeltaBuilder}). */
    abstract static class ContentSink implements ReplyStream {
        final DeltaBuilder out;
        final TrimmedText content;

        ContentSink(DeltaBuilder out) {
            this.out = out;
            this.content = new TrimmedText(out::content);
        }

        abstract void accept(CharSequence text);

        abstract void end();

        @Override
        public ChatDelta next(String text) {
            accept(text);
            return out.take();
        }

        @Override
        public ChatDelta finish() {
            end();
            return out.take();
        }
    }

    /**
     * Calls after an opening tag: Hermes ({@code <tool_call>} object {@code </tool_call>}, repeated) or
     * Mistral ({@code [TOOL_CALLS]} then an array of objects).
     */
    private static final class Tagged extends ContentSink {
        private enum State { CONTENT, CALL, AFTER_CALL, ARRAY_OPEN, ARRAY_ITEM, ARRAY_SEP }

        private final Supplier<String> ids;
        private final String open;
        private final String close;
        private final boolean array;
        private State state = State.CONTENT;
        /** Text that may be the start of the opening or closing tag, or whitespace before one. */
        private final StringBuilder held = new StringBuilder();
        /** Mistral: the text since [TOOL_CALLS] while no call of the array is open (content if none comes). */
        private final StringBuilder structure = new StringBuilder();
        private boolean arrayHasCall;
        private CallReader call;
        private int calls;
        /** Whether anything but whitespace came after the current call's object. */
        private boolean afterCallText;

        Tagged(DeltaBuilder out, Supplier<String> ids, String open, String close, boolean array) {
            super(out);
            this.ids = ids;
            this.open = open;
            this.close = close;
            this.array = array;
        }

        @Override
        void accept(CharSequence text) {
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                while (!consume(c)) {
                    // c was not consumed: the state changed, read it again
                }
            }
        }

        /** Reads c; false when the state changed without consuming it. */
        private boolean consume(char c) {
            switch (state) {
                case CONTENT -> {
                    held.append(c);
                    flushUnlessTag(open);
                    if (held.length() == open.length() && held.toString().equals(open)) {
                        held.setLength(0);
                        if (array) {
                            structure.setLength(0);
                            structure.append(open);
                            arrayHasCall = false;
                            state = State.ARRAY_OPEN;
                        } else {
                            startCall();
                        }
                    }
                    return true;
                }
                case ARRAY_OPEN -> {
                    structure.append(c);
                    if (Character.isWhitespace(c)) {
                        return true;
                    }
                    if (c == '[') {
                        state = State.ARRAY_ITEM;
                        return true;
                    }
                    toContent(structure);
                    return true;
                }
                case ARRAY_ITEM, ARRAY_SEP -> {
                    if (Character.isWhitespace(c)) {
                        structure.append(c);
                        return true;
                    }
                    boolean item = state == State.ARRAY_ITEM;
                    if (c == ']' && (!item || !arrayHasCall)) {
                        structure.setLength(0);
                        state = State.CONTENT;
                        return true;
                    }
                    if (item && c == '{') {
                        startCall();
                        return false;
                    }
                    if (!item && c == ',') {
                        structure.append(c);
                        state = State.ARRAY_ITEM;
                        return true;
                    }
                    // Not the array of calls it began as: what was not a call is content.
                    toContent(arrayHasCall ? "" : structure);
                    return false;
                }
                case CALL -> {
                    CallReader.Result r = call.feed(c);
                    switch (r) {
                        case MORE -> {
                            return true;
                        }
                        case DONE -> {
                            calls++;
                            if (array) {
                                arrayHasCall = true;
                                structure.setLength(0);
                            }
                            state = array ? State.ARRAY_SEP : State.AFTER_CALL;
                            held.setLength(0);
                            afterCallText = false;
                            return true;
                        }
                        case NOT_A_CALL -> {
                            boolean consumed = call.closed();
                            toContent((array ? (arrayHasCall ? "" : structure.toString()) : open) + call.raw());
                            call = null;
                            return consumed;
                        }
                        case BROKEN -> {
                            calls++;
                            if (array) {
                                arrayHasCall = true;
                                structure.setLength(0);
                            }
                            call = null;
                            state = State.CONTENT;
                            return false;
                        }
                    }
                    return true;
                }
                case AFTER_CALL -> {
                    held.append(c);
                    if (Character.isWhitespace(c) && !afterCallText) {
                        return true; // whitespace before the closing tag
                    }
                    afterCallText = true;
                    String h = held.toString().stripLeading();
                    if (h.equals(close)) {
                        held.setLength(0);
                        state = State.CONTENT;
                        return true;
                    }
                    if (!close.startsWith(h)) {
                        String text = held.toString();
                        held.setLength(0);
                        state = State.CONTENT;
                        accept(text);
                    }
                    return true;
                }
            }
            throw new IllegalStateException(state.name());
        }

        private void startCall() {
            call = new CallReader(calls, ARGUMENT_KEYS, ids, out);
            state = State.CALL;
        }

        /** Back to content with {@code text} written as content. */
        private void toContent(CharSequence text) {
            content.append(text.toString());
            held.setLength(0);
            structure.setLength(0);
            state = State.CONTENT;
        }

        /** Passes on the held text but for its longest end that could begin {@code tag}. */
        private void flushUnlessTag(String tag) {
            int keep = Math.min(held.length(), tag.length());
            while (keep > 0 && !tag.startsWith(held.substring(held.length() - keep))) {
                keep--;
            }
            if (keep < held.length()) {
                content.append(held.substring(0, held.length() - keep));
                held.delete(0, held.length() - keep);
            }
        }

        @Override
        void end() {
            switch (state) {
                case CONTENT, AFTER_CALL -> content.append(held.toString());
                case ARRAY_OPEN, ARRAY_ITEM, ARRAY_SEP -> content.append(arrayHasCall ? "" : structure.toString());
                case CALL -> {
                    if (!call.opened()) {
                        content.append((array ? (arrayHasCall ? "" : structure.toString()) : open) + call.raw());
                    }
                }
            }
            held.setLength(0);
            content.end();
        }
    }

    /** Llama 3 JSON: the whole reply is calls ({@code <|python_tag|>}?, objects joined by {@code ;}) or content. */
    private static final class Llama extends ContentSink {
        private static final String PYTHON_TAG = "<|python_tag|>";

        private enum State { START, CALL, BETWEEN, CONTENT }

        private final Supplier<String> ids;
        private State state = State.START;
        private final StringBuilder held = new StringBuilder();
        /** Whether held is all whitespace (so a long run of it costs no rescans). */
        private boolean leadingSpaceOnly = true;
        private final StringBuilder before = new StringBuilder();
        private CallReader call;
        private int calls;

        Llama(DeltaBuilder out, Supplier<String> ids) {
            super(out);
            this.ids = ids;
        }

        @Override
        void accept(CharSequence text) {
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                while (!consume(c)) {
                    // read again in the new state
                }
            }
        }

        private boolean consume(char c) {
            switch (state) {
                case START -> {
                    held.append(c);
                    if (Character.isWhitespace(c) && leadingSpaceOnly) {
                        return true;
                    }
                    leadingSpaceOnly = false;
                    String h = held.toString().stripLeading();
                    if (h.equals(PYTHON_TAG)) {
                        before.append(held);
                        held.setLength(0);
                        leadingSpaceOnly = true;
                        return true;
                    }
                    if (PYTHON_TAG.startsWith(h) && c != '{') {
                        return true;
                    }
                    if (h.equals("{")) {
                        before.append(held, 0, held.length() - 1);
                        held.setLength(0);
                        leadingSpaceOnly = true;
                        call = new CallReader(calls, ARGUMENT_KEYS, ids, out);
                        state = State.CALL;
                        return false;
                    }
                    String text = before + held.toString();
                    held.setLength(0);
                    before.setLength(0);
                    state = State.CONTENT;
                    content.append(text);
                    return true;
                }
                case CALL -> {
                    CallReader.Result r = call.feed(c);
                    switch (r) {
                        case MORE -> {
                            return true;
                        }
                        case DONE -> {
                            calls++;
                            before.setLength(0);
                            state = State.BETWEEN;
                            return true;
                        }
                        case NOT_A_CALL -> {
                            boolean consumed = call.closed();
                            state = State.CONTENT;
                            content.append(before.toString() + call.raw());
                            before.setLength(0);
                            call = null;
                            return consumed;
                        }
                        case BROKEN -> {
                            calls++;
                            call = null;
                            state = State.CONTENT;
                            return false;
                        }
                    }
                    return true;
                }
                case BETWEEN -> {
                    if (Character.isWhitespace(c)) {
                        held.append(c);
                        return true;
                    }
                    if (c == ';') {
                        before.append(held).append(c);
                        held.setLength(0);
                        leadingSpaceOnly = true;
                        state = State.START;
                        return true;
                    }
                    content.append(held.toString());
                    held.setLength(0);
                    state = State.CONTENT;
                    return false;
                }
                case CONTENT -> {
                    content.append(String.valueOf(c));
                    return true;
                }
            }
            throw new IllegalStateException(state.name());
        }

        @Override
        void end() {
            switch (state) {
                case START -> content.append(before + held.toString());
                case CALL -> {
                    if (!call.opened()) {
                        content.append(before.toString() + call.raw());
                    }
                }
                case BETWEEN, CONTENT -> content.append(held.toString());
            }
            held.setLength(0);
            content.end();
        }
    }
}
