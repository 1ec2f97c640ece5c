package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.VectorLanes.F;
import static io.trtllm.runtime.cpu.VectorLanes.L;
import static io.trtllm.runtime.cpu.VectorLanes.LE;
import static io.trtllm.runtime.cpu.VectorLanes.high;
import static io.trtllm.runtime.cpu.VectorLanes.loadI4;
import static io.trtllm.runtime.cpu.VectorLanes.loadI8;
import static io.trtllm.runtime.cpu.VectorLanes.loadScales;
import static io.trtllm.runtime.cpu.VectorLanes.low;
import static io.trtllm.runtime.cpu.VectorLanes.store;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;

/**
 * The matmul of quantized panels (INT8, INT4) for many tokens at once: each panel's integers are
 * converted to floats once into a scratch panel, which the float32 eight-token microkernel then
 * multiplies, instead of converting every weight vector again for every eight tokens. Row-count
 * switching, as the DESIGN says: a decode of a few rows keeps the converting kernels (it streams a
 * quarter or an eighth of float32's bytes, and that is its bound); a prefill or a large batch is bound
 * by arithmetic, where the conversions in the inner loop cost as much as the FMAs they feed.
 *
 * <p>The bits are those of the converting kernels: the integer to float conversion is exact, each lane
 * accumulates the same FMA chain in column order from zero, INT8 multiplies the sum by the row's scale
 * once, and INT4 folds each group's sum into the total with one FMA by the group's scale, in group
 * order. So a token's outputs are the same alone (converting kernel) and in a batch (this one).
 */
final class DequantizedPanels {
    /** Tokens from which a matmul converts each panel once: at 16 the conversions are amortized over two kernel calls. */
    static final int MIN_TOKENS = 16;
    private static final int BATCH = 8;

    /** A thread's scratch: one panel of floats, the inputs regrouped per INT4 group, one group's sums and the totals. */
    private static final class Scratch {
        MemorySegment panel = MemorySegment.NULL;
        float[] inputs = new float[0];
        final float[] sums = new float[BATCH * 2 * L];
        final float[] totals = new float[BATCH * 2 * L];

        MemorySegment panel(long bytes) {
            if (panel.byteSize() < bytes) {
                panel = Arena.ofAuto().allocate(bytes, 64); // freed with the thread's scratch
            }
            return panel;
        }

        float[] inputs(int floats) {
            if (inputs.length < floats) {
                inputs = new float[floats];
            }
            return inputs;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private DequantizedPanels() {
    }

    /**
     * {@link Kernels#matmul} of quantized {@code w} for tokens {@code [t0, t1)} and panels {@code [p0, p1)}: whole
     * groups of eight tokens over the converted panel, the rest through the converting one-token kernel.
     */
    static void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        int cols = w.cols();
        int group = w.groupSize();
        boolean int4 = w.format() == PackedMatrix.Format.INT4;
        int whole = t0 + (t1 - t0) / BATCH * BATCH;
        Scratch scratch = SCRATCH.get();
        MemorySegment panel = scratch.panel((long) cols * 2 * L * 4);
        float[] inputs = int4 ? regroup(x, t0, whole, cols, group, scratch) : x;
        for (int p = p0; p < p1; p++) {
            MemorySegment scales = w.scales(p);
            int o = outOffset + w.firstRow(p);
            int valid = w.validRows(p);
            convert(w.panel(p), int4, cols, panel);
            for (int t = t0; t < whole; t += BATCH) {
                if (int4) {
                    int4Batch(inputs, (t - t0) * cols, cols, group, panel, scales, scratch, out, t * outStride + o, outStride, valid);
                } else {
                    VectorPanels.panel8(x, t * cols, cols, PackedMatrix.Format.F32, panel, out, t * outStride + o, outStride, valid);
                    scaleRows(out, t * outStride + o, outStride, scales, valid);
                }
            }
            if (whole < t1) {
                VectorPanels.multiply(x, whole, t1, cols, w.format(), group, w.panel(p), scales, out, outOffset + w.firstRow(p),
                        outStride, valid);
            }
        }
    }

