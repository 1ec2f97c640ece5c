package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.VectorLanes.F;
import static io.trtllm.runtime.cpu.VectorLanes.L;
import static io.trtllm.runtime.cpu.VectorLanes.LE;
import static io.trtllm.runtime.cpu.VectorLanes.high;
import static io.trtllm.runtime.cpu.VectorLanes.loadI4;
import static io.trtllm.runtime.cpu.VectorLanes.loadScales;
import static io.trtllm.runtime.cpu.VectorLanes.low;
import static io.trtllm.runtime.cpu.VectorLanes.store;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;

/**
 * The matmul of INT4 panels for many tokens at once: each panel's nibbles are converted to floats once
 * into a scratch panel, which the float32 eight-token microkernel then multiplies group by group,
 * instead of converting every weight vector again for every eight tokens. Row-count switching, as the
 * DESIGN says: a decode of a few rows keeps the converting kernel (it streams an eighth of float32's
 * bytes); from {@link #MIN_TOKENS} rows the eight-token INT4 kernel loses to this path (it keeps 16
 * totals beside its 16 sums, more than the 32 vector registers). INT8 does not come here: its converting
 * kernels keep up with float32 at every row count (one thread, scripts/bench-quantized-matmul.sh:
 * 0.99-1.15x F32 from 16 to 128 tokens, where converting each panel first gave 0.86-1.08x).
 *
 * <p>The bits are those of the converting kernel: the nibble to float conversion is exact, each lane
 * accumulates the same FMA chain in column order from zero per group, and each group's sum is folded
 * into the total with one FMA by the group's scale, in group order. So a token's outputs are the same
 * alone (converting kernel) and in a batch (this one).
 */
final class DequantizedPanels {
    /** Tokens from which an INT4 matmul converts each panel once: at 16 the conversions are amortized over two kernel calls. */
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
     * {@link Kernels#matmul} of INT4 {@code w} for tokens {@code [t0, t1)} and panels {@code [p0, p1)}: whole
     * groups of eight tokens over the converted panel, the rest through the converting one-token kernel.
     */
    static void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        if (w.format() != PackedMatrix.Format.INT4) {
            throw new IllegalArgumentException(w.name() + " is " + w.format() + "; only INT4 panels are converted once");
        }
        int cols = w.cols();
        int group = w.groupSize();
        int whole = t0 + (t1 - t0) / BATCH * BATCH;
        Scratch scratch = SCRATCH.get();
        MemorySegment panel = scratch.panel((long) cols * 2 * L * 4);
        float[] inputs = regroup(x, t0, whole, cols, group, scratch);
        for (int p = p0; p < p1; p++) {
            MemorySegment scales = w.scales(p);
            int o = outOffset + w.firstRow(p);
            int valid = w.validRows(p);
            convert(w.panel(p), cols, panel);
            for (int t = t0; t < whole; t += BATCH) {
                int4Batch(inputs, (t - t0) * cols, cols, group, panel, scales, scratch, out, t * outStride + o, outStride, valid);
            }
            if (whole < t1) {
                VectorPanels.multiply(x, whole, t1, cols, w.format(), group, w.panel(p), scales, out, o, outStride, valid);
            }
        }
    }

    /** INT4 panel {@code q} (two rows a byte) as float32 panel columns of {@code 2L} floats. */
    private static void convert(MemorySegment q, int cols, MemorySegment panel) {
        long to = 0;
        for (long b = 0, end = (long) cols * L; b < end; b += L, to += 8L * L) {
            IntVector bytes = loadI4(q, b);
            low(bytes).intoMemorySegment(panel, to, LE);
            high(bytes).intoMemorySegment(panel, to + 4L * L, LE);
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
