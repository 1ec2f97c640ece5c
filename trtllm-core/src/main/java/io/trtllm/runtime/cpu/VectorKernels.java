package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.VectorLanes.F;
import static io.trtllm.runtime.cpu.VectorLanes.L;
import static io.trtllm.runtime.cpu.VectorLanes.exp;

import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * SIMD kernels on the Vector API ({@code jdk.incubator.vector}). Only loaded when that module is
 * present (see {@link CpuKernels}); otherwise class loading would fail.
 *
 * <p>The matmul runs over {@link PackedMatrix} panels of two vectors of output rows: per input
 * column, one or two weight vectors are multiplied by a broadcast input value into accumulators
 * (eight tokens × two vectors in a batch, one token × two vectors alone). The weight load sits in
 * the innermost loop and is written out per format, so that the JIT inlines everything there and
 * keeps the vectors in registers: those microkernels are {@link VectorPanels}, generated at build
 * time from one template (trtllm-core/src/build/GenerateVectorPanels.java). Quantized panels (INT8,
 * INT4) are converted to float lanes as they are loaded and scaled after accumulation; from
 * {@link DequantizedPanels#MIN_TOKENS} tokens on, each INT4 panel is converted once and the float32 kernel
 * multiplies it ({@link DequantizedPanels}, the same bits); or, with int8 activations ({@link W4A8}, the
 * default engine's choice), every INT4 matmul runs {@link VectorW4A8}. Attention is
 * {@link VectorAttention} (float32 caches) and {@link VectorAttention16} (16-bit caches); the loads
 * and {@code exp} they share are {@link VectorLanes}.
 */
final class VectorKernels implements Kernels {
    /**
     * Property: {@code false} keeps the converting INT4 kernels for every row count (by default a matmul of
     * {@link DequantizedPanels#MIN_TOKENS} or more tokens converts each INT4 panel once; same bits).
     */
    static final String DEQUANTIZE_PROPERTY = "trtllm.cpu.dequantizePanels";
    private static final boolean DEQUANTIZE = !"false".equals(System.getProperty(DEQUANTIZE_PROPERTY));

    /** Whether INT4 matmuls of {@link W4A8#supports supported} shapes quantize the activations to int8 ({@link VectorW4A8}). */
    private final boolean int8Activations;

    /** Kernels with float32 activations for every format (weight-only quantization). */
    VectorKernels() {
        this(false);
    }

    /** @param int8Activations whether INT4 matmuls run as {@link W4A8} */
    VectorKernels(boolean int8Activations) {
        this.int8Activations = int8Activations;
    }

    @Override
    public String description() {
        return "Vector API, " + F.vectorBitSize() + "-bit";
    }

    /** Two vectors of output rows per panel: 16 accumulators for eight tokens fit the 32 registers. */
    @Override
    public int panelRows() {
        return 2 * L;
    }

    @Override
    public boolean supportsPanelRows(int panelRows) {
        return panelRows == 2 * L;
    }

    @Override
    public boolean quantizesActivations(PackedMatrix w) {
        return int8Activations && W4A8.supports(w);
    }

    @Override
    public void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        if (w.panelRows() != 2 * L) {
            throw new IllegalArgumentException(w.name() + " is packed in panels of " + w.panelRows() + " rows; these kernels need "
                    + 2 * L);
        }
        int cols = w.cols();
        PackedMatrix.Format format = w.format();
        if (quantizesActivations(w)) {
            VectorW4A8.matmul(x, t0, t1, w, p0, p1, out, outStride, outOffset);
            return;
        }
        if (format == PackedMatrix.Format.INT4 && t1 - t0 >= DequantizedPanels.MIN_TOKENS && DEQUANTIZE) {
            DequantizedPanels.matmul(x, t0, t1, w, p0, p1, out, outStride, outOffset);
            return;
        }
        int group = w.groupSize();
        for (int p = p0; p < p1; p++) {
            // Panel-outer: the panel (cols × 2 vectors) stays in L2 while every group of tokens reads it.
            VectorPanels.multiply(x, t0, t1, cols, format, group, w.panel(p), w.scales(p), out, outOffset + w.firstRow(p),
                    outStride, w.validRows(p));
        }
    }

    @Override
    public void siluMul(float[] in, int gateOff, int upOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i < n; i += L) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector g = FloatVector.fromArray(F, in, gateOff + i, m);
            FloatVector u = FloatVector.fromArray(F, in, upOff + i, m);
            FloatVector silu = g.div(exp(g.neg()).add(1f));
            silu.mul(u).intoArray(out, outOff + i, m);
        }
    }

    @Override
    public int argmax(float[] x, int off, int n) {
        int end = off + n;
        int i = off;
        FloatVector max = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (; i + L <= end; i += L) {
            max = max.max(FloatVector.fromArray(F, x, i));
        }
        float m = max.reduceLanes(VectorOperators.MAX);
        for (int j = i; j < end; j++) {
            m = Math.max(m, x[j]);
        }
        if (Float.isNaN(m) || Float.isNaN(x[off])) {
            return io.trtllm.runtime.ModelRunner.argmax(x, off, n); // NaN rules: the plain loop's
        }
        FloatVector mv = FloatVector.broadcast(F, m);
        for (i = off; i + L <= end; i += L) {
            VectorMask<Float> hit = FloatVector.fromArray(F, x, i).compare(VectorOperators.EQ, mv);
            if (hit.anyTrue()) {
                return i - off + hit.firstTrue();
            }
        }
        for (; i < end; i++) {
            if (x[i] == m) {
                return i - off;
            }
        }
        throw new IllegalStateException("argmax: maximum " + m + " not found again");
    }

    /** Block by block, all heads of the row at once: see {@link VectorAttention#attend}. */
    @Override
    public void attend(float[] q, int qOff, float[] keys, float[] values, int[] blocks, int blockSize, int kvDim, int h0,
                       int h1, int group, int headDim, int from, int to, float scale, float[] scores, float[] out, int outOff) {
        VectorAttention.attend(q, qOff, keys, values, blocks, blockSize, kvDim, h0, h1, group, headDim, from, to, scale, scores,
                out, outOff);
    }

    /**
     * As the float32 {@code attend}, over a 16-bit cache, with no widening pass where element pairs fit
     * the rows: see {@link VectorAttention16#attend}.
     */
    @Override
    public void attend(float[] q, int qOff, MemorySegment keys, MemorySegment values, DType kvType, int[] blocks, int blockSize,
                       int kvDim, int h0, int h1, int group, int headDim, int from, int to, float scale, float[] scores,
                       float[] tile, float[] out, int outOff) {
        VectorAttention16.attend(q, qOff, keys, values, kvType, blocks, blockSize, kvDim, h0, h1, group, headDim, from, to, scale,
                scores, tile, out, outOff);
    }

    /**
     * Four beams at a time ({@link Kernels#ROW_TILE}; other counts go row by row): each block that all four tables
     * share loaded once for the four (see {@link VectorAttention#attendShared}), the bits those of four {@code attend} calls.
     */
    @Override
    public void attendShared(float[] q, int qOff, int qStride, int rows, float[] keys, float[] values, int[][] tables,
                             int blockSize, int kvDim, int h0, int h1, int group, int headDim, int from, int to, float scale,
                             float[] scores, float[] out, int outOff, int outStride) {
        if (rows != ROW_TILE) {
            Kernels.super.attendShared(q, qOff, qStride, rows, keys, values, tables, blockSize, kvDim, h0, h1, group, headDim,
                    from, to, scale, scores, out, outOff, outStride);
            return;
        }
        VectorAttention.attendShared(q, qOff, qStride, keys, values, tables, blockSize, kvDim, h0, h1, group, headDim, from, to,
                scale, scores, out, outOff, outStride);
    }

    /**
     * Four rows at a time ({@link Kernels#ROW_TILE}; other counts go row by row): each key and value row
     * loaded once for all four, the bits those of four {@code attend} calls (see {@link VectorAttention#attendRows}).
     */
    @Override
    public void attendRows(float[] q, int qOff, int qStride, int rows, float[] keys, float[] values, int[] blocks,
                           int blockSize, int kvDim, int h0, int h1, int group, int headDim, int firstPos, int window,
                           float scale, float[] scores, float[] out, int outOff, int outStride) {
        if (rows != ROW_TILE) {
            Kernels.super.attendRows(q, qOff, qStride, rows, keys, values, blocks, blockSize, kvDim, h0, h1, group, headDim,
                    firstPos, window, scale, scores, out, outOff, outStride);
            return;
        }
        VectorAttention.attendRows(q, qOff, qStride, rows, keys, values, blocks, blockSize, kvDim, h0, h1, group, headDim,
                firstPos, window, scale, scores, out, outOff, outStride);
    }
}
