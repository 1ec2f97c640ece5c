package io.trtllm.executor;

import org.jspecify.annotations.Nullable;

/**
 * Where one beam of a guided beam search stands in its guide (a grammar, a JSON Schema): which tokens it may
 * take next, and where each allowed token takes it. Immutable: {@link #after} returns a new place, so the
 * beams forked from one parent never disturb each other, and a restarted search starts from the same first one.
 */
public interface BeamGuide {

    /** Bans, in {@code row[offset, offset + vocab)}, every token the beam may not take next ({@code -Infinity}). */
    void mask(float[] row, int offset, int vocab);

    /** The place after {@code token}, or null when the guide does not allow it here. */
    @Nullable BeamGuide after(int token);

    /** Whether the guide has ended (an end token accepted where the output is complete): the beam is finished. */
    boolean terminated();
}
