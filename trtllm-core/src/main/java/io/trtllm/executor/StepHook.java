package io.trtllm.executor;

/**
 * A seam for tests: the loop calls it before each step of one sequence's bookkeeping. A hook that
 * throws stands for a bug, or data the step cannot handle, in that one sequence; the loop must then
 * fail that request only and serve the others. Production executors use {@link #NONE}.
 */
@FunctionalInterface
interface StepHook {

    /** Where in an iteration the step happens. */
    enum Step {
        /** A waiting sequence is admitted: KV blocks are allocated for it ({@link Scheduler#schedule}). */
        ADMIT,
        /** A running sequence is scheduled for the pass: its blocks grow, or it is preempted ({@link Scheduler#schedule}). */
        SCHEDULE,
        /** After the pass: the sequence's new positions are committed to the KV cache ({@link Scheduler#computed}). */
        COMMIT
    }

    StepHook NONE = (step, requestId) -> { };

    void before(Step step, String requestId);
}
