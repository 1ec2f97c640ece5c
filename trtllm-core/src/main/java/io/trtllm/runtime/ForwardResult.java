package io.trtllm.runtime;

import java.util.Arrays;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What one forward pass sends back, per chunk of its {@link Batch} (same order): the token the runner chose
 * for an {@link SequenceChunk.LogitsMode#ARGMAX} or {@link SequenceChunk.LogitsMode#SAMPLE} chunk, and the
 * logits rows of a {@link SequenceChunk.LogitsMode#LAST} or {@link SequenceChunk.LogitsMode#ALL} one
 * ({@code rows × vocabSize} floats, row-major). A chunk may carry both, or neither
 * ({@link SequenceChunk.LogitsMode#NONE}).
 *
 * <p>The arrays belong to the result (one is built per pass); do not modify them. A runner may hand a chunk's
 * rows as a range of a larger array of the pass ({@link Builder#logits(int, float[], int, int)}): {@link #logits}
 * then copies the range out once, when first asked, and {@link #logitsArray} with {@link #logitsOffset} read it
 * in place; a caller done with the rows may {@link #release} them, for the runner to write again.
 */
public final class ForwardResult {
    /** {@link #tokenId} of a chunk that has no token: none was asked for, or no token could be drawn. */
    public static final int NO_TOKEN = -1;
    private static final float[] NO_LOGITS = new float[0];

    private final int[] tokenIds;
    /** Per chunk: its rows on their own, or null until {@link #logits} copies them out of {@link #arrays}. */
    private final float[][] logits;
    /** Per chunk: the array holding its rows, from {@link #offsets}, {@link #lengths} floats. */
    private final float[][] arrays;
    private final int[] offsets;
    private final int[] lengths;
    /** What {@link #release} hands the shared array back with, once; null when there is nothing to hand back. */
    private @Nullable Runnable release;

    private ForwardResult(int[] tokenIds, float[][] logits, float[][] arrays, int[] offsets, int[] lengths,
                          @Nullable Runnable release) {
        this.tokenIds = tokenIds;
        this.logits = logits;
        this.arrays = arrays;
        this.offsets = offsets;
        this.lengths = lengths;
        this.release = release;
    }

    /**
     * The caller is done with the rows read in place ({@link #logitsArray}): the runner may write that array in a
     * later pass (no new array per pass). Rows copied out by {@link #logits} before stay the caller's; after this,
     * read no rows of this result in place or for the first time. Optional: a result never released keeps its
     * array, which the garbage collector frees. Idempotent.
     */
    public void release() {
        Runnable r = release;
        release = null;
        if (r != null) {
            r.run();
        }
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
        float[] rows = logits[chunk];
        if (rows == null) {
            rows = Arrays.copyOfRange(arrays[chunk], offsets[chunk], offsets[chunk] + lengths[chunk]);
            logits[chunk] = rows;
        }
        return rows;
    }

    /**
     * The array that holds chunk {@code chunk}'s logits rows from {@link #logitsOffset}, without a copy: a range of
     * the pass's rows, or {@link #logits} itself. Read it only; it belongs to the result.
     */
    public float[] logitsArray(int chunk) {
        return logits[chunk] != null ? logits[chunk] : arrays[chunk];
    }

    /** Where chunk {@code chunk}'s logits rows start in {@link #logitsArray}. */
    public int logitsOffset(int chunk) {
        return logits[chunk] != null ? 0 : offsets[chunk];
    }

    /** Fills a result chunk by chunk; {@link #build} hands it out. */
    public static final class Builder {
        private final int[] tokenIds;
        private final float[][] logits;
        private final float[][] arrays;
        private final int[] offsets;
        private final int[] lengths;
        private @Nullable Runnable release;

        private Builder(int chunks) {
            tokenIds = new int[chunks];
            Arrays.fill(tokenIds, NO_TOKEN);
            logits = new float[chunks][];
            Arrays.fill(logits, NO_LOGITS);
            arrays = new float[chunks][];
            offsets = new int[chunks];
            lengths = new int[chunks];
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
            arrays[chunk] = null;
            return this;
        }

        /**
         * The logits rows of chunk {@code chunk} as {@code length} floats of {@code array} from {@code offset}: the
         * result keeps the array, which nothing may write afterwards (several chunks may share it).
         */
        public Builder logits(int chunk, float[] array, int offset, int length) {
            Objects.checkFromIndexSize(offset, length, array.length);
            logits[chunk] = null;
            arrays[chunk] = array;
            offsets[chunk] = offset;
            lengths[chunk] = length;
            return this;
        }

        /** What {@link ForwardResult#release} runs, once: the runner takes back the array of its ranges. */
        public Builder onRelease(Runnable action) {
            release = Objects.requireNonNull(action, "action");
            return this;
        }

        public ForwardResult build() {
            return new ForwardResult(tokenIds, logits, arrays, offsets, lengths, release);
        }
    }
}
