package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;

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
     * for the rows {@code j} of panels {@code [p0, p1)} and tokens {@code t < tokens}. Quantized weights
     * are {@code q[j][k] · s[j][k / groupSize]}; each group's sum is scaled once.
     *
     * @param x         input rows, {@code tokens × w.cols()}, row-major
     * @param tokens    rows of {@code x}
     * @param w         packed weights {@code (outFeatures, inFeatures)}
     * @param p0        first panel
     * @param p1        end of the panels (exclusive)
     * @param out       output rows with {@code outStride} floats each
     * @param outStride floats per output row
     * @param outOffset column of output feature 0
     */
    void matmul(float[] x, int tokens, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset);

    /** {@code out[outOff + i] = silu(in[gateOff + i]) * in[upOff + i]} for {@code i < n}: the gated MLP's activation. */
    void siluMul(float[] in, int gateOff, int upOff, float[] out, int outOff, int n);

    /**
     * Attention of one row's query heads {@code [h0, h1)} over its sequence's cached positions {@code p}
     * in {@code [from, to)}: for each head h, {@code out[outOff + (h - h0)·headDim + d] =
     * Σ_p softmax_p(scale · q_h·K_p) · V_p[d]}. Query head h uses KV head {@code h / group}; its query
     * starts at {@code q[qOff + (h - h0)·headDim]}, and position p's keys (values) of KV head g at
     * {@code keys[offsets[p] + g·headDim]}. Positions are visited in order for all heads together, so
     * each cached row is read once, front to back. {@code scores} (at least
     * {@code (h1 - h0) · to}) is scratch.
     */
    void attend(float[] q, int qOff, float[] keys, float[] values, int[] offsets, int h0, int h1, int group, int headDim,
                int from, int to, float scale, float[] scores, float[] out, int outOff);

    /** Positions of a 16-bit cache widened at a time by {@link #attend(float[], int, short[], short[], DType, int[], int,
     * int, int, int, int, int, float, float[], float[], int[], float[], int) attend}. */
    int KV_TILE = 64;

    /**
     * {@link #attend(float[], int, float[], float[], int[], int, int, int, int, int, int, float, float[], float[], int) attend}
     * over a 16-bit cache whose elements are {@code kvType} (BF16 or F16) bits, see {@link KvStore}.
     * {@code tile} (at least {@link #KV_TILE} × the KV heads' width) and {@code tileOffsets} (at least
     * {@code to}) are scratch.
     */
    void attend(float[] q, int qOff, short[] keys, short[] values, DType kvType, int[] offsets, int h0, int h1, int group,
                int headDim, int from, int to, float scale, float[] scores, float[] tile, int[] tileOffsets, float[] out,
                int outOff);

    /** Human-readable name for logs ("Vector API, 512-bit" or "scalar"). */
    String description();
}
