package io.trtllm.runtime.cuda;

import io.trtllm.runtime.SequenceChunk;
import java.util.Arrays;
import java.util.List;

/**
 * Which attention kernel of kernels.cu takes which rows of a pass, decided on the host from the chunks
 * alone: chunks of at least {@link #TILE_MIN_ROWS} rows (prefill, chunked prefill) go to
 * {@code attention_tc} in tiles of up to {@link #TILE_ROWS} consecutive rows of one sequence; the
 * other rows (decode) to {@code attention_decode}, which splits a row's context into
 * {@link #splits(int, int)} parts of {@link #chunk(int, int)} positions (flash-decoding) when it is longer than
 * the pass's {@code splitKeys}; {@code attention_reduce} merges the parts. Padding rows of a captured decode
 * pass are decode rows of length 1.
 *
 * <p>{@code splitKeys} is {@link #SPLIT_KEYS}, or, where the runner asks for it, {@link #SMALL_SPLIT_KEYS} in
 * passes of at most {@link #SMALL_PASS_ROWS} decode rows: a single decode row of a few hundred positions otherwise runs as one block
 * per KV head (8 on Llama-3.1-8B) on a GPU of 132 SMs, 19 µs a layer on the H100, a quarter of an INT4 step.
 * Every other choice depends on a row's own chunk and position, never on the rest of the batch, so a row
 * computes the same alone or in any pass of up to {@link #SMALL_PASS_ROWS} decode rows (as the GEMV does), and
 * the same in any two passes of more (kernels.cu says why the kernels keep that).
 *
 * @param tiles      {sequence, first row, rows, first position} per tile, 4 ints each
 * @param decodeRows the rows of {@code attention_decode}, in order
 * @param splitCap   the decode launch's split dimension: the largest row's splits rounded up to a power of
 *                   two (so that captured graphs come in few sizes), 1 without decode rows
 * @param splitKeys  positions per split the kernels aim at ({@link #SPLIT_KEYS} or {@link #SMALL_SPLIT_KEYS})
 */
record AttentionPlan(int[] tiles, int[] decodeRows, int splitCap, int splitKeys) {
    /** Query rows per tile of {@code attention_tc} (kernels.cu's TC_M). */
    static final int TILE_ROWS = 64;
    /** Query rows per tile of {@code attention_fa} (kernels.cu's FA_M with its default FA_WARPS of 8). */
    static final int FA_TILE_ROWS = 128;
    /** Threads per block of {@code attention_fa} with {@link #FA_TILE_ROWS} (32 per 16 rows). */
    static final int FA_THREADS = 256;
    /** Chunks of fewer rows run as decode rows. */
    static final int TILE_MIN_ROWS = 2;
    /** Context positions per split below which a decode row is not split (kernels.cu's SPLIT_KEYS). */
    static final int SPLIT_KEYS = 256;
    /** The same in passes of at most {@link #SMALL_PASS_ROWS} decode rows: one decode kernel step (32 positions). */
    static final int SMALL_SPLIT_KEYS = 32;
    /** Decode rows (padding included) of a pass that splits from {@link #SMALL_SPLIT_KEYS}: the GEMV's limit. */
    static final int SMALL_PASS_ROWS = Gemv.MAX_ROWS;
    /** Most splits of one decode row (kernels.cu's MAX_SPLITS). */
    static final int MAX_SPLITS = 16;
    /** Positions one block of {@code attention_decode} takes per step (ATT_WARPS * POS_PER_WARP). */
    static final int DECODE_STEP = 32;

    AttentionPlan {
        if (tiles.length % 4 != 0) {
            throw new IllegalArgumentException("tiles hold 4 ints each, got " + tiles.length);
        }
        if (splitCap < 1 || splitCap > MAX_SPLITS || Integer.bitCount(splitCap) != 1) {
            throw new IllegalArgumentException("splitCap must be a power of two in [1, " + MAX_SPLITS + "], got " + splitCap);
        }
        if (splitKeys != SPLIT_KEYS && splitKeys != SMALL_SPLIT_KEYS) {
            throw new IllegalArgumentException("splitKeys must be " + SPLIT_KEYS + " or " + SMALL_SPLIT_KEYS + ", got " + splitKeys);
        }
    }

    /** A plan whose decode rows split from {@link #SPLIT_KEYS} positions. */
    AttentionPlan(int[] tiles, int[] decodeRows, int splitCap) {
        this(tiles, decodeRows, splitCap, SPLIT_KEYS);
    }

    /**
     * Query heads that one block of {@code attention_decode_gqa} takes (kernels.cu's GQA_HEADS): 4, 2 or 1,
     * the largest that divides the GQA group ({@code heads / kvHeads}).
     */
    static int decodeHeadsPerBlock(int group) {
        return group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1;
    }

    /** Whether kernels.cu compiles {@code attention_tc} for heads of {@code headDim}: a multiple of 16, at most 128. */
    static boolean tensorCores(int headDim) {
        return headDim > 0 && headDim % 16 == 0 && headDim <= 128;
    }

    /** {@link #splits(int, int)} from {@link #SPLIT_KEYS}. */
    static int splits(int len) {
        return splits(len, SPLIT_KEYS);
    }

    /**
     * Splits of a decode row that attends to {@code len} positions (kernels.cu's decode_splits): about
     * {@code len / splitKeys}, at most {@link #MAX_SPLITS}, none of them empty.
     */
    static int splits(int len, int splitKeys) {
        int c = chunk(len, splitKeys);
        return (len + c - 1) / c;
    }

