package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.VectorLanes.F;
import static io.trtllm.runtime.cpu.VectorLanes.L;
import static io.trtllm.runtime.cpu.VectorLanes.loadI4;
import static io.trtllm.runtime.cpu.VectorLanes.LE;
import static io.trtllm.runtime.cpu.W4A8.BLOCK;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link W4A8} on the Vector API: INT4 weights × int8 activations in 16-bit lanes.
 *
 * <p>Why 16-bit multiplies: the Vector API has no dot-product operation, and C2's auto-vectorizer (whose
 * {@code a[2i]·b[2i] + a[2i+1]·b[2i+1]} pattern becomes {@code vpmaddwd}/{@code vpdpwssd}) left the per-output
 * dot products of a matmul scalar here (1.6-3.6 G operations/s); but a {@code ShortVector} multiply and add
 * does as many products per instruction as there are 16-bit lanes: a whole panel ({@code 2L} rows) per token
 * and column, where float32 needs two FMAs. Measured on this Zen 4 machine (one thread, 4 tokens × 288
 * columns, no scaling): 122-137 G multiply-adds/s against 46-60 for float32 FMAs of the same shape
 * (docs/PERFORMANCE.md, "W4A8").
 *
 * <p>Each panel is widened once per call into a scratch panel of shorts: column {@code c}'s {@code 2L}
 * shorts interleave row {@code i} (lane {@code 2i}) and row {@code i + L} (lane {@code 2i + 1}), which is
 * how an INT4 byte holds them; so a block's 16-bit sums read as {@code L} ints split into rows
 * {@code 0 .. L-1} (low halves) and {@code L .. 2L-1} (high halves) with two shifts, no shuffles. Per token
 * and block of 32 columns the sums stay in 16 bits (exact: see {@link W4A8}), then are converted and folded
 * in with one FMA by the block's activation scale.
 *
 * <p>The kernels are written out per token count (four, one) with every vector a local, and shaped for C2,
 * which otherwise boxes vectors (allocating ~1 GB/s and running at a third of the speed, as measured while
 * writing them): group-outer loops, so that no vector is reassigned under a condition (a Phi of a zeroed and a
 * computed vector failed to unbox), the group scales copied into a float array per panel and the outputs
 * written whole into a scratch array (memory-segment loads and masked stores inline enough code that C2
 * stopped expanding the vector intrinsics), and no folding helper method (C2 declined to inline it).
 */
final class VectorW4A8 {
    /** Shorts with {@code 2L} lanes: one panel column. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize()));
    private static final int ROWS = 2 * L;
    private static final float ROUND = 0x1.8p23f; // v + ROUND - ROUND = rint(v) for |v| < 2^22

    /** A thread's scratch: the widened panel and the quantized activations with their block scales. */
    private static final class Scratch {
        short[] panel = new short[0];
        short[] q = new short[0];
        float[] d = new float[0];
        /** The panel's INT4 group scales, {@code [group][2L]}. */
        float[] scales = new float[0];
        /** Four tokens' outputs, {@code [token][2L]}, before the valid rows are copied out. */
        final float[] outputs = new float[4 * ROWS];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private VectorW4A8() {
    }

