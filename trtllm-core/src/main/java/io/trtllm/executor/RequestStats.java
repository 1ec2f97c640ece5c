package io.trtllm.executor;

/**
 * Timings (System.nanoTime) and counts of one request, for metrics.
 *
 * @param arrivalNanos       when it was submitted
 * @param scheduledNanos     when it first ran in a forward pass (0 if never)
 * @param firstTokenNanos    when its first token was sampled (0 if none)
 * @param finishNanos        when it ended
 * @param promptTokens       tokens in the prompt
 * @param generatedTokens    tokens generated
 * @param cachedPromptTokens prompt tokens found in the prefix cache (no compute)
 * @param preemptions        times it was preempted and recomputed
 */
public record RequestStats(long arrivalNanos, long scheduledNanos, long firstTokenNanos, long finishNanos, int promptTokens,
                           int generatedTokens, int cachedPromptTokens, int preemptions) {

    /** Time to first token in nanoseconds (0 if none was generated). */
    public long timeToFirstTokenNanos() {
        return firstTokenNanos == 0 ? 0 : firstTokenNanos - arrivalNanos;
    }
}
