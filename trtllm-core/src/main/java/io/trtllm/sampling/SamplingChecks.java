package io.trtllm.sampling;

/**
 * The checks of sampling settings, in one place: {@code SamplingParams} (the API), {@link SamplingConfig}
 * (the executor's view) and {@link TokenSampling} (a runner's draw) call these, so a value is accepted or
 * refused with the same message wherever it enters. Messages name the setting as the API spells it and
 * the value.
 */
public final class SamplingChecks {

    private SamplingChecks() {
    }

    /**
     * The settings that shape the distribution: temperature (finite, &gt;= 0; 0 means greedy), top_k
     * (&gt;= 0; 0 is off), top_p (in (0, 1]; 1 is off), min_p (in [0, 1]; 0 is off).
     *
     * @throws IllegalArgumentException naming the first setting out of range and its value
     */
    public static void checkWarpers(float temperature, int topK, float topP, float minP) {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 disables it), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        }
    }

    /**
     * The penalties: repetition (finite, &gt; 0; 1 is off), presence and frequency (finite; 0 is off).
     *
     * @throws IllegalArgumentException naming the first penalty out of range and its value
     */
    public static void checkPenalties(float repetitionPenalty, float presencePenalty, float frequencyPenalty) {
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition_penalty must be a finite number > 0, got " + repetitionPenalty);
        }
        if (!Float.isFinite(presencePenalty)) {
            throw new IllegalArgumentException("presence_penalty must be a finite number, got " + presencePenalty);
        }
        if (!Float.isFinite(frequencyPenalty)) {
            throw new IllegalArgumentException("frequency_penalty must be a finite number, got " + frequencyPenalty);
        }
    }

    /**
     * min_tokens (&gt;= 0).
     *
     * @throws IllegalArgumentException when it is negative
     */
    public static void checkMinTokens(int minTokens) {
        if (minTokens < 0) {
            throw new IllegalArgumentException("min_tokens must be >= 0, got " + minTokens);
        }
    }
}
