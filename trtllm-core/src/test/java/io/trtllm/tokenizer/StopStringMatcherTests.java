package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Stop strings over a stream of text deltas: split across deltas, held back, trimmed or kept, flushed. */
class StopStringMatcherTests {

    /** Everything a stream of deltas gave: the emitted text (flushed at the end) and the stop. */
    record Outcome(String text, @Nullable String stop, int stopStart) {
    }

    static Outcome stream(StopStringMatcher matcher, List<String> deltas) {
        var text = new StringBuilder();
        for (String delta : deltas) {
            var result = matcher.feed(delta);
            text.append(result.text());
            if (result.stopped()) {
                return new Outcome(text.toString(), result.stopString(), result.stopStart());
            }
        }
        text.append(matcher.flush());
        return new Outcome(text.toString(), null, -1);
    }

    @Test
    void stopStringSplitAcrossDeltasIsTrimmed() {
        var matcher = new StopStringMatcher(List.of("\n\nUser:"), false);
        var first = matcher.feed("Hello wor");
        assertThat(first.text()).isEqualTo("Hello wor");
        assertThat(first.stopped()).isFalse();
        assertThat(first.stopStart()).isEqualTo(-1);

        var second = matcher.feed("ld\n\nUser:");
        assertThat(second.text()).isEqualTo("ld");
        assertThat(second.stopped()).isTrue();
        assertThat(second.stopString()).isEqualTo("\n\nUser:");
        assertThat(second.stopStart()).isEqualTo("Hello world".length());
        assertThat(matcher.stopped()).isTrue();
        assertThat(matcher.stopString()).isEqualTo("\n\nUser:");
        assertThat(matcher.stopStart()).isEqualTo(11);
    }

    @Test
    void stopStringSplitAcrossDeltasIsKeptWhenIncluded() {
        var matcher = new StopStringMatcher(List.of("\n\nUser:"), true);
        assertThat(matcher.feed("Hello wor").text()).isEqualTo("Hello wor");
        var second = matcher.feed("ld\n\nUser:");
        assertThat(second.text()).isEqualTo("ld\n\nUser:");
        assertThat(second.stopString()).isEqualTo("\n\nUser:");
    }

    @Test
    void whatMayStartAStopStringIsHeldBackUntilItCannot() {
        var matcher = new StopStringMatcher(List.of("\n\nUser:"), false);
        assertThat(matcher.feed("Hello\n").text()).isEqualTo("Hello");
        assertThat(matcher.heldBack()).isEqualTo(1);
        assertThat(matcher.feed("\n").text()).isEmpty();
        assertThat(matcher.feed("Us").text()).isEmpty();
        assertThat(matcher.heldBack()).isEqualTo(4);
        assertThat(matcher.feed("x").text()).isEqualTo("\n\nUsx");
        assertThat(matcher.heldBack()).isZero();
        assertThat(matcher.feed(" more\n\nUser").text()).isEqualTo(" more");
        assertThat(matcher.flush()).isEqualTo("\n\nUser");
    }

    @Test
    void includedStopStringsHoldNothingBackAndStillMatchAcrossEmittedText() {
        var matcher = new StopStringMatcher(List.of("\n\nUser:"), true);
        assertThat(matcher.feed("Hello\n\n").text()).isEqualTo("Hello\n\n");
        var result = matcher.feed("User: and more");
        assertThat(result.text()).isEqualTo("User:");
        assertThat(result.stopStart()).isEqualTo(5);
    }

    @Test
    void stopStringFedOneCharAtATime() {
        var deltas = "ab\n\nUser: tail".chars().mapToObj(c -> String.valueOf((char) c)).toList();
        assertThat(stream(new StopStringMatcher(List.of("\n\nUser:"), false), deltas))
                .isEqualTo(new Outcome("ab", "\n\nUser:", 2));
        assertThat(stream(new StopStringMatcher(List.of("\n\nUser:"), true), deltas))
                .isEqualTo(new Outcome("ab\n\nUser:", "\n\nUser:", 2));
    }

    @Test
    void textAfterTheStopStringInTheSameDeltaIsDropped() {
        assertThat(stream(new StopStringMatcher(List.of("STOP"), false), List.of("foo STOP bar")))
                .isEqualTo(new Outcome("foo ", "STOP", 4));
        assertThat(stream(new StopStringMatcher(List.of("STOP"), true), List.of("foo STOP bar")))
                .isEqualTo(new Outcome("foo STOP", "STOP", 4));
    }

