package io.trtllm.api;

/**
 * Timings and counts of one request. Times are {@link System#nanoTime()} readings (0 when the
 * event has not happened yet), so only their differences mean something.
 *
 * @param promptTokens       tokens in the prompt
 * @param generatedTokens    tokens generated so far
 * @param cachedPromptTokens prompt tokens found in the prefix cache (not computed)
 * @param arrivalNanos       when the request was submitted
 * @param firstTokenNanos    when its first token was sampled
 * @param finishNanos        when it ended
 */
public record RequestMetrics(int promptTokens, int generatedTokens, int cachedPromptTokens, long arrivalNanos,
                             long firstTokenNanos, long finishNanos) {

    /** Submission to first token (queueing + prefill), or 0. */
    public long timeToFirstTokenNanos() {
        return firstTokenNanos == 0 ? 0 : firstTokenNanos - arrivalNanos;
    }

    /** First token to the end (the decode phase), or 0. */
    public long decodeNanos() {
        return firstTokenNanos == 0 || finishNanos == 0 ? 0 : finishNanos - firstTokenNanos;
    }

    /** Submission to the end, or 0 while running. */
    public long endToEndNanos() {
        return finishNanos == 0 ? 0 : finishNanos - arrivalNanos;
    }

    /** Mean time per output token after the first, or 0. */
    public long timePerOutputTokenNanos() {
        int steps = generatedTokens - 1;
        return steps <= 0 ? 0 : decodeNanos() / steps;
    }

    /** Prompt tokens per second up to the first token (queueing included). */
    public double prefillTokensPerSecond() {
        long t = timeToFirstTokenNanos();
        return t == 0 ? 0 : promptTokens * 1e9 / t;
    }

    /** Generated tokens per second after the first (each decode step makes one token). */
    public double decodeTokensPerSecond() {
        int steps = generatedTokens - 1;
        long t = decodeNanos();
        return t == 0 || steps <= 0 ? 0 : steps * 1e9 / t;
    }
}
