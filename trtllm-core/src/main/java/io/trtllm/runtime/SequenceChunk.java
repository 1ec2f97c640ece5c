package io.trtllm.runtime;

import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.TokenSampling;
import java.lang.foreign.MemorySegment;
import org.jspecify.annotations.Nullable;

/**
 * One sequence's share of a forward pass: the tokens to compute now, where they start, and where
 * the sequence's keys and values live.
 *
 * @param tokenIds      the new tokens (a prompt chunk, or the last sampled token when decoding)
 * @param startPosition position of {@code tokenIds[0]}; positions before it are already in the KV cache
 * @param blockTable    KV-cache block ids of this sequence, in order; must cover
 *                      {@code startPosition + tokenIds.length} positions
 * @param logits        which rows need logits
 * @param sampling      how to draw the next token, for {@link LogitsMode#SAMPLE} (null for every other mode)
 * @param mask          for {@link LogitsMode#ARGMAX} and {@link LogitsMode#SAMPLE}: the tokens the argmax or the
 *                      draw may choose, as an immutable bitmask ({@link TokenBitmask}'s layout: token {@code id}
 *                      is allowed when bit {@code id & 63} of word {@code id >>> 6} is set), every other logit
 *                      counting as {@code -Infinity} (guided decoding); null when every token may be chosen. Held,
 *                      not copied: a guide's masks are shared, and a device runner skips uploading one it holds.
 */
public record SequenceChunk(int[] tokenIds, int startPosition, int[] blockTable, LogitsMode logits,
                            @Nullable TokenSampling sampling, @Nullable Bitmask mask) {

    /** Which rows of a chunk need logits. */
    public enum LogitsMode {
        /** None: a prefill chunk that does not end its prompt. */
        NONE,
        /** Only the last token's row: sampling the next token. */
        LAST,
        /** Every row: prompt log-probabilities and parity tests. */
        ALL,
        /**
         * Only the greedy choice of the last row: the runner returns its token id
         * ({@link ForwardResult#tokenId}), the index of the largest logit (the lowest on ties, as
         * {@code torch.argmax}; {@link ModelRunner#argmax}). Lets a device backend send back a token id
         * instead of a vocabulary row.
         */
        ARGMAX,
        /**
         * Only a token drawn from the last row as {@link SequenceChunk#sampling()} says (temperature,
         * top-k, top-p, min-p, the sequence's key and step; see {@link io.trtllm.sampling.TokenSampler}): the
         * runner returns its token id ({@link ForwardResult#tokenId}), or {@link ForwardResult#NO_TOKEN} when
         * no token has a non-zero probability. Lets a device backend send back a token id instead of a
         * vocabulary row for plainly sampled requests.
         */
        SAMPLE
    }

    /** A chunk of any mode but {@link LogitsMode#SAMPLE}, without a token mask. */
    public SequenceChunk(int[] tokenIds, int startPosition, int[] blockTable, LogitsMode logits) {
        this(tokenIds, startPosition, blockTable, logits, null, (Bitmask) null);
    }

    /** A chunk without a token mask. */
    public SequenceChunk(int[] tokenIds, int startPosition, int[] blockTable, LogitsMode logits,
                         @Nullable TokenSampling sampling) {
        this(tokenIds, startPosition, blockTable, logits, sampling, (Bitmask) null);
    }

    /** A chunk whose token mask is a copy of {@code tokenMask} (null: none). */
    public SequenceChunk(int[] tokenIds, int startPosition, int[] blockTable, LogitsMode logits,
                         @Nullable TokenSampling sampling, long @Nullable [] tokenMask) {
        this(tokenIds, startPosition, blockTable, logits, sampling, tokenMask == null ? null : Bitmask.copyOf(tokenMask));
    }

    public SequenceChunk {
        if (tokenIds.length == 0) {
            throw new IllegalArgumentException("a sequence chunk needs at least one token");
        }
        if (startPosition < 0) {
            throw new IllegalArgumentException("startPosition must be >= 0, got " + startPosition);
        }
        if ((logits == LogitsMode.SAMPLE) != (sampling != null)) {
            throw new IllegalArgumentException(logits == LogitsMode.SAMPLE
                    ? "a SAMPLE chunk needs its sampling parameters" : "sampling parameters belong to SAMPLE chunks only, not " + logits);
        }
        if (mask != null && logits != LogitsMode.ARGMAX && logits != LogitsMode.SAMPLE) {
            throw new IllegalArgumentException("a token mask belongs to ARGMAX and SAMPLE chunks only, not " + logits);
        }
        tokenIds = tokenIds.clone();
        blockTable = blockTable.clone();
    }

    /** A copy of the token mask's words, or null when there is none. */
    public long @Nullable [] tokenMask() {
        return mask != null ? mask.toArray() : null;
    }

    /** Whether the argmax or the draw of this chunk is restricted by {@link #mask()}. */
    public boolean masked() {
        return mask != null;
    }

    /** Whether the chunk's token mask allows token {@code id} (any id when there is none); copies nothing. */
    public boolean allows(int id) {
        return mask == null || mask.allows(id);
    }

    /**
     * Sets the logits of the tokens the mask bans to {@code -Infinity} in {@code logits[offset .. offset + vocab)}
     * ({@link TokenBitmask#apply}); without a mask, does nothing. Copies nothing (the per-step path of a guided row).
     */
    public void applyTokenMask(float[] logits, int offset, int vocab) {
        if (mask != null) {
            mask.apply(logits, offset, vocab);
        }
    }

    /**
     * Writes the mask's first {@code words} words to {@code target} from byte {@code offset} (native order),
     * zeros past the mask's end, in one bulk copy: how a device runner stages the masks for upload.
     *
     * @throws IllegalStateException when the chunk has no mask
     */
    public void copyTokenMask(MemorySegment target, long offset, int words) {
        if (mask == null) {
            throw new IllegalStateException("the chunk has no token mask");
        }
        mask.copyTo(target, offset, words);
    }

    /** Position after the last token of this chunk. */
    public int endPosition() {
        return startPosition + tokenIds.length;
    }

    /** Index of this chunk's first row that needs logits (meaningful when {@link #logitsRows()} > 0). */
    public int firstLogitsRow() {
        return logits == LogitsMode.ALL ? 0 : tokenIds.length - 1;
    }

    /**
     * Number of logits rows this chunk computes (for {@link LogitsMode#ARGMAX} and {@link LogitsMode#SAMPLE}
     * the one row reduced to a token id).
     */
    public int logitsRows() {
        return switch (logits) {
            case NONE -> 0;
            case LAST, ARGMAX, SAMPLE -> 1;
            case ALL -> tokenIds.length;
        };
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    @Override
    public int[] blockTable() {
        return blockTable.clone();
    }

    /** Token {@code i} without copying the array. */
    public int tokenId(int i) {
        return tokenIds[i];
    }

    /** Number of new tokens. */
    public int length() {
        return tokenIds.length;
    }

    /** Block {@code i} of the table without copying. */
    public int block(int i) {
        return blockTable[i];
    }

    /** Number of blocks in the table. */
    public int blockCount() {
        return blockTable.length;
    }
}