    @Test
    void theStopThatEndsFirstWinsAndOfThoseEndingTogetherTheLongest() {
        // "bc" completes before "abcd" does: a reader of the stream sees it first
        assertThat(stream(new StopStringMatcher(List.of("abcd", "bc"), false), List.of("abcd")))
                .isEqualTo(new Outcome("a", "bc", 1));
        assertThat(stream(new StopStringMatcher(List.of("abc", "ab"), false), List.of("xabc")))
                .isEqualTo(new Outcome("x", "ab", 1));
        assertThat(stream(new StopStringMatcher(List.of("cd", "bcd"), false), List.of("ab", "cd")))
                .isEqualTo(new Outcome("a", "bcd", 1));
    }

    @Test
    void selfOverlappingStopString() {
        var matcher = new StopStringMatcher(List.of("aab"), false);
        assertThat(matcher.feed("a").text()).isEmpty();
        assertThat(matcher.feed("a").text()).isEmpty();
        assertThat(matcher.feed("a").text()).isEqualTo("a");
        var result = matcher.feed("b");
        assertThat(result.text()).isEmpty();
        assertThat(result.stopString()).isEqualTo("aab");
        assertThat(result.stopStart()).isEqualTo(1);
    }

    @Test
    void withoutAStopEverythingIsEmittedByTheFlush() {
        var deltas = List.of("Hello", " world\n", "\nUse");
        var outcome = stream(new StopStringMatcher(List.of("\n\nUser:"), false), deltas);
        assertThat(outcome).isEqualTo(new Outcome("Hello world\n\nUse", null, -1));
    }

    @Test
    void noStopStringsPassTextThrough() {
        var matcher = new StopStringMatcher(List.of(), false);
        assertThat(matcher.feed("Hello\n\nUser:").text()).isEqualTo("Hello\n\nUser:");
        assertThat(matcher.heldBack()).isZero();
        assertThat(matcher.flush()).isEmpty();
    }

    @Test
    void misuseIsAnError() {
        assertThatThrownBy(() -> new StopStringMatcher(List.of("a", ""), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("stop string 1 is empty");
        var stopped = new StopStringMatcher(List.of("x"), false);
        stopped.feed("x");
        assertThatThrownBy(() -> stopped.feed("more")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already matched");
        assertThat(stopped.flush()).isEmpty();
        var flushed = new StopStringMatcher(List.of("x"), false);
        flushed.flush();
        assertThatThrownBy(() -> flushed.feed("more")).isInstanceOf(IllegalStateException.class);
    }

    /** Random texts over a small alphabet, split at random: the outcome equals one computed on the whole text. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void theOutcomeDoesNotDependOnHowTheTextIsSplit(boolean include) {
        var stops = List.of("abc", "bca", "cc", "abab");
        var random = new SplittableRandom(include ? 1 : 2);
        for (int trial = 0; trial < 2000; trial++) {
            var text = new StringBuilder();
            int length = random.nextInt(0, 30);
            for (int i = 0; i < length; i++) {
                text.append("abcd".charAt(random.nextInt(4)));
            }
            List<String> deltas = new ArrayList<>();
            for (int at = 0; at < text.length(); ) {
                int next = Math.min(text.length(), at + random.nextInt(0, 6));
                deltas.add(text.substring(at, next));
                at = next;
            }
            assertThat(stream(new StopStringMatcher(stops, include), deltas)).as("%s split as %s", text, deltas)
                    .isEqualTo(reference(text.toString(), stops, include));
        }
    }

    /** The stop occurrence with the smallest end, then the smallest start, on the whole text. */
    static Outcome reference(String text, List<String> stops, boolean include) {
        int bestStart = -1;
        int bestEnd = Integer.MAX_VALUE;
        String best = null;
        for (String stop : stops) {
            for (int start = text.indexOf(stop); start >= 0; start = text.indexOf(stop, start + 1)) {
                int end = start + stop.length();
                if (end < bestEnd || (end == bestEnd && start < bestStart)) {
                    bestStart = start;
                    bestEnd = end;
                    best = stop;
                }
            }
        }
        if (best == null) {
            return new Outcome(text, null, -1);
        }
        return new Outcome(text.substring(0, include ? bestEnd : bestStart), best, bestStart);
    }
}
