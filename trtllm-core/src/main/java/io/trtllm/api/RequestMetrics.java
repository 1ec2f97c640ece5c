package io.trtllm.api;

/**
 * Timings and counts of one request. Times are {@link System#nanoTime()} readings (0 when the
 * event has not happened yet), so only their differences mean something.
 *
 * <p>The phases, as vLLM names them: queued ({@link #queueNanos()}, submission to the first forward pass),
 * prefill ({@link #prefillNanos()}, first pass to first token), decode ({@link #decodeNanos()}, first token to
 * the end); inference is prefill + decode ({@link #inferenceNanos()}).
 *
 * @param promptTokens       tokens in the prompt
 * @param generatedTokens    tokens generated so far
 * @param cachedPromptTokens prompt tokens found in the prefix cache (not computed)
 * @param arrivalNanos       when the request was submitted
 * @param scheduledNanos     when it first ran in a forward pass (0 if it never did, or is not known)
 * @param firstTokenNanos    when its first token was sampled
 * @param finishNanos        when it ended
 * @param preemptions        times it was preempted (its KV cache dropped) and recomputed
 * @param interTokenNanos    the time between each two consecutive tokens, as the engine produced them (one fewer
 *                           than the tokens; for {@code best_of}, each sample's in turn); empty in the updates of a
 *                           stream before the last, and for a beam search
 */
public record RequestMetrics(int promptTokens, int generatedTokens, int cachedPromptTokens, long arrivalNanos,
                             long scheduledNanos, long firstTokenNanos, long finishNanos, int preemptions,
                             long[] interTokenNanos) {
    private static final long[] NONE = new long[0];

    public RequestMetrics {
        interTokenNanos = interTokenNanos.length == 0 ? NONE : interTokenNanos.clone();
    }

    /** Metrics without the gaps between tokens. */
    public RequestMetrics(int promptTokens, int generatedTokens, int cachedPromptTokens, long arrivalNanos,
                          long scheduledNanos, long firstTokenNanos, long finishNanos, int preemptions) {
        this(promptTokens, generatedTokens, cachedPromptTokens, arrivalNanos, scheduledNanos, firstTokenNanos,
                finishNanos, preemptions, NONE);
    }

    /** Metrics without the scheduling time (0), preemptions (0) and the gaps between tokens. */
    public RequestMetrics(int promptTokens, int generatedTokens, int cachedPromptTokens, long arrivalNanos,
                          long firstTokenNanos, long finishNanos) {
        this(promptTokens, generatedTokens, cachedPromptTokens, arrivalNanos, 0, firstTokenNanos, finishNanos, 0, NONE);
    }

    @Override
    public long[] interTokenNanos() {
        return interTokenNanos.length == 0 ? NONE : interTokenNanos.clone();
    }

    /** Submission to first token (queueing + prefill), or 0. */
    public long timeToFirstTokenNanos() {
        return firstTokenNanos == 0 ? 0 : firstTokenNanos - arrivalNanos;
    }

    /** Submission to the first forward pass (waiting in the queue), or 0 when it never ran or is not known. */
    public long queueNanos() {
        return scheduledNanos == 0 ? 0 : scheduledNanos - arrivalNanos;
    }

    /** First forward pass to first token (the prefill phase), or 0. */
    public long prefillNanos() {
        return scheduledNanos == 0 || firstTokenNanos == 0 ? 0 : firstTokenNanos - scheduledNanos;
    }

    /** First token to the end (the decode phase), or 0. */
    public long decodeNanos() {
        return firstTokenNanos == 0 || finishNanos == 0 ? 0 : finishNanos - firstTokenNanos;
    }

    /** First forward pass to the end (prefill + decode), or 0. */
    public long inferenceNanos() {
        return scheduledNanos == 0 || finishNanos == 0 ? 0 : finishNanos - scheduledNanos;
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
