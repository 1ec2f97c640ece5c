package io.trtllm.api.chat;

/**
 * Checks one JSON object (RFC 8259) character by character as it streams in, and reports its
 * top-level members as they go by: each key when it is complete, and each value's characters as they
 * are read (from its first character to its last, without the whitespace around it). Tool-call parsers
 * learn a call's name as soon as it is written and pass its arguments on while they are written,
 * never reading past the object's end.
 *
 * <p>Not thread-safe; one per object.
 */
final class JsonScanner {
    /** What {@link #feed} did with a character. */
    enum Status {
        /** Consumed; the object goes on. */
        MORE,
        /** Consumed; it closed the object. */
        DONE,
        /** Not consumed: it cannot come here in JSON. */
        ERROR
    }

    /** Receives the top-level members. */
    interface Listener {
        /** A top-level key, decoded. */
        void key(String key);

        /** A character of the current top-level value. */
        void valueChar(char c);

        /** The current top-level value is complete. */
        void valueEnd();
    }

    /** Deepest nesting we follow: deeper text is an error, not a stack overflow. */
    static final int MAX_DEPTH = 256;

    private enum State {
        START, OBJ_FIRST_KEY_OR_END, OBJ_KEY, COLON, VALUE, AFTER_VALUE, ARR_FIRST_VALUE_OR_END,
        STRING, STRING_ESCAPE, STRING_HEX, NUMBER, LITERAL, DONE
    }

    private enum Num { MINUS, ZERO, INT, DOT, FRAC, E, E_SIGN, EXP }

    private final Listener listener;
    private final char[] containers = new char[MAX_DEPTH];
    private int depth;
    private State state = State.START;
    private boolean stringIsKey;
    private int hexLeft;
    private Num num;
    private String literal;
    private int literalAt;
    private final StringBuilder key = new StringBuilder();
    private boolean inTopValue;

    JsonScanner(Listener listener) {
        this.listener = listener;
    }

    boolean isDone() {
        return state == State.DONE;
    }

    Status feed(char c) {
        while (true) {
            Status s = step(c);
            if (s != null) {
                return s;
            }
            // a number ended at c: c belongs to what follows
        }
    }

    /** One transition; null when c ended a number and must be read again in the new state. */
    private Status step(char c) {
        switch (state) {
            case DONE:
                return Status.ERROR;
            case START:
                if (isSpace(c)) {
                    return Status.MORE;
                }
                if (c != '{') {
                    return Status.ERROR;
                }
                containers[depth++] = '{';
                state = State.OBJ_FIRST_KEY_OR_END;
                return Status.MORE;
            case OBJ_FIRST_KEY_OR_END:
            case OBJ_KEY:
                if (isSpace(c)) {
                    return Status.MORE;
                }
                if (c == '}' && state == State.OBJ_FIRST_KEY_OR_END) {
                    return close(c);
                }
                if (c != '"') {
                    return Status.ERROR;
                }
                stringIsKey = true;
                if (depth == 1) {
                    key.setLength(0);
                    key.append(c);
                } else if (inTopValue) {
                    listener.valueChar(c);
                }
                state = State.STRING;
                return Status.MORE;
            case COLON:
                if (isSpace(c)) {
                    return Status.MORE;
                }
                if (c != ':') {
                    return Status.ERROR;
                }
                pass(c);
                state = State.VALUE;
                return Status.MORE;
            case ARR_FIRST_VALUE_OR_END:
                if (isSpace(c)) {
                    return Status.MORE;
                }
                if (c == ']') {
                    return close(c);
                }
                state = State.VALUE;
                return step(c);
            case VALUE:
                if (isSpace(c)) {
                    return Status.MORE;
                }
                return startValue(c);
            case AFTER_VALUE:
                if (isSpace(c)) {
                    return Status.MORE;
                }
                char container = containers[depth - 1];
                if (c == ',') {
                    pass(c);
                    state = container == '{' ? State.OBJ_KEY : State.VALUE;
                    return Status.MORE;
                }
                if ((c == '}' && container == '{') || (c == ']' && container == '[')) {
                    return close(c);
                }
                return Status.ERROR;
            case STRING:
                if (c < 0x20) {
                    return Status.ERROR;
                }
                stringChar(c);
                if (c == '\\') {
                    state = State.STRING_ESCAPE;
                } else if (c == '"') {
                    endString();
                }
                return Status.MORE;
            case STRING_ESCAPE:
                if ("\"\\/bfnrt".indexOf(c) >= 0) {
                    stringChar(c);
                    state = State.STRING;
                    return Status.MORE;
                }
                if (c == 'u') {
                    stringChar(c);
                    hexLeft = 4;
                    state = State.STRING_HEX;
                    return Status.MORE;
                }
                return Status.ERROR;
            case STRING_HEX:
                if (Character.digit(c, 16) < 0) {
                    return Status.ERROR;
                }
                stringChar(c);
                if (--hexLeft == 0) {
                    state = State.STRING;
                }
                return Status.MORE;
            case NUMBER:
                return number(c);
            case LITERAL:
                if (c != literal.charAt(literalAt)) {
                    return Status.ERROR;
                }
                pass(c);
                if (++literalAt == literal.length()) {
                    endScalar();
                }
                return Status.MORE;
            default:
                throw new IllegalStateException(state.name());
        }
    }

