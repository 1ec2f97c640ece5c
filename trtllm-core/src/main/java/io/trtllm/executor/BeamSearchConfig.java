package io.trtllm.executor;

import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * How a request runs as a beam search inside the executor ({@link Executor#submit(GenerationRequest,
 * BeamSearchConfig, GenerationListener)}): {@code width} beams of one sequence group.
 *
 * <p>Early stopping as TensorRT-LLM's {@code early_stopping} (Hugging Face's {@code early_stopping}):
 * <ul>
 *   <li>{@code 1} (TensorRT-LLM's default; Hugging Face's {@code True}): the search ends as soon as
 *       {@code width} hypotheses have finished;</li>
 *   <li>{@code 0} (Hugging Face's {@code False}, a heuristic): it ends when {@code width} have finished and the
 *       best live beam, scored at its current length, no longer beats the worst of them;</li>
 *   <li>{@code > 1} (Hugging Face's {@code "never"}): it runs until max_tokens (or until no beam is left
 *       alive), then ranks the finished and the live beams together.</li>
 * </ul>
 *
 * @param width         beams kept after every step (>= 1)
 * @param lengthPenalty a hypothesis scores {@code cumulative_logprob / length^lengthPenalty}, length counting
 *                      its generated tokens (a final end token included)
 * @param earlyStopping see above (>= 0)
 * @param stopsText     whether a beam's generated tokens end with a stop string (its text contains one), or
 *                      null without stop strings; called on the executor's thread for the candidates kept
 * @param reportEachStep whether the listener gets the hypotheses after every step (streaming), not only at
 *                       the end
 * @param guide          where the output starts in the request's guide, or null for free text: each beam's row is
 *                       masked to the tokens its place allows before it is scored (so log-probabilities are
 *                       those of the masked distribution and every beam stays inside the guide), and a beam
 *                       whose guide terminates is finished
 */
public record BeamSearchConfig(int width, float lengthPenalty, int earlyStopping, @Nullable Predicate<int[]> stopsText,
                               boolean reportEachStep, @Nullable BeamGuide guide) {
    /** TensorRT-LLM's default early stopping: done once {@code width} hypotheses have finished. */
    public static final int EARLY_STOP = 1;
    /** Hugging Face's heuristic early stopping. */
    public static final int HEURISTIC = 0;
    /** No early stopping: every search runs to max_tokens. */
    public static final int NEVER = 2;

    public BeamSearchConfig {
        if (width < 1) {
            throw new IllegalArgumentException("beam width must be >= 1, got " + width);
        }
        if (!Float.isFinite(lengthPenalty)) {
            throw new IllegalArgumentException("length_penalty must be finite, got " + lengthPenalty);
        }
        if (earlyStopping < 0) {
            throw new IllegalArgumentException("early_stopping must be >= 0, got " + earlyStopping);
        }
    }

    /** Without a guide. */
    public BeamSearchConfig(int width, float lengthPenalty, int earlyStopping, @Nullable Predicate<int[]> stopsText,
                            boolean reportEachStep) {
        this(width, lengthPenalty, earlyStopping, stopsText, reportEachStep, null);
    }

    /** A hypothesis's score: its cumulative log-probability over its length to the power of the length penalty. */
    public double score(double cumulativeLogprob, int length) {
        return cumulativeLogprob / Math.pow(Math.max(1, length), lengthPenalty);
    }
}
