package io.trtllm.runtime;

import java.util.Arrays;

/**
 * What one forward pass sends back, per chunk of its {@link Batch} (same order): the token the runner chose
 * for an {@link SequenceChunk.LogitsMode#ARGMAX} or {@link SequenceChunk.LogitsMode#SAMPLE} chunk, and the
 * logits rows of a {@link SequenceChunk.LogitsMode#LAST} or {@link SequenceChunk.LogitsMode#ALL} one
 * ({@code rows × vocabSize} floats, row-major). A chunk may carry both, or neither
 * ({@link SequenceChunk.LogitsMode#NONE}).
 *
 * <p>The arrays belong to the result (no copies are made: one is built per pass); do not modify them.
 */
public final class ForwardResult {
    /** {@link #tokenId} of a chunk that has no token: none was asked for, or no token could be drawn. */
    public static final int NO_TOKEN = -1;
    private static final float[] NO_LOGITS = new float[0];

    private final int[] tokenIds;
    private final float[][] logits;

    private ForwardResult(int[] tokenIds, float[][] logits) {
        this.tokenIds = tokenIds;
        this.logits = logits;
    }

    /** A builder of the result of a pass of {@code chunks} chunks, each without a token or logits until set. */
    public static Builder builder(int chunks) {
        return new Builder(chunks);
    }

    /** Number of chunks. */
    public int size() {
        return tokenIds.length;
    }

    /**
     * The token the runner chose for chunk {@code chunk} (its argmax or its draw), or {@link #NO_TOKEN} when
     * it chose none: the chunk asked for none, or every probability of its row was zero (NaN or infinite logits).
     */
    public int tokenId(int chunk) {
        return tokenIds[chunk];
    }

    /** The logits rows of chunk {@code chunk}, {@code rows × vocabSize} floats; empty when it asked for none. */
    public float[] logits(int chunk) {
        return logits[chunk];
    }

    /** Fills a result chunk by chunk; {@link #build} hands it out. */
    public static final class Builder {
        private final int[] tokenIds;
        private final float[][] logits;

        private Builder(int chunks) {
            tokenIds = new int[chunks];
            Arrays.fill(tokenIds, NO_TOKEN);
            logits = new float[chunks][];
            Arrays.fill(logits, NO_LOGITS);
        }

        /** The token chosen for chunk {@code chunk}: {@code >= 0}, or {@link #NO_TOKEN} when none could be drawn. */
        public Builder tokenId(int chunk, int tokenId) {
            if (tokenId < NO_TOKEN) {
                throw new IllegalArgumentException("token id must be >= 0, or " + NO_TOKEN + " for none, got " + tokenId);
            }
            tokenIds[chunk] = tokenId;
            return this;
        }

        /** The logits rows of chunk {@code chunk} (the result keeps the array). */
        public Builder logits(int chunk, float[] rows) {
            logits[chunk] = rows;
            return this;
        }

        public ForwardResult build() {
            return new ForwardResult(tokenIds, logits);
        }
    }
}
