package io.trtllm.tokenizer;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Finds stop strings in a stream of detokenized text, across token boundaries, and says how much of
 * the text may be shown now. One per sequence; not thread-safe.
 *
 * <p>Feed each text delta ({@link #feed}); the answer is the text that is safe to emit. Unless stop
 * strings are included in the output, the longest suffix that could still grow into a stop string is
 * held back (with stop {@code "\n\nUser:"}, after {@code "Hello\n"} only {@code "Hello"} is safe).
 * When a stop string completes, the answer carries it and the text is cut before it — or after it with
 * {@code includeStopString} — and anything fed after it is dropped. When generation ends without a
 * stop, {@link #flush} returns what was held back, so the emitted pieces always concatenate to the
 * text (cut at the stop, if any).
 *
 * <p>Which stop string wins: the occurrence that ends first in the text — the one a reader of the
 * stream sees complete first — and of those ending at the same place the longest. The result does not
 * depend on how the text was split into deltas.
 */
public final class StopStringMatcher {
    private final String[] stops;
    private final boolean includeStopString;
    private final int longestStop;
    /** Text from stream position {@link #bufferStart}: the emitted tail a stop may still span, then the unemitted. */
    private final StringBuilder buffer = new StringBuilder();
    private int bufferStart;
    /** Stream position up to which text was emitted. */
    private int emitted;
    private @Nullable String matched;
    private int matchStart = -1;
    private boolean flushed;

    /**
     * @param stops             the stop strings (none empty); an empty list passes text straight through
     * @param includeStopString whether the emitted text ends with the stop string (true) or just before it
     */
    public StopStringMatcher(List<String> stops, boolean includeStopString) {
        this.stops = stops.toArray(String[]::new);
        this.includeStopString = includeStopString;
        int longest = 0;
        for (int i = 0; i < this.stops.length; i++) {
            if (this.stops[i].isEmpty()) {
                throw new IllegalArgumentException("stop string " + i + " is empty");
            }
            longest = Math.max(longest, this.stops[i].length());
        }
        this.longestStop = longest;
    }

    /**
     * What feeding one delta gave.
     *
     * @param text       the text that is now safe to emit (may be empty)
     * @param stopString the stop string that matched, or null if none did (yet)
     * @param stopStart  where the stop string starts, as a char index into the whole stream fed so far;
     *                   -1 when none matched
     */
    public record Result(String text, @Nullable String stopString, int stopStart) {
        /** Whether a stop string matched: the sequence is finished. */
        public boolean stopped() {
            return stopString != null;
        }
    }

    /**
     * Adds the next piece of text.
     *
     * @throws IllegalStateException after a stop string matched or after {@link #flush}
     */
    public Result feed(CharSequence delta) {
        if (matched != null) {
            throw new IllegalStateException("stop string " + quoted(matched) + " already matched");
        }
        if (flushed) {
            throw new IllegalStateException("the matcher was flushed");
        }
        if (stops.length == 0) {
            emitted += delta.length();
            bufferStart = emitted;
            return new Result(delta.toString(), null, -1);
        }
        int oldLength = buffer.length();
        buffer.append(delta);
        // Only occurrences that end in the new text are new; the buffer keeps enough of the old text
        // (longestStop - 1 chars) for one that starts before it.
        int bestStart = -1;
        int bestEnd = Integer.MAX_VALUE;
        @Nullable String best = null;
        for (String stop : stops) {
            int start = buffer.indexOf(stop, Math.max(0, oldLength - stop.length() + 1));
            if (start >= 0) {
                int end = start + stop.length();
                if (end < bestEnd || (end == bestEnd && start < bestStart)) {
                    bestStart = start;
                    bestEnd = end;
                    best = stop;
                }
            }
        }
        int unemitted = emitted - bufferStart;
        if (best != null) {
            matched = best;
            matchStart = bufferStart + bestStart;
            int cut = Math.max(unemitted, includeStopString ? bestEnd : bestStart);
            String text = buffer.substring(unemitted, cut);
            emitted = bufferStart + cut;
            buffer.setLength(0);
            bufferStart = emitted;
            return new Result(text, best, matchStart);
        }
        int safe = includeStopString ? buffer.length() : Math.max(unemitted, buffer.length() - heldBack(buffer));
        String text = buffer.substring(unemitted, safe);
        emitted = bufferStart + safe;
        int keepFrom = Math.max(0, Math.min(safe, buffer.length() - (longestStop - 1)));
        buffer.delete(0, keepFrom);
        bufferStart += keepFrom;
        return new Result(text, null, -1);
    }

    /**
     * Ends the stream: returns the text held back (empty after a stop). Call it when the sequence
     * finishes for a reason other than a stop string.
     */
    public String flush() {
        flushed = true;
        if (matched != null) {
            return "";
        }
        String text = buffer.substring(emitted - bufferStart);
        emitted = bufferStart + buffer.length();
        return text;
    }

    /** Whether a stop string matched. */
    public boolean stopped() {
        return matched != null;
    }

    /** The stop string that matched (for {@code stop_reason}), or null. */
    public @Nullable String stopString() {
        return matched;
    }

    /** Where the matched stop string starts in the stream fed so far, or -1. */
    public int stopStart() {
        return matchStart;
    }

    /** Number of chars fed but not yet emitted. */
    public int heldBack() {
        return matched != null || flushed ? 0 : bufferStart + buffer.length() - emitted;
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of a stop string. */
    private int heldBack(CharSequence text) {
        int length = text.length();
        for (int n = Math.min(longestStop - 1, length); n > 0; n--) {
            for (String stop : stops) {
                if (stop.length() > n && regionMatches(text, length - n, stop, n)) {
                    return n;
                }
            }
        }
        return 0;
    }

    private static boolean regionMatches(CharSequence text, int from, String prefixOf, int n) {
        for (int i = 0; i < n; i++) {
            if (text.charAt(from + i) != prefixOf.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static String quoted(String s) {
        return '"' + s.replace("\n", "\\n") + '"';
    }
}
