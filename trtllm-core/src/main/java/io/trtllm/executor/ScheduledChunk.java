package io.trtllm.executor;

/**
 * One sequence's share of an iteration: compute positions {@code [start, start + length)}; sample
 * a token afterwards when {@code sample} (the chunk ends the sequence's known tokens).
 */
record ScheduledChunk(Sequence sequence, int start, int length, boolean sample) {

    /** Whether the request wants its prompt's log-probabilities and this chunk computes prompt positions. */
    boolean hasPromptLogprobRows() {
        return sequence.request.promptLogprobs() >= 0 && start < sequence.promptLength;
    }
}
