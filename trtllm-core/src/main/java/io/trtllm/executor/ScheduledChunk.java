package io.trtllm.executor;

/**
 * One sequence's share of an iteration: compute positions {@code [start, start + length)}; sample
 * a token afterwards when {@code sample} (the chunk ends the sequence's known tokens).
 */
record ScheduledChunk(Sequence sequence, int start, int length, boolean sample) {
}