    private Status startValue(char c) {
        boolean top = depth == 1;
        if (top) {
            inTopValue = true;
        }
        switch (c) {
            case '{', '[' -> {
                if (depth == MAX_DEPTH) {
                    return Status.ERROR;
                }
                pass(c);
                containers[depth++] = c;
                state = c == '{' ? State.OBJ_FIRST_KEY_OR_END : State.ARR_FIRST_VALUE_OR_END;
                return Status.MORE;
            }
            case '"' -> {
                pass(c);
                stringIsKey = false;
                state = State.STRING;
                return Status.MORE;
            }
            case 't', 'f', 'n' -> {
                literal = c == 't' ? "true" : c == 'f' ? "false" : "null";
                literalAt = 1;
                pass(c);
                state = State.LITERAL;
                return Status.MORE;
            }
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) {
                    pass(c);
                    num = c == '-' ? Num.MINUS : c == '0' ? Num.ZERO : Num.INT;
                    state = State.NUMBER;
                    return Status.MORE;
                }
                if (top) {
                    inTopValue = false;
                }
                return Status.ERROR;
            }
        }
    }

    private Status number(char c) {
        boolean digit = c >= '0' && c <= '9';
        Num next = switch (num) {
            case MINUS -> digit ? (c == '0' ? Num.ZERO : Num.INT) : null;
            case ZERO -> c == '.' ? Num.DOT : (c == 'e' || c == 'E') ? Num.E : null;
            case INT -> digit ? Num.INT : c == '.' ? Num.DOT : (c == 'e' || c == 'E') ? Num.E : null;
            case DOT, FRAC -> digit ? Num.FRAC : (num == Num.FRAC && (c == 'e' || c == 'E')) ? Num.E : null;
            case E -> digit ? Num.EXP : (c == '+' || c == '-') ? Num.E_SIGN : null;
            case E_SIGN, EXP -> digit ? Num.EXP : null;
        };
        if (next != null) {
            pass(c);
            num = next;
            return Status.MORE;
        }
        if (num == Num.ZERO || num == Num.INT || num == Num.FRAC || num == Num.EXP) {
            endScalar();
            return null; // c follows the number
        }
        return Status.ERROR;
    }

    private void stringChar(char c) {
        if (stringIsKey && depth == 1) {
            key.append(c);
        } else {
            pass(c);
        }
    }

    private void endString() {
        if (stringIsKey) {
            if (depth == 1) {
                listener.key(decode(key.toString()));
            }
            state = State.COLON;
        } else {
            endScalar();
        }
    }

    private void endScalar() {
        state = State.AFTER_VALUE;
        if (depth == 1 && inTopValue) {
            inTopValue = false;
            listener.valueEnd();
        }
    }

    private Status close(char c) {
        depth--;
        if (depth == 0) {
            state = State.DONE;
            return Status.DONE;
        }
        pass(c);
        state = State.AFTER_VALUE;
        if (depth == 1 && inTopValue) {
            inTopValue = false;
            listener.valueEnd();
        }
        return Status.MORE;
    }

    /** Passes c on when it belongs to a top-level value. */
    private void pass(char c) {
        if (inTopValue) {
            listener.valueChar(c);
        }
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }

    /** A complete JSON string literal, decoded. */
    static String decode(String literal) {
        StringBuilder out = new StringBuilder(literal.length());
        for (int i = 1; i < literal.length() - 1; i++) {
            char c = literal.charAt(i);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char e = literal.charAt(++i);
            switch (e) {
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'u' -> {
                    out.append((char) Integer.parseInt(literal, i + 1, i + 5, 16));
                    i += 4;
                }
                default -> out.append(e);
            }
        }
        return out.toString();
    }
}