    /** {@link #chunk(int, int)} from {@link #SPLIT_KEYS}. */
    static int chunk(int len) {
        return chunk(len, SPLIT_KEYS);
    }

    /**
     * Positions per split (the last split may have fewer): {@code len} over
     * {@code min(MAX_SPLITS, ceil(len / splitKeys))} splits, rounded up to whole steps of the decode
     * kernel (kernels.cu's decode_chunk).
     */
    static int chunk(int len, int splitKeys) {
        if (len < 1) {
            throw new IllegalArgumentException("a decode row attends to at least 1 position, got " + len);
        }
        int wanted = Math.min(MAX_SPLITS, (len + splitKeys - 1) / splitKeys);
        int c = (len + wanted - 1) / wanted;
        return (c + DECODE_STEP - 1) / DECODE_STEP * DECODE_STEP;
    }

    /** Positions a row at {@code position} attends to: all before it and itself, or the last {@code window}. */
    static int rangeLength(int position, int window) {
        return window > 0 ? Math.min(position + 1, window) : position + 1;
    }

    /**
     * The plan of a pass over {@code chunks} (rows numbered chunk after chunk), with rows beyond them up to
     * {@code padded} as padding (decode rows at position 0); {@code tiles} false sends every row to
     * {@code attention_decode}. {@code window}: the model's sliding window, 0 for none. Decode rows split from
     * {@link #SPLIT_KEYS} positions.
     */
    static AttentionPlan of(List<SequenceChunk> chunks, int padded, boolean tiles, int window) {
        return of(chunks, padded, tiles, window, false);
    }

    /**
     * {@link #of(List, int, boolean, int)}, and with {@code smallSplits} passes of at most {@link #SMALL_PASS_ROWS}
     * decode rows split them from {@link #SMALL_SPLIT_KEYS} positions (the runner's
     * {@code -Dtrtllm.cuda.attention.smallSplits=true}, opt-in until a GPU run has measured it).
     */
    static AttentionPlan of(List<SequenceChunk> chunks, int padded, boolean tiles, int window, boolean smallSplits) {
        return of(chunks, padded, tiles, window, smallSplits, TILE_ROWS);
    }

    /**
     * {@link #of(List, int, boolean, int, boolean)} in tiles of up to {@code tileRows} rows: {@link #TILE_ROWS} for
     * {@code attention_tc}, {@link #FA_TILE_ROWS} (or 64, kernels.cu's FA_WARPS=4) for {@code attention_fa}.
     */
    static AttentionPlan of(List<SequenceChunk> chunks, int padded, boolean tiles, int window, boolean smallSplits,
                            int tileRows) {
        if (tileRows != TILE_ROWS && tileRows != FA_TILE_ROWS) {
            throw new IllegalArgumentException("tileRows must be " + TILE_ROWS + " or " + FA_TILE_ROWS + ", got " + tileRows);
        }
        int rows = 0;
        int tileCount = 0;
        for (SequenceChunk c : chunks) {
            rows += c.length();
            if (tiles && c.length() >= TILE_MIN_ROWS) {
                tileCount += (c.length() + tileRows - 1) / tileRows;
            }
        }
        int padding = Math.max(0, padded - chunks.size());
        int decodeCount = padding;
        for (SequenceChunk c : chunks) {
            decodeCount += tiles && c.length() >= TILE_MIN_ROWS ? 0 : c.length();
        }
        int keys = smallSplits && decodeCount <= SMALL_PASS_ROWS ? SMALL_SPLIT_KEYS : SPLIT_KEYS;
        int[] tileTable = new int[4 * tileCount];
        int[] decode = new int[rows + padding];
        int nDecode = 0;
        int t = 0;
        int row = 0;
        int maxSplits = 1;
        for (int s = 0; s < chunks.size(); s++) {
            SequenceChunk c = chunks.get(s);
            if (tiles && c.length() >= TILE_MIN_ROWS) {
                for (int first = 0; first < c.length(); first += tileRows) {
                    tileTable[t++] = s;
                    tileTable[t++] = row + first;
                    tileTable[t++] = Math.min(tileRows, c.length() - first);
                    tileTable[t++] = c.startPosition() + first;
                }
            } else {
                for (int i = 0; i < c.length(); i++) {
                    decode[nDecode++] = row + i;
                    maxSplits = Math.max(maxSplits, splits(rangeLength(c.startPosition() + i, window), keys));
                }
            }
            row += c.length();
        }
        for (int p = 0; p < padding; p++) {
            decode[nDecode++] = row + p;
        }
        int cap = Integer.highestOneBit(maxSplits) == maxSplits ? maxSplits : Integer.highestOneBit(maxSplits) << 1;
        return new AttentionPlan(tileTable, Arrays.copyOf(decode, nDecode), cap, keys);
    }

    /** Tiles of {@code attention_tc}. */
    int tileCount() {
        return tiles.length / 4;
    }

    /**
     * Blocks of {@code attention_fa} over {@code tileCount} tiles of {@code heads} query heads: one grid dimension
     * (the head fastest, kernels.cu says why), whose size CUDA takes up to 2³¹ − 1.
     */
    static int faBlocks(int tileCount, int heads) {
        if (tileCount < 0 || heads < 1) {
            throw new IllegalArgumentException("attention_fa over " + tileCount + " tiles of " + heads + " heads");
        }
        try {
            return Math.multiplyExact(tileCount, heads);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("attention_fa over " + tileCount + " tiles of " + heads
                    + " heads exceeds a grid dimension (2^31 - 1 blocks)", e);
        }
    }
}
