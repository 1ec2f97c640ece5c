package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;

/**
 * The numerical inner loops of the CPU runner. {@link ScalarKernels} is the reference;
 * {@link VectorKernels} the SIMD fast path, checked against it by tests. All accumulate in F32.
 */
interface Kernels {

    /** Rows per panel of the {@link PackedMatrix} these kernels multiply best. */
    int panelRows();

    /** Whether {@link #matmul} takes matrices packed in panels of {@code panelRows} rows (an engine's layout). */
    boolean supportsPanelRows(int panelRows);

    /**
     * A slice of {@code x · wᵀ}: {@code out[t * outStride + outOffset + j] = Σ_k x[t * cols + k] · w[j][k]}
     * for the rows {@code j} of panels {@code [p0, p1)} and tokens {@code t0 <= t < t1}. Quantized weights
     * are {@code q[j][k] · s[j][k / groupSize]}; each group's sum is scaled once. A token's outputs have
     * the same bits whichever token range and panel range compute them.
     *
     * @param x         input rows, {@code w.cols()} floats each, row-major
     * @param t0        first token (row of {@code x})
     * @param t1        end of the tokens (exclusive)
     * @param w         packed weights {@code (outFeatures, inFeatures)}
     * @param p0        first panel
     * @param p1        end of the panels (exclusive)
     * @param out       output rows with {@code outStride} floats each
     * @param outStride floats per output row
     * @param outOffset column of output feature 0
     */
    void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset);

    /**
     * Whether {@link #matmul} quantizes the activations for {@code w} ({@link W4A8}): each call then pays for its
     * tokens once, so callers split such a matmul by tokens rather than into many single-panel calls.
     */
    default boolean quantizesActivations(PackedMatrix w) {
        return false;
    }

    /** {@link #matmul(float[], int, int, PackedMatrix, int, int, float[], int, int) matmul} of tokens {@code [0, tokens)}. */
    default void matmul(float[] x, int tokens, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        matmul(x, 0, tokens, w, p0, p1, out, outStride, outOffset);
    }

    /** {@code out[outOff + i] = silu(in[gateOff + i]) * in[upOff + i]} for {@code i < n}: the gated MLP's activation. */
    void siluMul(float[] in, int gateOff, int upOff, float[] out, int outOff, int n);

    /**
     * The index of the largest of {@code x[off, off + n)}, the first one on ties, as
     * {@link io.trtllm.runtime.ModelRunner#argmax}: NaNs are passed over, except a NaN first element,
     * which then wins.
     */
    int argmax(float[] x, int off, int n);

    // ---- the paged KV cache ----
    //
    // One layer's cache is two arrays of blocks of `blockSize` token slots, each block one contiguous run
    // of blockSize × kvDim elements, KV head by KV head. Keys are stored transposed inside a head,
    // [block][kvHead][headDim][slot], so that the scores of consecutive positions are one vector of lanes
    // (no sums across lanes); values by slot, [block][kvHead][slot][headDim], so that a position's value
    // row is added to the output vectors as it is. Attention thus reads each head of a block as one
    // sequential run. Both arrays carry CACHE_PAD elements after the last block: the kernels read whole
    // vectors past a block's last valid slot (those lanes are never used).

    /** Elements after a layer's last block that the attention kernels may read (and ignore). */
    int CACHE_PAD = 64;

    /** Index of element {@code c} (of {@code kvDim}: KV head {@code c / headDim}) of the key in slot {@code slot} of block {@code block}. */
    static int keyIndex(int block, int slot, int c, int blockSize, int kvDim) {
        return block * blockSize * kvDim + c * blockSize + slot;
    }

    /** Index of element {@code d} of KV head {@code kvHead}'s value in slot {@code slot} of block {@code block}. */
    static int valueIndex(int block, int slot, int kvHead, int d, int blockSize, int kvDim, int headDim) {
        return block * blockSize * kvDim + (kvHead * blockSize + slot) * headDim + d;
    }

    /** Floats of the {@code scores} scratch that {@link #attend} needs for {@code heads} heads and {@code to} positions. */
    static int scoresLength(int heads, int to, int blockSize) {
        return Math.multiplyExact(heads, scoresLength(to, blockSize));
    }

    /** Floats per head of the {@code scores} scratch for {@code to} positions. */
    static int scoresLength(int to, int blockSize) {
        return Math.addExact(Math.multiplyExact((to + blockSize - 1) / blockSize, blockSize), CACHE_PAD);
    }

    /** Floats of the {@code tile} scratch that the 16-bit {@link #attend} needs. */
    static int tileLength(int kvDim, int blockSize) {
        return Math.addExact(Math.multiplyExact(kvDim, blockSize), CACHE_PAD);
    }

    /**
     * Attention of one row's query heads {@code [h0, h1)} over its sequence's cached positions {@code p}
     * in {@code [from, to)}: for each head h, {@code out[outOff + (h - h0)·headDim + d] =
     * Σ_p softmax_p(scale · q_h·K_p) · V_p[d]}. Query head h uses KV head {@code h / group}; its query
     * starts at {@code q[qOff + (h - h0)·headDim]}. Position p lives in slot {@code p % blockSize} of
     * block {@code blocks[p / blockSize]}, laid out as {@link #keyIndex} and {@link #valueIndex} say.
     * {@code scores} (at least {@link #scoresLength(int, int, int) scoresLength(h1 - h0, to, blockSize)}) is scratch. A head's result depends only on its
     * query and the cached positions, never on which other heads or rows are computed with it.
     */
    void attend(float[] q, int qOff, float[] keys, float[] values, int[] blocks, int blockSize, int kvDim, int h0, int h1,
                int group, int headDim, int from, int to, float scale, float[] scores, float[] out, int outOff);

    /** Rows of a prompt chunk that {@link #attendRows} computes together at best (each loaded key or value row serves them all). */
    int ROW_TILE = 4;

    /**
     * {@link #attend(float[], int, float[], float[], int[], int, int, int, int, int, int, int, int, float, float[], float[], int)
     * attend} for {@code rows} consecutive positions of one sequence (rows of a prompt chunk): row r is at
     * position {@code firstPos + r}, its query at {@code q[qOff + r·qStride]} and its output at
     * {@code out[outOff + r·outStride]}; it attends {@code [from, firstPos + r + 1)} with {@code from = 0}, or,
     * for a sliding {@code window > 0}, {@code max(0, firstPos + r - window + 1)}. Each row gets the bits
     * {@code attend} gives it alone. {@code scores} holds at least
     * {@link #scoresLength(int, int, int) scoresLength(rows · (h1 - h0), firstPos + rows, blockSize)}.
     */
    default void attendRows(float[] q, int qOff, int qStride, int rows, float[] keys, float[] values, int[] blocks,
                            int blockSize, int kvDim, int h0, int h1, int group, int headDim, int firstPos, int window,
                            float scale, float[] scores, float[] out, int outOff, int outStride) {
        for (int r = 0; r < rows; r++) {
            int pos = firstPos + r;
            attend(q, qOff + r * qStride, keys, values, blocks, blockSize, kvDim, h0, h1, group, headDim,
                    window > 0 ? Math.max(0, pos - window + 1) : 0, pos + 1, scale, scores, out, outOff + r * outStride);
        }
    }

    /**
     * {@link #attend(float[], int, float[], float[], int[], int, int, int, int, int, int, int, int, float, float[], float[], int)
     * attend} for {@code rows} decode rows of different sequences at the same positions {@code [from, to)} (the beams of
     * a beam search): row r's query at {@code q[qOff + r·qStride]}, its blocks {@code tables[r]}, its output at
     * {@code out[outOff + r·outStride]}. Blocks that every row's table shares (the beams' common prefix, copy-on-write)
     * may be read once for all rows. Each row gets the bits {@code attend} gives it alone. {@code scores} holds at least
     * {@link #scoresLength(int, int, int) scoresLength(rows · (h1 - h0), to, blockSize)}. This default is the
     * reference: one {@code attend} per row.
     */
    default void attendShared(float[] q, int qOff, int qStride, int rows, float[] keys, float[] values, int[][] tables,
                              int blockSize, int kvDim, int h0, int h1, int group, int headDim, int from, int to, float scale,
                              float[] scores, float[] out, int outOff, int outStride) {
        for (int r = 0; r < rows; r++) {
            attend(q, qOff + r * qStride, keys, values, tables[r], blockSize, kvDim, h0, h1, group, headDim, from, to, scale,
                    scores, out, outOff + r * outStride);
        }
    }

    /**
     * {@link #attend(float[], int, float[], float[], int[], int, int, int, int, int, int, int, int, float, float[], float[], int)
     * attend} over a 16-bit cache whose elements are {@code kvType} (BF16 or F16) bits, little-endian
     * ({@link KvStore#ELEMENT}), at the same element indices. {@code tile} (at least {@link #tileLength})
     * is scratch for block sizes or head dimensions that are odd.
     */
    void attend(float[] q, int qOff, MemorySegment keys, MemorySegment values, DType kvType, int[] blocks, int blockSize, int kvDim,
                int h0, int h1, int group, int headDim, int from, int to, float scale, float[] scores, float[] tile,
                float[] out, int outOff);

    /** Human-readable name for logs ("Vector API, 512-bit" or "scalar"). */
    String description();
}
