package io.trtllm.api.chat;

import java.util.function.Consumer;

/**
 * Passes text on without its leading and trailing whitespace, as it streams: whitespace at the start is
 * dropped, whitespace after text is held until more text follows it (then passed on) or the text ends
 * (then dropped).
 */
final class TrimmedText {
    private final Consumer<CharSequence> out;
    private final StringBuilder held = new StringBuilder();
    private boolean started;

    TrimmedText(Consumer<CharSequence> out) {
        this.out = out;
    }

    void append(CharSequence s) {
        int from = 0;
        while (from < s.length()) {
            int i = from;
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            if (i == s.length()) {
                if (started) {
                    held.append(s, from, i);
                }
                return;
            }
            if (started) {
                held.append(s, from, i);
                out.accept(held);
                held.setLength(0);
            }
            int j = i;
            while (j < s.length() && !Character.isWhitespace(s.charAt(j))) {
                j++;
            }
            out.accept(s.subSequence(i, j));
            started = true;
            from = j;
        }
    }

    /** Drops the whitespace held at the end. */
    void end() {
        held.setLength(0);
    }
}