    /** {@link Kernels#matmul} of a {@link W4A8#supports supported} INT4 {@code w} with int8 activations. */
    static void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        if (!W4A8.supports(w) || w.panelRows() != ROWS) {
            throw new IllegalArgumentException(w.name() + " (" + w.format() + ", groups of " + w.groupSize() + ", panels of "
                    + w.panelRows() + ") is not an INT4 matrix of whole " + BLOCK + "-column groups in panels of " + ROWS);
        }
        int cols = w.cols();
        int tokens = t1 - t0;
        Scratch s = SCRATCH.get();
        if (s.q.length < tokens * cols) {
            s.q = new short[tokens * cols];
            s.d = new float[tokens * (cols / BLOCK)];
        }
        if (s.panel.length < cols * ROWS) {
            s.panel = new short[cols * ROWS];
            s.scales = new float[cols / w.groupSize() * ROWS];
        }
        short[] q = s.q;
        float[] d = s.d;
        short[] panel = s.panel;
        float[] scales = s.scales;
        float[] outputs = s.outputs;
        quantize(x, t0, t1, cols, q, d);
        int group = w.groupSize();
        int whole = tokens / 4 * 4;
        for (int p = p0; p < p1; p++) {
            widen(w.panel(p), cols, panel);
            MemorySegment.copy(w.scales(p), ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), 0, scales, 0, cols / group * ROWS);
            int o = outOffset + w.firstRow(p);
            int valid = w.validRows(p);
            for (int i = 0; i < tokens; ) {
                int n = i < whole ? 4 : 1;
                if (n == 4) {
                    tokens4(q, d, i, cols, group, panel, scales, outputs);
                } else {
                    token1(q, d, i, cols, group, panel, scales, outputs);
                }
                for (int k = 0; k < n; k++) {
                    System.arraycopy(outputs, k * ROWS, out, (t0 + i + k) * outStride + o, valid);
                }
                i += n;
            }
        }
    }

    /** {@link W4A8#quantize} with vectors (the same values: max and {@code rint} are exact). */
    static void quantize(float[] x, int t0, int t1, int cols, short[] q, float[] d) {
        int blocks = cols / BLOCK;
        for (int t = t0; t < t1; t++) {
            for (int b = 0; b < blocks; b++) {
                int from = t * cols + b * BLOCK;
                int to = (t - t0) * cols + b * BLOCK;
                FloatVector max = FloatVector.fromArray(F, x, from).abs();
                for (int k = L; k < BLOCK; k += L) {
                    max = max.max(FloatVector.fromArray(F, x, from + k).abs());
                }
                float amax = max.reduceLanes(VectorOperators.MAX);
                d[(t - t0) * blocks + b] = W4A8.blockScale(amax);
                if (!Float.isFinite(amax)) {
                    java.util.Arrays.fill(q, to, to + BLOCK, (short) 0);
                    continue;
                }
                float inv = W4A8.inverse(amax);
                for (int k = 0; k < BLOCK; k += L) {
                    FloatVector v = FloatVector.fromArray(F, x, from + k).mul(inv).add(ROUND).sub(ROUND);
                    IntVector i = (IntVector) v.convert(VectorOperators.F2I, 0);
                    ((ShortVector) i.max(-127).min(127).convertShape(VectorOperators.I2S, VectorLanes.S, 0)).intoArray(q, to + k);
                }
            }
        }
    }

    /** INT4 panel {@code w} as shorts, rows interleaved as the class comment says. */
    private static void widen(MemorySegment w, int cols, short[] panel) {
        for (int c = 0; c < cols; c++) {
            IntVector bytes = loadI4(w, (long) c * L);
            IntVector low = bytes.lanewise(LSHL, 28).lanewise(ASHR, 28).and(0xffff);
            IntVector high = bytes.lanewise(ASHR, 4).lanewise(LSHL, 16);
            low.or(high).reinterpretAsShorts().intoArray(panel, c * ROWS);
        }
    }

    /** Four tokens × one panel: tokens {@code i .. i + 3} of {@code q} (rows of {@code cols}), outputs at {@code out[o + k·stride]}. */
    private static void tokens4(short[] q, float[] d, int i, int cols, int group, short[] panel, float[] scales,
                                float[] out) {
        int blocks = cols / BLOCK;
        int perGroup = group / BLOCK;
        int groups = cols / group;
        int x0 = i * cols;
        int x1 = x0 + cols;
        int x2 = x1 + cols;
        int x3 = x2 + cols;
        int d0 = i * blocks;
        FloatVector z = FloatVector.zero(F);
        FloatVector g00 = z, g01 = z, g10 = z, g11 = z, g20 = z, g21 = z, g30 = z, g31 = z;
        ShortVector zero = ShortVector.zero(S);
        // Group-outer, so that no vector is reassigned under a condition: C2 then keeps every one unboxed.
        for (int g = 0, b = 0; g < groups; g++) {
            FloatVector f00 = z, f01 = z, f10 = z, f11 = z, f20 = z, f21 = z, f30 = z, f31 = z;
            for (int bEnd = b + perGroup; b < bEnd; b++) {
                ShortVector a0 = zero, a1 = zero, a2 = zero, a3 = zero;
                for (int c = b * BLOCK, end = c + BLOCK; c < end; c++) {
                    ShortVector wv = ShortVector.fromArray(S, panel, c * ROWS);
                    a0 = a0.add(wv.mul(ShortVector.broadcast(S, q[x0 + c])));
                    a1 = a1.add(wv.mul(ShortVector.broadcast(S, q[x1 + c])));
                    a2 = a2.add(wv.mul(ShortVector.broadcast(S, q[x2 + c])));
                    a3 = a3.add(wv.mul(ShortVector.broadcast(S, q[x3 + c])));
                }
                IntVector n0 = a0.reinterpretAsInts(), n1 = a1.reinterpretAsInts(), n2 = a2.reinterpretAsInts();
                IntVector n3 = a3.reinterpretAsInts();
                FloatVector s0 = FloatVector.broadcast(F, d[d0 + b]);
                FloatVector s1 = FloatVector.broadcast(F, d[d0 + blocks + b]);
                FloatVector s2 = FloatVector.broadcast(F, d[d0 + 2 * blocks + b]);
                FloatVector s3 = FloatVector.broadcast(F, d[d0 + 3 * blocks + b]);
                f00 = ((FloatVector) n0.lanewise(LSHL, 16).lanewise(ASHR, 16).convert(I2F, 0)).fma(s0, f00);
                f01 = ((FloatVector) n0.lanewise(ASHR, 16).convert(I2F, 0)).fma(s0, f01);
                f10 = ((FloatVector) n1.lanewise(LSHL, 16).lanewise(ASHR, 16).convert(I2F, 0)).fma(s1, f10);
                f11 = ((FloatVector) n1.lanewise(ASHR, 16).convert(I2F, 0)).fma(s1, f11);
                f20 = ((FloatVector) n2.lanewise(LSHL, 16).lanewise(ASHR, 16).convert(I2F, 0)).fma(s2, f20);
                f21 = ((FloatVector) n2.lanewise(ASHR, 16).convert(I2F, 0)).fma(s2, f21);
                f30 = ((FloatVector) n3.lanewise(LSHL, 16).lanewise(ASHR, 16).convert(I2F, 0)).fma(s3, f30);
                f31 = ((FloatVector) n3.lanewise(ASHR, 16).convert(I2F, 0)).fma(s3, f31);
            }
            FloatVector w0 = FloatVector.fromArray(F, scales, g * ROWS);
            FloatVector w1 = FloatVector.fromArray(F, scales, g * ROWS + L);
            g00 = f00.fma(w0, g00);
            g01 = f01.fma(w1, g01);
            g10 = f10.fma(w0, g10);
            g11 = f11.fma(w1, g11);
            g20 = f20.fma(w0, g20);
            g21 = f21.fma(w1, g21);
            g30 = f30.fma(w0, g30);
            g31 = f31.fma(w1, g31);
        }
        g00.intoArray(out, 0);
        g01.intoArray(out, L);
        g10.intoArray(out, ROWS);
        g11.intoArray(out, ROWS + L);
        g20.intoArray(out, 2 * ROWS);
        g21.intoArray(out, 2 * ROWS + L);
        g30.intoArray(out, 3 * ROWS);
        g31.intoArray(out, 3 * ROWS + L);
    }

    /** One token × one panel: {@link #tokens4}'s arithmetic for token {@code i} alone. */
    private static void token1(short[] q, float[] d, int i, int cols, int group, short[] panel, float[] scales,
                               float[] out) {
        int blocks = cols / BLOCK;
        int perGroup = group / BLOCK;
        int groups = cols / group;
        int x0 = i * cols;
        int d0 = i * blocks;
        FloatVector z = FloatVector.zero(F);
        FloatVector g0 = z, g1 = z;
        ShortVector zero = ShortVector.zero(S);
        for (int g = 0, b = 0; g < groups; g++) {
            FloatVector f0 = z, f1 = z;
            for (int bEnd = b + perGroup; b < bEnd; b++) {
                ShortVector a = zero;
                for (int c = b * BLOCK, end = c + BLOCK; c < end; c++) {
                    a = a.add(ShortVector.fromArray(S, panel, c * ROWS).mul(ShortVector.broadcast(S, q[x0 + c])));
                }
                IntVector n = a.reinterpretAsInts();
                FloatVector s = FloatVector.broadcast(F, d[d0 + b]);
                f0 = ((FloatVector) n.lanewise(LSHL, 16).lanewise(ASHR, 16).convert(I2F, 0)).fma(s, f0);
                f1 = ((FloatVector) n.lanewise(ASHR, 16).convert(I2F, 0)).fma(s, f1);
            }
            g0 = f0.fma(FloatVector.fromArray(F, scales, g * ROWS), g0);
            g1 = f1.fma(FloatVector.fromArray(F, scales, g * ROWS + L), g1);
        }
        g0.intoArray(out, 0);
        g1.intoArray(out, L);
    }
}
