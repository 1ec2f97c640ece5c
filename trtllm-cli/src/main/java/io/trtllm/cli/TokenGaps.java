package io.trtllm.cli;

import java.util.Arrays;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * The time between consecutive tokens of one completion, summarized by where in the completion they fell: whether a
 * fresh JVM's decode is slow throughout (the machine, the threads) or only over its first tokens (a JIT still
 * compiling the request's path), which one decode rate cannot tell apart.
 */
final class TokenGaps {
    /** Tokens in the first stretch: a few dozen passes cover what a request's first steps load and compile. */
    static final int FIRST = 20;

    private TokenGaps() {
    }

    /**
     * "decode per token: median 1.62 ms (gaps 1-20: 1.81 ms, 21-199: 1.60 ms), p90 2.10 ms, max 9.01 ms", or null
     * where there are fewer than two gaps.
     *
     * @param gapNanos the time from each token to the next, in the order they were produced
     */
    static @Nullable String describe(long[] gapNanos) {
        if (gapNanos.length < 2) {
            return null;
        }
        int first = Math.min(FIRST, gapNanos.length / 2);
        long[] sorted = gapNanos.clone();
        Arrays.sort(sorted);
        return String.format(Locale.ROOT, "decode per token: median %.2f ms (gaps 1-%d: %.2f ms, %d-%d: %.2f ms), p90 %.2f ms, "
                        + "max %.2f ms", millis(median(sorted)), first, millis(median(range(gapNanos, 0, first))), first + 1,
                gapNanos.length, millis(median(range(gapNanos, first, gapNanos.length))),
                millis(sorted[(int) Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]),
                millis(sorted[sorted.length - 1]));
    }

    private static long[] range(long[] values, int from, int to) {
        long[] part = Arrays.copyOfRange(values, from, to);
        Arrays.sort(part);
        return part;
    }

    /** The median of sorted values (the mean of the middle two for an even count). */
    static double median(long[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + (double) sorted[n / 2]) / 2;
    }

    private static double millis(double nanos) {
        return nanos / 1e6;
    }
}