    /** Panel {@code q} (INT8: a byte per row; INT4: two rows a byte) as float32 panel columns of {@code 2L} floats. */
    private static void convert(MemorySegment q, boolean int4, int cols, MemorySegment panel) {
        long to = 0;
        if (int4) {
            for (long b = 0, end = (long) cols * L; b < end; b += L, to += 8L * L) {
                IntVector bytes = loadI4(q, b);
                low(bytes).intoMemorySegment(panel, to, LE);
                high(bytes).intoMemorySegment(panel, to + 4L * L, LE);
            }
        } else {
            for (long b = 0, end = (long) cols * 2 * L; b < end; b += 2L * L, to += 8L * L) {
                loadI8(q, b).intoMemorySegment(panel, to, LE);
                loadI8(q, b + L).intoMemorySegment(panel, to + 4L * L, LE);
            }
        }
    }

    /** INT8: {@code out = sum · scale} for the first {@code valid} rows of eight tokens (the converting kernel's {@code a.mul(s)}). */
    private static void scaleRows(float[] out, int o, int stride, MemorySegment scales, int valid) {
        FloatVector s0 = loadScales(scales, 0);
        FloatVector s1 = loadScales(scales, 4L * L);
        for (int i = 0; i < BATCH; i++) {
            int at = o + i * stride;
            if (valid == 2 * L) {
                FloatVector.fromArray(F, out, at).mul(s0).intoArray(out, at);
                FloatVector.fromArray(F, out, at + L).mul(s1).intoArray(out, at + L);
            } else {
                FloatVector a0 = FloatVector.fromArray(F, out, at, F.indexInRange(0, valid));
                FloatVector a1 = FloatVector.fromArray(F, out, at + L, F.indexInRange(L, valid));
                store(a0.mul(s0), a1.mul(s1), out, at, valid);
            }
        }
    }

    /**
     * The inputs of tokens {@code [t0, t1)} (a multiple of eight) regrouped so that each INT4 group of eight tokens is
     * one run: {@code [octet][group][token][groupSize]}, so that the float32 kernel walks a group as a matrix of
     * {@code groupSize} columns.
     */
    private static float[] regroup(float[] x, int t0, int t1, int cols, int group, Scratch scratch) {
        float[] r = scratch.inputs((t1 - t0) * cols);
        int groups = cols / group;
        int at = 0;
        for (int t = t0; t < t1; t += BATCH) {
            for (int g = 0; g < groups; g++) {
                for (int i = 0; i < BATCH; i++, at += group) {
                    System.arraycopy(x, (t + i) * cols + g * group, r, at, group);
                }
            }
        }
        return r;
    }

    /** INT4, eight tokens: per group the float32 kernel's sums, folded into the totals by the group's scales. */
    private static void int4Batch(float[] inputs, int base, int cols, int group, MemorySegment panel, MemorySegment scales,
                                  Scratch scratch, float[] out, int o, int stride, int valid) {
        float[] sums = scratch.sums;
        float[] totals = scratch.totals;
        java.util.Arrays.fill(totals, 0f);
        long groupBytes = (long) group * 2 * L * 4;
        for (int g = 0, groups = cols / group; g < groups; g++) {
            VectorPanels.panel8(inputs, base + g * BATCH * group, group, PackedMatrix.Format.F32,
                    panel.asSlice(g * groupBytes, groupBytes), sums, 0, 2 * L, 2 * L);
            FloatVector s0 = loadScales(scales, g * 8L * L);
            FloatVector s1 = loadScales(scales, g * 8L * L + 4L * L);
            for (int i = 0, at = 0; i < BATCH; i++, at += 2 * L) {
                FloatVector.fromArray(F, sums, at).fma(s0, FloatVector.fromArray(F, totals, at)).intoArray(totals, at);
                FloatVector.fromArray(F, sums, at + L).fma(s1, FloatVector.fromArray(F, totals, at + L)).intoArray(totals, at + L);
            }
        }
        for (int i = 0, at = 0; i < BATCH; i++, at += 2 * L) {
            store(FloatVector.fromArray(F, totals, at), FloatVector.fromArray(F, totals, at + L), out, o + i * stride, valid);
        }
    }
}
