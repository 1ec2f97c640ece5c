package io.trtllm.executor;

import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * One sequence's share of an iteration: compute positions {@code [start, start + length)}; sample
 * a token afterwards when {@code sample} (the chunk ends the sequence's known tokens). For a decoding beam
 * search, one chunk per live {@code beam} of the sequence's group, each with its own tokens and blocks.
 */
record ScheduledChunk(Sequence sequence, int start, int length, boolean sample, BeamGroup.@Nullable Beam beam) {

    ScheduledChunk(Sequence sequence, int start, int length, boolean sample) {
        this(sequence, start, length, sample, null);
    }

    /** The id the chunk's blocks are held under in the {@link KvCacheManager}. */
    long kvId() {
        return beam != null ? beam.kvId : sequence.id;
    }

    /** The chunk's tokens: positions {@code [start, start + length)} of its sequence or beam. */
    int[] tokens() {
        return beam != null ? Arrays.copyOfRange(beam.tokens, start, start + length) : sequence.tokens(start, start + length);
    }

    /**
     * Whether the request wants its prompt's log-probabilities or logits and this chunk computes prompt
     * positions.
     */
    boolean hasPromptLogprobRows() {
        return sequence.request.needsPromptRows() && start < sequence.promptLength;
    }
}
