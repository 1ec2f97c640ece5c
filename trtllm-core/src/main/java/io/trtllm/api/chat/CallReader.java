package io.trtllm.api.chat;

import java.util.Set;
import java.util.function.Supplier;

/**
 * Reads one tool call object, {@code {"name": "...", "arguments": {...}}}, as it streams: the call is
 * opened (its delta with id and name emitted) as soon as its name is complete, and its arguments
 * follow as they are written (the model's JSON without insignificant whitespace; a string of JSON is
 * decoded). Arguments written before the name wait for it. An object that closes without a string name
 * is no call; nor is text that stops being JSON before the call was opened ({@link Result#NOT_A_CALL}:
 * the caller turns it back into content). After the call was opened, text that stops being JSON ends
 * it ({@link Result#BROKEN}).
 */
final class CallReader implements JsonScanner.Listener {
    enum Result { MORE, DONE, NOT_A_CALL, BROKEN }

    private final int index;
    private final Set<String> argumentKeys;
    private final Supplier<String> ids;
    private final DeltaBuilder out;
    private final JsonScanner scanner = new JsonScanner(this);
    private final StringBuilder raw = new StringBuilder();

    private String key = "";
    private final StringBuilder nameText = new StringBuilder();
    private boolean nameSeen;
    private boolean argumentsSeen;
    private boolean argumentsDone;
    private boolean argumentsAreString;
    private final StringBuilder arguments = new StringBuilder();
    private boolean opened;

    CallReader(int index, Set<String> argumentKeys, Supplier<String> ids, DeltaBuilder out) {
        this.index = index;
        this.argumentKeys = argumentKeys;
        this.ids = ids;
        this.out = out;
    }

    boolean opened() {
        return opened;
    }

    /** The text read so far (all of it, whitespace included). */
    CharSequence raw() {
        return raw;
    }

    /** Reads {@code c}; on NOT_A_CALL and BROKEN it was not consumed (but for an object that closed without a name). */
    Result feed(char c) {
        JsonScanner.Status s = scanner.feed(c);
        if (s == JsonScanner.Status.ERROR) {
            return opened ? Result.BROKEN : Result.NOT_A_CALL;
        }
        raw.append(c);
        if (s == JsonScanner.Status.DONE) {
            if (!opened) {
                return Result.NOT_A_CALL;
            }
            if (!argumentsSeen) {
                out.arguments(index, "{}");
            }
            return Result.DONE;
        }
        return Result.MORE;
    }

    /** Whether an object that closed without a name was consumed whole by the last {@link #feed}. */
    boolean closed() {
        return scanner.isDone();
    }

    @Override
    public void key(String k) {
        key = k;
    }

    @Override
    public void valueChar(char c) {
        if (key.equals("name") && !nameSeen) {
            nameText.append(c);
        } else if (argumentKeys.contains(key) && !argumentsDone) {
            if (!argumentsSeen) {
                argumentsSeen = true;
                argumentsAreString = c == '"';
            }
            if (argumentsAreString) {
                arguments.append(c);
            } else if (opened) {
                out.arguments(index, c);
            } else {
                arguments.append(c);
            }
        }
    }

    @Override
    public void valueEnd() {
        if (key.equals("name") && !nameSeen) {
            nameSeen = true;
            String text = nameText.toString();
            if (text.startsWith("\"")) {
                String name = JsonScanner.decode(text);
                if (!name.isBlank()) {
                    open(name);
                }
            }
        } else if (argumentKeys.contains(key) && argumentsSeen && !argumentsDone) {
            argumentsDone = true;
            if (argumentsAreString) {
                String decoded = JsonScanner.decode(arguments.toString());
                arguments.setLength(0);
                arguments.append(decoded);
                if (opened) {
                    out.arguments(index, decoded);
                }
            }
        }
    }

    private void open(String name) {
        opened = true;
        String pending = argumentsAreString && !argumentsDone ? "" : arguments.toString();
        out.openCall(index, ids.get(), name, pending);
        if (!argumentsAreString || argumentsDone) {
            arguments.setLength(0);
        }
    }
}
