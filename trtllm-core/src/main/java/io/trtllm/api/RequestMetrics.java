package io.trtllm.api;

/**
 * Timings and counts of one request.
 *
 * @param promptTokens    tokens in the prompt
 * @param generatedTokens tokens generated
 * @param prefillNanos    time of the prompt's forward pass (up to the first generated token)
 * @param decodeNanos     time of all later steps
 */
public record RequestMetrics(int promptTokens, int generatedTokens, long prefillNanos, long decodeNanos) {

    /** Prompt tokens per second of prefill. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
    }

    /** Generated tokens per second after the first (each decode step makes one token). */
    public double decodeTokensPerSecond() {
        int steps = generatedTokens - 1;
        return decodeNanos == 0 || steps <= 0 ? 0 : steps * 1e9 / decodeNanos;
    }
}
