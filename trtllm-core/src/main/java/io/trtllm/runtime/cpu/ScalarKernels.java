package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;

/** Plain-Java reference kernels; used when the Vector API module is not enabled. */
final class ScalarKernels implements Kernels {

    /** Whether INT4 matmuls of {@link W4A8#supports supported} shapes run as {@link W4A8} (its reference arithmetic). */
    private final boolean int8Activations;

    /** Kernels with float32 activations for every format (weight-only quantization). */
    ScalarKernels() {
        this(false);
    }

    /** @param int8Activations whether INT4 matmuls run as {@link W4A8} */
    ScalarKernels(boolean int8Activations) {
        this.int8Activations = int8Activations;
    }

    @Override
    public int panelRows() {
        return 16;
    }

    /** Any even panel height: the scalar kernels read elements through {@link PackedMatrix}'s accessors. */
    @Override
    public boolean supportsPanelRows(int panelRows) {
        return panelRows > 0 && panelRows % 2 == 0;
    }

    @Override
    public boolean quantizesActivations(PackedMatrix w) {
        return int8Activations && W4A8.supports(w);
    }

    @Override
    public void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        if (quantizesActivations(w)) {
            W4A8.matmul(x, t0, t1, w, p0, p1, out, outStride, outOffset);
            return;
        }
        int cols = w.cols();
        boolean quantized = w.format().quantized();
        float[] row = new float[cols];
        for (int p = p0; p < p1; p++) {
            for (int j = w.firstRow(p), end = j + w.validRows(p); j < end; j++) {
                for (int c = 0; c < cols; c++) {
                    row[c] = quantized ? w.quantized(j, c) : w.get(j, c);
                }
                for (int t = t0; t < t1; t++) {
                    out[t * outStride + outOffset + j] = quantized
                            ? quantizedDot(x, t * cols, row, w, j)
                            : dot(x, t * cols, row, 0, cols);
                }
            }
        }
    }

    /**
     * {@code Σ_g s(j, g) · Σ_{k in g} x[k] · q(j, k)} with the vector kernels' arithmetic: FMAs in column
     * order per group, each group's sum folded in with an FMA by its scale (INT8: one group, so the sum
     * times the row's scale). The two kernels give the same bits for quantized weights.
     */
    private static float quantizedDot(float[] x, int xOff, float[] q, PackedMatrix w, int j) {
        int group = w.groupSize();
        if (w.format() == PackedMatrix.Format.INT8) {
            float acc = 0f;
            for (int k = 0; k < q.length; k++) {
                acc = Math.fma(q[k], x[xOff + k], acc);
            }
            return acc * w.scale(j, 0);
        }
        float total = 0f;
        for (int g = 0; g * group < q.length; g++) {
            float acc = 0f;
            for (int k = g * group; k < (g + 1) * group; k++) {
                acc = Math.fma(q[k], x[xOff + k], acc);
            }
            total = Math.fma(acc, w.scale(j, g), total);
        }
        return total;
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** {@code s[i] = exp(s[i] - max)} for {@code i} in {@code [from, to)}; returns their sum. */
    private static float expSum(float[] s, int from, int to, float max) {
        float sum = 0f;
        for (int i = from; i < to; i++) {
            float e = (float) Math.exp(s[i] - max);
            s[i] = e;
            sum += e;
        }
        return sum;
    }

    @Override
    public void siluMul(float[] in, int gateOff, int upOff, float[] out, int outOff, int n) {
        for (int i = 0; i < n; i++) {
            float g = in[gateOff + i];
            out[outOff + i] = (float) (g / (1.0 + Math.exp(-g))) * in[upOff + i];
        }
    }

    @Override
    public int argmax(float[] x, int off, int n) {
        return io.trtllm.runtime.ModelRunner.argmax(x, off, n);
    }

    @Override
    public void attend(float[] q, int qOff, float[] keys, float[] values, int[] blocks, int blockSize, int kvDim, int h0,
                       int h1, int group, int headDim, int from, int to, float scale, float[] scores, float[] out, int outOff) {
        for (int h = h0; h < h1; h++) {
            int c0 = (h / group) * headDim;
            int qh = qOff + (h - h0) * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int p = from; p < to; p++) {
                int block = blocks[p / blockSize];
                int slot = p % blockSize;
                float score = 0f;
                for (int d = 0; d < headDim; d++) {
                    score += q[qh + d] * keys[Kernels.keyIndex(block, slot, c0 + d, blockSize, kvDim)];
                }
                scores[p] = score * scale;
                max = Math.max(max, scores[p]);
            }
            float inv = 1f / expSum(scores, from, to, max);
            int oh = outOff + (h - h0) * headDim;
            java.util.Arrays.fill(out, oh, oh + headDim, 0f);
            for (int p = from; p < to; p++) {
                float w = scores[p] * inv;
                int row = Kernels.valueIndex(blocks[p / blockSize], p % blockSize, h / group, 0, blockSize, kvDim, headDim);
                for (int d = 0; d < headDim; d++) {
                    out[oh + d] += w * values[row + d];
                }
            }
        }
    }

    @Override
    public void attend(float[] q, int qOff, MemorySegment keys, MemorySegment values, DType kvType, int[] blocks, int blockSize,
                       int kvDim, int h0, int h1, int group, int headDim, int from, int to, float scale, float[] scores, float[] tile,
                       float[] out, int outOff) {
        for (int h = h0; h < h1; h++) {
            int c0 = (h / group) * headDim;
            int qh = qOff + (h - h0) * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int p = from; p < to; p++) {
                int block = blocks[p / blockSize];
                int slot = p % blockSize;
                float score = 0f;
                for (int d = 0; d < headDim; d++) {
                    score += q[qh + d] * KvStore.get(keys, Kernels.keyIndex(block, slot, c0 + d, blockSize, kvDim), kvType);
                }
                scores[p] = score * scale;
                max = Math.max(max, scores[p]);
            }
            float inv = 1f / expSum(scores, from, to, max);
            int oh = outOff + (h - h0) * headDim;
            java.util.Arrays.fill(out, oh, oh + headDim, 0f);
            for (int p = from; p < to; p++) {
                float w = scores[p] * inv;
                int row = Kernels.valueIndex(blocks[p / blockSize], p % blockSize, h / group, 0, blockSize, kvDim, headDim);
                for (int d = 0; d < headDim; d++) {
                    out[oh + d] += w * KvStore.get(values, row + d, kvType);
                }
            }
        }
    }

    @Override
    public String description() {
        return "scalar";
    }
}
