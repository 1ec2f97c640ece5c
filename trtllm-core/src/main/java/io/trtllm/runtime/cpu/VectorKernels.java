package io.trtllm.runtime.cpu;


import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.LSHL;

import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD kernels on the Vector API ({@code jdk.incubator.vector}). Only loaded when that module is
 * present (see {@link CpuKernels}); otherwise class loading would fail.
 *
 * <p>The matmul runs over {@link PackedMatrix} panels of two vectors of output rows: per input
 * column, one or two weight vectors are multiplied by a broadcast input value into accumulators
 * (eight tokens × two vectors in a batch, one token × two vectors alone). The weight load sits in
 * the innermost loop and is written out per format, so that the JIT inlines everything there and
 * keeps the vectors in registers. Quantized panels (INT8, INT4) are converted to float lanes as they
 * are loaded and scaled after accumulation (see the quantized microkernels).
 */
final class VectorKernels implements Kernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts with as many lanes as {@link #F}: one half-width weight vector per float vector. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int L = F.length();
    /** Bytes with (at least) as many lanes as {@link #F}: one vector of int8 weights, or two of int4. */
    private static final VectorSpecies<Byte> B =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** Whether {@link #B} has more lanes than a weight vector (128-bit floats): byte loads are then masked. */
    private static final boolean BYTES_MASKED = B.length() > L;
    private static final VectorMask<Byte> FIRST_L = B.indexInRange(0, L);
    /** Sum of the lanes (attention scores and softmax sums; the matmul sums no lanes). */
    private static float sum(FloatVector v) {
        return v.reduceLanes(ADD);
    }
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

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
    public void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        if (w.panelRows() != 2 * L) {
            throw new IllegalArgumentException(w.name() + " is packed in panels of " + w.panelRows() + " rows; these kernels need "
                    + 2 * L);
        }
        int cols = w.cols();
        PackedMatrix.Format format = w.format();
        int group = w.groupSize();
        for (int p = p0; p < p1; p++) {
            MemorySegment panel = w.panel(p);
            MemorySegment scales = w.scales(p);
            int j = w.firstRow(p);
            int valid = w.validRows(p);
            int t = t0;
            // Panel-outer: the panel (cols × 2 vectors) stays in L2 while every group of tokens reads it.
            switch (format) {
                case INT8 -> {
                    for (; t + 8 <= t1; t += 8) {
                        panel8Int8(x, t * cols, cols, panel, scales, out, t * outStride + outOffset + j, outStride, valid);
                    }
                    for (; t < t1; t++) {
                        panel1Int8(x, t * cols, cols, panel, scales, out, t * outStride + outOffset + j, valid);
                    }
                }
                case INT4 -> {
                    for (; t + 8 <= t1; t += 8) {
                        panel8Int4(x, t * cols, cols, group, panel, scales, out, t * outStride + outOffset + j, outStride,
                                valid);
                    }
                    for (; t < t1; t++) {
                        panel1Int4(x, t * cols, cols, group, panel, scales, out, t * outStride + outOffset + j, valid);
                    }
                }
                default -> {
                    for (; t + 8 <= t1; t += 8) {
                        panel8(x, t * cols, cols, format, panel, out, t * outStride + outOffset + j, outStride, valid);
                    }
                    for (; t < t1; t++) {
                        panel1(x, t * cols, cols, format, panel, out, t * outStride + outOffset + j, valid);
                    }
                }
            }
        }
    }

    // ---- weight loads: one float vector of weights starting at byte offset `b` ----

    private static FloatVector loadF32(MemorySegment seg, long b) {
        return FloatVector.fromMemorySegment(F, seg, b, LE);
    }

    private static FloatVector loadBF16(MemorySegment seg, long b) {
        ShortVector s = ShortVector.fromMemorySegment(S, seg, b, LE);
        IntVector i = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return i.lanewise(LSHL, 16).reinterpretAsFloats();
    }

    /** IEEE half to float, exact for normals, subnormals, infinities and NaNs. */
    private static FloatVector loadF16(MemorySegment seg, long b) {
        ShortVector s = ShortVector.fromMemorySegment(S, seg, b, LE);
        return halfToFloat((IntVector) s.convertShape(VectorOperators.S2I, I, 0));
    }

    /** IEEE half bits (sign-extended into int lanes) to floats, exact for every value. */
    private static FloatVector halfToFloat(IntVector i) {
        IntVector em = i.and(0x7fff);
        IntVector shifted = em.lanewise(LSHL, 13);
        IntVector scaled = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7c00);
        IntVector bits = scaled.blend(shifted.or(0x7f800000), special);
        return bits.or(i.and(0x8000).lanewise(LSHL, 16)).reinterpretAsFloats();
    }

    // The loops below walk a panel with a long byte offset into its slice: C2 then hoists the
    // segment's bounds and liveness checks out of the loop (with an int counter and a long base it
    // re-checks on every load and runs ~2x slower).

    /**
     * One token × one panel: {@code out[o + r] = Σ_k x[xOff + k] · W[k][r]}, each lane one FMA chain
     * in column order: exactly {@link #panel8}'s arithmetic, so a token's outputs have the same bits
     * alone and in a batch (in every JIT tier: FMA is exact, and no lanes are summed).
     */
    private static void panel1(float[] x, int xOff, int cols, PackedMatrix.Format format, MemorySegment panel, float[] out, int o,
                               int valid) {
        long step = format.columnBytes(2 * L);
        long half = step / 2;
        long end = cols * step;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int k = xOff;
        for (long b = 0; b < end; b += step, k++) {
            FloatVector w0, w1;
            switch (format) {
                case F32 -> {
                    w0 = loadF32(panel, b);
                    w1 = loadF32(panel, b + half);
                }
                case BF16 -> {
                    w0 = loadBF16(panel, b);
                    w1 = loadBF16(panel, b + half);
                }
                default -> {
                    w0 = loadF16(panel, b);
                    w1 = loadF16(panel, b + half);
                }
            }
            FloatVector v = FloatVector.broadcast(F, x[k]);
            a0 = w0.fma(v, a0);
            a1 = w1.fma(v, a1);
        }
        store(a0, a1, out, o, valid);
    }

    /** Eight tokens ({@code cols} floats apart) × one panel, each output as in {@link #panel1}. */
    private static void panel8(float[] x, int xOff, int cols, PackedMatrix.Format format, MemorySegment panel, float[] out, int o,
                               int stride, int valid) {
        long step = format.columnBytes(2 * L);
        long half = step / 2;
        long end = cols * step;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        int x0 = xOff, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int x4 = x3 + cols, x5 = x4 + cols, x6 = x5 + cols, x7 = x6 + cols;
        int k = 0;
        for (long b = 0; b < end; b += step, k++) {
            FloatVector w0, w1;
            switch (format) {
                case F32 -> {
                    w0 = loadF32(panel, b);
                    w1 = loadF32(panel, b + half);
                }
                case BF16 -> {
                    w0 = loadBF16(panel, b);
                    w1 = loadBF16(panel, b + half);
                }
                default -> {
                    w0 = loadF16(panel, b);
                    w1 = loadF16(panel, b + half);
                }
            }
            FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            v = FloatVector.broadcast(F, x[x1 + k]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            v = FloatVector.broadcast(F, x[x2 + k]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            v = FloatVector.broadcast(F, x[x3 + k]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
            v = FloatVector.broadcast(F, x[x4 + k]);
            a40 = w0.fma(v, a40);
            a41 = w1.fma(v, a41);
            v = FloatVector.broadcast(F, x[x5 + k]);
            a50 = w0.fma(v, a50);
            a51 = w1.fma(v, a51);
            v = FloatVector.broadcast(F, x[x6 + k]);
            a60 = w0.fma(v, a60);
            a61 = w1.fma(v, a61);
            v = FloatVector.broadcast(F, x[x7 + k]);
            a70 = w0.fma(v, a70);
            a71 = w1.fma(v, a71);
        }
        store(a00, a01, out, o, valid);
        store(a10, a11, out, o + stride, valid);
        store(a20, a21, out, o + 2 * stride, valid);
        store(a30, a31, out, o + 3 * stride, valid);
        store(a40, a41, out, o + 4 * stride, valid);
        store(a50, a51, out, o + 5 * stride, valid);
        store(a60, a61, out, o + 6 * stride, valid);
        store(a70, a71, out, o + 7 * stride, valid);
    }

    // ---- quantized panels ----
    //
    // INT8: each lane accumulates Σ_k q(r, k) · x[k] with FMAs in column order (the int8 → float
    // conversion is exact), and the row's scale multiplies the sum once at the end: as accurate as
    // dequantizing first, with no multiply per weight. INT4: the same per group of columns, each
    // group's sum folded into the total with one FMA by the group's scale; a 16-accumulator batch
    // kernel keeps its 16 totals beside them (spilled between groups, read once per group).
    // panel1 and panel8 do the same operations per lane, so a token's outputs have the same bits
    // alone and in a batch.

    private static FloatVector loadF32Scales(MemorySegment scales, long b) {
        return FloatVector.fromMemorySegment(F, scales, b, LE);
    }

    /** The bytes of one vector of rows ({@link #L} of them) at byte offset {@code b}. */
    private static ByteVector loadBytes(MemorySegment seg, long b) {
        return BYTES_MASKED ? ByteVector.fromMemorySegment(B, seg, b, LE, FIRST_L) : ByteVector.fromMemorySegment(B, seg, b, LE);
    }

    private static FloatVector loadI8(MemorySegment seg, long b) {
        return (FloatVector) loadBytes(seg, b).convertShape(VectorOperators.B2F, F, 0);
    }

    /** The packed int4 bytes of one column: each byte's low nibble is a row of the first vector, its high nibble of the second. */
    private static IntVector loadI4(MemorySegment seg, long b) {
        return (IntVector) loadBytes(seg, b).convertShape(VectorOperators.B2I, I, 0);
    }

    /** Low nibbles, sign-extended: rows 0 .. L-1 of the panel. */
    private static FloatVector low(IntVector bytes) {
        return (FloatVector) bytes.lanewise(LSHL, 28).lanewise(ASHR, 28).convert(VectorOperators.I2F, 0);
    }

    /** High nibbles of sign-extended bytes: rows L .. 2L-1 of the panel. */
    private static FloatVector high(IntVector bytes) {
        return (FloatVector) bytes.lanewise(ASHR, 4).convert(VectorOperators.I2F, 0);
    }

    /** One token × one INT8 panel: {@code out[o + r] = s(r) · Σ_k x[xOff + k] · q(r, k)}. */
    private static void panel1Int8(float[] x, int xOff, int cols, MemorySegment panel, MemorySegment scales, float[] out,
                                   int o, int valid) {
        long step = 2L * L;
        long end = cols * step;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int k = xOff;
        for (long b = 0; b < end; b += step, k++) {
            FloatVector w0 = loadI8(panel, b);
            FloatVector w1 = loadI8(panel, b + L);
            FloatVector v = FloatVector.broadcast(F, x[k]);
            a0 = w0.fma(v, a0);
            a1 = w1.fma(v, a1);
        }
        FloatVector s0 = loadF32Scales(scales, 0), s1 = loadF32Scales(scales, 4L * L);
        store(a0.mul(s0), a1.mul(s1), out, o, valid);
    }

    /** Eight tokens × one INT8 panel, each output as in {@link #panel1Int8}. */
    private static void panel8Int8(float[] x, int xOff, int cols, MemorySegment panel, MemorySegment scales, float[] out,
                                   int o, int stride, int valid) {
        long step = 2L * L;
        long end = cols * step;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        int x0 = xOff, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int x4 = x3 + cols, x5 = x4 + cols, x6 = x5 + cols, x7 = x6 + cols;
        int k = 0;
        for (long b = 0; b < end; b += step, k++) {
            FloatVector w0 = loadI8(panel, b);
            FloatVector w1 = loadI8(panel, b + L);
            FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            v = FloatVector.broadcast(F, x[x1 + k]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            v = FloatVector.broadcast(F, x[x2 + k]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            v = FloatVector.broadcast(F, x[x3 + k]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
            v = FloatVector.broadcast(F, x[x4 + k]);
            a40 = w0.fma(v, a40);
            a41 = w1.fma(v, a41);
            v = FloatVector.broadcast(F, x[x5 + k]);
            a50 = w0.fma(v, a50);
            a51 = w1.fma(v, a51);
            v = FloatVector.broadcast(F, x[x6 + k]);
            a60 = w0.fma(v, a60);
            a61 = w1.fma(v, a61);
            v = FloatVector.broadcast(F, x[x7 + k]);
            a70 = w0.fma(v, a70);
            a71 = w1.fma(v, a71);
        }
        FloatVector s0 = loadF32Scales(scales, 0), s1 = loadF32Scales(scales, 4L * L);
        store(a00.mul(s0), a01.mul(s1), out, o, valid);
        store(a10.mul(s0), a11.mul(s1), out, o + stride, valid);
        store(a20.mul(s0), a21.mul(s1), out, o + 2 * stride, valid);
        store(a30.mul(s0), a31.mul(s1), out, o + 3 * stride, valid);
        store(a40.mul(s0), a41.mul(s1), out, o + 4 * stride, valid);
        store(a50.mul(s0), a51.mul(s1), out, o + 5 * stride, valid);
        store(a60.mul(s0), a61.mul(s1), out, o + 6 * stride, valid);
        store(a70.mul(s0), a71.mul(s1), out, o + 7 * stride, valid);
    }

    /**
     * One token × one INT4 panel: {@code out[o + r] = Σ_g s(r, g) · Σ_{k in g} x[xOff + k] · q(r, k)}, the
     * groups' sums folded in with FMAs in group order.
     */
    private static void panel1Int4(float[] x, int xOff, int cols, int group, MemorySegment panel, MemorySegment scales,
                                   float[] out, int o, int valid) {
        long step = L; // bytes per column: two rows a byte
        long groupBytes = group * step;
        long end = cols * step;
        FloatVector t0 = FloatVector.zero(F), t1 = t0;
        int k = xOff;
        long s = 0;
        for (long g = 0; g < end; g += groupBytes, s += 8L * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            for (long b = g, gEnd = g + groupBytes; b < gEnd; b += step, k++) {
                IntVector q = loadI4(panel, b);
                FloatVector v = FloatVector.broadcast(F, x[k]);
                a0 = low(q).fma(v, a0);
                a1 = high(q).fma(v, a1);
            }
            t0 = a0.fma(loadF32Scales(scales, s), t0);
            t1 = a1.fma(loadF32Scales(scales, s + 4L * L), t1);
        }
        store(t0, t1, out, o, valid);
    }

    /** Eight tokens × one INT4 panel, each output as in {@link #panel1Int4}. */
    private static void panel8Int4(float[] x, int xOff, int cols, int group, MemorySegment panel, MemorySegment scales,
                                   float[] out, int o, int stride, int valid) {
        long step = L;
        long groupBytes = group * step;
        long end = cols * step;
        FloatVector t00 = FloatVector.zero(F), t01 = t00, t10 = t00, t11 = t00, t20 = t00, t21 = t00, t30 = t00, t31 = t00;
        FloatVector t40 = t00, t41 = t00, t50 = t00, t51 = t00, t60 = t00, t61 = t00, t70 = t00, t71 = t00;
        int x0 = xOff, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int x4 = x3 + cols, x5 = x4 + cols, x6 = x5 + cols, x7 = x6 + cols;
        int k = 0;
        long s = 0;
        for (long g = 0; g < end; g += groupBytes, s += 8L * L) {
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
            for (long b = g, gEnd = g + groupBytes; b < gEnd; b += step, k++) {
                IntVector q = loadI4(panel, b);
                FloatVector w0 = low(q);
                FloatVector w1 = high(q);
                FloatVector v = FloatVector.broadcast(F, x[x0 + k]);
                a00 = w0.fma(v, a00);
                a01 = w1.fma(v, a01);
                v = FloatVector.broadcast(F, x[x1 + k]);
                a10 = w0.fma(v, a10);
                a11 = w1.fma(v, a11);
                v = FloatVector.broadcast(F, x[x2 + k]);
                a20 = w0.fma(v, a20);
                a21 = w1.fma(v, a21);
                v = FloatVector.broadcast(F, x[x3 + k]);
                a30 = w0.fma(v, a30);
                a31 = w1.fma(v, a31);
                v = FloatVector.broadcast(F, x[x4 + k]);
                a40 = w0.fma(v, a40);
                a41 = w1.fma(v, a41);
                v = FloatVector.broadcast(F, x[x5 + k]);
                a50 = w0.fma(v, a50);
                a51 = w1.fma(v, a51);
                v = FloatVector.broadcast(F, x[x6 + k]);
                a60 = w0.fma(v, a60);
                a61 = w1.fma(v, a61);
                v = FloatVector.broadcast(F, x[x7 + k]);
                a70 = w0.fma(v, a70);
                a71 = w1.fma(v, a71);
            }
            FloatVector s0 = loadF32Scales(scales, s), s1 = loadF32Scales(scales, s + 4L * L);
            t00 = a00.fma(s0, t00);
            t01 = a01.fma(s1, t01);
            t10 = a10.fma(s0, t10);
            t11 = a11.fma(s1, t11);
            t20 = a20.fma(s0, t20);
            t21 = a21.fma(s1, t21);
            t30 = a30.fma(s0, t30);
            t31 = a31.fma(s1, t31);
            t40 = a40.fma(s0, t40);
            t41 = a41.fma(s1, t41);
            t50 = a50.fma(s0, t50);
            t51 = a51.fma(s1, t51);
            t60 = a60.fma(s0, t60);
            t61 = a61.fma(s1, t61);
            t70 = a70.fma(s0, t70);
            t71 = a71.fma(s1, t71);
        }
        store(t00, t01, out, o, valid);
        store(t10, t11, out, o + stride, valid);
        store(t20, t21, out, o + 2 * stride, valid);
        store(t30, t31, out, o + 3 * stride, valid);
        store(t40, t41, out, o + 4 * stride, valid);
        store(t50, t51, out, o + 5 * stride, valid);
        store(t60, t61, out, o + 6 * stride, valid);
        store(t70, t71, out, o + 7 * stride, valid);
    }

    /** Stores the first {@code valid} of a panel's two vectors of outputs at {@code out[o]}. */
    private static void store(FloatVector a0, FloatVector a1, float[] out, int o, int valid) {
        if (valid == 2 * L) {
            a0.intoArray(out, o);
            a1.intoArray(out, o + L);
        } else {
            a0.intoArray(out, o, F.indexInRange(0, valid));
            a1.intoArray(out, o + L, F.indexInRange(L, valid));
        }
    }

    // ---- attention helpers ----

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

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 × 2^23: adding it rounds a float below 2^22 in magnitude to an integer in the low mantissa bits. */
    private static final float ROUND = 12582912f;

    /**
     * {@code e^x} lane-wise, within 2 ulp for x in [-87.3, 88.7] (Cephes' {@code expf}: x = n·ln2 + r,
     * a degree-6 polynomial for e^r, times 2^n built in the exponent bits); below that range the result
     * is e^-87.3 ≈ 1e-38 instead of a subnormal. The incubator's {@code lanewise(EXP)} falls back to a
     * per-lane path on some CPUs and JDKs (the profile showed it at a fifth of a batched step).
     */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87.33654f).min(88.72283f);
        FloatVector shifted = x.fma(LOG2E, ROUND);
        FloatVector n = shifted.sub(ROUND);
        // n · LN2_HI is exact (9 + 8 significant bits), so r carries ln2's low part separately.
        FloatVector r = x.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, FloatVector.broadcast(F, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(F, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(F, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(F, 5.0000001201e-1f));
        p = p.fma(r.mul(r), r).add(1f);
        IntVector exponent = shifted.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND)).add(127).lanewise(LSHL, 23);
        return p.mul(exponent.reinterpretAsFloats());
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

    /**
     * Block by block, all heads of the row at once: a block's keys (and later its values) are one
     * contiguous run of {@code blockSize × kvDim} floats, read front to back once for every head, as
     * the hardware prefetcher likes (with tens of sequences the cache does not fit the CPU's caches,
     * and attention waits on memory). Scores of head h go to {@code scores[(h - h0)·stride + p]}.
     */
    @Override
    public void attend(float[] q, int qOff, float[] keys, float[] values, int[] blocks, int blockSize, int kvDim, int h0,
                       int h1, int group, int headDim, int from, int to, float scale, float[] scores, float[] out, int outOff) {
        int b0 = from / blockSize;
        int b1 = (to - 1) / blockSize;
        int stride = Kernels.scoresLength(to, blockSize);
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            for (int h = h0; h < h1; h++) {
                blockScores(q, qOff + (h - h0) * headDim, headDim, keys,
                        Kernels.keyIndex(blocks[b], 0, (h / group) * headDim, blockSize, kvDim), blockSize, i0, i1, scale,
                        scores, (h - h0) * stride + b * blockSize);
            }
        }
        float[] inv = softmaxAll(scores, h1 - h0, stride, from, to);
        java.util.Arrays.fill(out, outOff, outOff + (h1 - h0) * headDim, 0f);
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            for (int h = h0; h < h1; h++) {
                blockValues(values, Kernels.valueIndex(blocks[b], 0, h / group, 0, blockSize, kvDim, headDim), headDim, i0, i1,
                        scores, (h - h0) * stride + b * blockSize, out, outOff + (h - h0) * headDim, headDim);
            }
        }
        for (int h = h0; h < h1; h++) {
            scaleInPlace(out, outOff + (h - h0) * headDim, headDim, inv[h - h0]);
        }
    }

    /**
     * As the float32 {@link #attend}, over a 16-bit cache, with no widening pass: rows are loaded as
     * ints, each holding two elements whose halves become floats in registers (bfloat16: a shift and a
     * mask; float16: {@link #halfToFloat}), see {@link #blockScores16} and {@link #blockValues16}. An
     * odd block size or head dimension (pairs would straddle rows) widens each block into {@code tile}
     * instead and goes through the float loops.
     */
    @Override
    public void attend(float[] q, int qOff, MemorySegment keys, MemorySegment values, DType kvType, int[] blocks, int blockSize,
                       int kvDim, int h0, int h1, int group, int headDim, int from, int to, float scale, float[] scores,
                       float[] tile, float[] out, int outOff) {
        int b0 = from / blockSize;
        int b1 = (to - 1) / blockSize;
        int stride = Kernels.scoresLength(to, blockSize);
        int kv0 = h0 / group;
        int width = ((h1 - 1) / group + 1 - kv0) * headDim; // elements of the KV heads used, per slot
        boolean pairs = blockSize % 2 == 0 && headDim % 2 == 0;
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            if (!pairs) {
                widen(keys, kvType, Kernels.keyIndex(blocks[b], 0, kv0 * headDim, blockSize, kvDim), tile, 0,
                        width * blockSize);
            }
            for (int h = h0; h < h1; h++) {
                if (pairs) {
                    blockScores16(q, qOff + (h - h0) * headDim, headDim, keys, kvType,
                            Kernels.keyIndex(blocks[b], 0, (h / group) * headDim, blockSize, kvDim), blockSize, i0, i1, scale,
                            scores, (h - h0) * stride + b * blockSize);
                } else {
                    blockScores(q, qOff + (h - h0) * headDim, headDim, tile, (h / group - kv0) * headDim * blockSize,
                            blockSize, i0, i1, scale, scores, (h - h0) * stride + b * blockSize);
                }
            }
        }
        float[] inv = softmaxAll(scores, h1 - h0, stride, from, to);
        java.util.Arrays.fill(out, outOff, outOff + (h1 - h0) * headDim, 0f);
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            if (!pairs) {
                widen(values, kvType, Kernels.valueIndex(blocks[b], 0, kv0, 0, blockSize, kvDim, headDim), tile, 0,
                        width * blockSize);
            }
            for (int h = h0; h < h1; h++) {
                if (pairs) {
                    blockValues16(values, kvType, Kernels.valueIndex(blocks[b], 0, h / group, 0, blockSize, kvDim, headDim),
                            headDim, i0, i1, scores, (h - h0) * stride + b * blockSize, out, outOff + (h - h0) * headDim,
                            headDim);
                } else {
                    blockValues(tile, (h / group - kv0) * headDim * blockSize, headDim, i0, i1, scores,
                            (h - h0) * stride + b * blockSize, out, outOff + (h - h0) * headDim, headDim);
                }
            }
        }
        for (int h = h0; h < h1; h++) {
            scaleInPlace(out, outOff + (h - h0) * headDim, headDim, inv[h - h0]);
        }
    }

    /** Slots 0, 2, 4, ... of a pair vector's low halves and 1, 3, 5, ... of its high halves, back in order. */
    private static final VectorShuffle<Float> INTERLEAVE_LOW = interleave(0);
    private static final VectorShuffle<Float> INTERLEAVE_HIGH = interleave(L / 2);

    /** Lanes 2j and 2j + 1 from lane {@code first + j} of the first and of the second vector of a two-vector rearrange. */
    private static VectorShuffle<Float> interleave(int first) {
        int[] source = new int[L];
        for (int j = 0; j < L / 2; j++) {
            source[2 * j] = first + j;
            source[2 * j + 1] = first + j - L; // exceptional: lane first + j of the second vector
        }
        return VectorShuffle.fromValues(F, source);
    }

    /**
     * {@link #blockScores} over a 16-bit cache: the key row of each d is loaded as ints, each holding two
     * slots. Even slots accumulate in one vector, odd slots in another, interleaved back into slot
     * order once per {@code 2L} slots. The slots of a row are taken from the group of {@code 2L} that
     * contains {@code i0}; lanes past the row read slack and land in slack of {@code scores}.
     */
    private static void blockScores16(float[] q, int qh, int headDim, MemorySegment bits, DType type, int kb, int blockSize,
                                      int i0, int i1, float scale, float[] scores, int sOff) {
        boolean f16 = type == DType.F16;
        long rowBytes = 2L * blockSize;
        for (int g = i0 - i0 % (2 * L); g < i1; g += 2 * L) {
            FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0;
            long at = 2L * (kb + g);
            int d = 0;
            if (f16) { // one row per step: C2 keeps the conversion's vector ops intrinsic within its inlining budget
                for (; d < headDim; d++, at += rowBytes) {
                    IntVector x = IntVector.fromMemorySegment(I, bits, at, LE);
                    FloatVector qe = FloatVector.broadcast(F, q[qh + d]);
                    e0 = halfToFloat(x).fma(qe, e0);
                    o0 = halfToFloat(x.lanewise(VectorOperators.LSHR, 16)).fma(qe, o0);
                }
            }
            for (; d + 1 < headDim; d += 2, at += 2 * rowBytes) {
                IntVector x = IntVector.fromMemorySegment(I, bits, at, LE);
                IntVector y = IntVector.fromMemorySegment(I, bits, at + rowBytes, LE);
                FloatVector qe = FloatVector.broadcast(F, q[qh + d]);
                FloatVector qo = FloatVector.broadcast(F, q[qh + d + 1]);
                e0 = lowHalves(x, f16).fma(qe, e0);
                o0 = highHalves(x, f16).fma(qe, o0);
                e1 = lowHalves(y, f16).fma(qo, e1);
                o1 = highHalves(y, f16).fma(qo, o1);
            }
            if (d < headDim) {
                IntVector x = IntVector.fromMemorySegment(I, bits, at, LE);
                FloatVector qe = FloatVector.broadcast(F, q[qh + d]);
                e0 = lowHalves(x, f16).fma(qe, e0);
                o0 = highHalves(x, f16).fma(qe, o0);
            }
            FloatVector even = e0.add(e1).mul(scale);
            FloatVector odd = o0.add(o1).mul(scale);
            even.rearrange(INTERLEAVE_LOW, odd).intoArray(scores, sOff + g);
            even.rearrange(INTERLEAVE_HIGH, odd).intoArray(scores, sOff + g + L);
        }
    }

    /** The low 16 bits of each int as a float (bfloat16 or float16 bits). */
    private static FloatVector lowHalves(IntVector x, boolean f16) {
        return f16 ? halfToFloat(x) : x.lanewise(LSHL, 16).reinterpretAsFloats();
    }

    /** The high 16 bits of each int as a float (bfloat16 or float16 bits). */
    private static FloatVector highHalves(IntVector x, boolean f16) {
        return f16 ? halfToFloat(x.lanewise(VectorOperators.LSHR, 16)) : x.and(0xffff0000).reinterpretAsFloats();
    }

    /**
     * {@link #blockValues} over a 16-bit cache: each value row is loaded as ints of element pairs, even
     * elements accumulating in one vector and odd ones in another (for even and odd slots apart, four
     * chains), interleaved back into element order once per block and {@code 2L} elements. A last
     * chunk of fewer than {@code 2L} elements loads whole vectors (slack past the row, never stored).
     */
    private static void blockValues16(MemorySegment bits, DType type, int vb, int rowStride, int i0, int i1, float[] w,
                                      int wOff, float[] out, int o, int headDim) {
        boolean f16 = type == DType.F16;
        long rowBytes = 2L * rowStride;
        for (int d = 0; d < headDim; d += 2 * L) {
            FloatVector ea = FloatVector.zero(F), oa = ea, eb = ea, ob = ea;
            long at = 2L * (vb + (long) i0 * rowStride + d);
            int i = i0;
            if (f16) { // one slot per step, as in blockScores16
                for (; i < i1; i++, at += rowBytes) {
                    IntVector x = IntVector.fromMemorySegment(I, bits, at, LE);
                    FloatVector wa = FloatVector.broadcast(F, w[wOff + i]);
                    ea = halfToFloat(x).fma(wa, ea);
                    oa = halfToFloat(x.lanewise(VectorOperators.LSHR, 16)).fma(wa, oa);
                }
            }
            for (; i + 1 < i1; i += 2, at += 2 * rowBytes) {
                IntVector x = IntVector.fromMemorySegment(I, bits, at, LE);
                IntVector y = IntVector.fromMemorySegment(I, bits, at + rowBytes, LE);
                FloatVector wa = FloatVector.broadcast(F, w[wOff + i]);
                FloatVector wb = FloatVector.broadcast(F, w[wOff + i + 1]);
                ea = lowHalves(x, f16).fma(wa, ea);
                oa = highHalves(x, f16).fma(wa, oa);
                eb = lowHalves(y, f16).fma(wb, eb);
                ob = highHalves(y, f16).fma(wb, ob);
            }
            if (i < i1) {
                IntVector x = IntVector.fromMemorySegment(I, bits, at, LE);
                FloatVector wa = FloatVector.broadcast(F, w[wOff + i]);
                ea = lowHalves(x, f16).fma(wa, ea);
                oa = highHalves(x, f16).fma(wa, oa);
            }
            FloatVector even = ea.add(eb);
            FloatVector odd = oa.add(ob);
            addInto(even.rearrange(INTERLEAVE_LOW, odd), out, o + d, headDim - d);
            if (d + L < headDim) {
                addInto(even.rearrange(INTERLEAVE_HIGH, odd), out, o + d + L, headDim - d - L);
            }
        }
    }

    /** {@code out[o + j] += v[j]} for the first {@code min(n, L)} lanes. */
    private static void addInto(FloatVector v, float[] out, int o, int n) {
        if (n >= L) {
            v.add(FloatVector.fromArray(F, out, o)).intoArray(out, o);
        } else {
            VectorMask<Float> m = F.indexInRange(0, n);
            v.add(FloatVector.fromArray(F, out, o, m)).intoArray(out, o, m);
        }
    }

    /**
     * Four rows at a time ({@link Kernels#ROW_TILE}; other counts go row by row): the scores of all four
     * queries against each key row loaded once ({@link #blockScores4}), each row's softmax over its own
     * range, weights outside it set to zero, and the four weighted value sums from each value row loaded
     * once ({@link #blockValues4}). Every lane and accumulator does what {@link #attend} does for that
     * row, and zero weights add nothing: the bits are those of four {@code attend} calls.
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
        int heads = h1 - h0;
        int to = firstPos + rows;
        int from = window > 0 ? Math.max(0, firstPos - window + 1) : 0;
        int b0 = from / blockSize;
        int b1 = (to - 1) / blockSize;
        int stride = Kernels.scoresLength(to, blockSize);
        int rowScores = heads * stride; // scores of row r, head h: (r·heads + h - h0)·stride + position
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            for (int h = h0; h < h1; h++) {
                blockScores4(q, qOff + (h - h0) * headDim, qStride, headDim, keys,
                        Kernels.keyIndex(blocks[b], 0, (h / group) * headDim, blockSize, kvDim), blockSize, i0, i1, scale,
                        scores, (h - h0) * stride + b * blockSize, rowScores);
            }
        }
        float[] inv = new float[rows * heads];
        for (int r = 0; r < rows; r++) {
            int pos = firstPos + r;
            int rowFrom = window > 0 ? Math.max(0, pos - window + 1) : 0;
            for (int h = 0; h < heads; h++) {
                int base = (r * heads + h) * stride;
                inv[r * heads + h] = 1f / softmaxNumerators(scores, base + rowFrom, base + pos + 1);
                java.util.Arrays.fill(scores, base + from, base + rowFrom, 0f);
                java.util.Arrays.fill(scores, base + pos + 1, base + to, 0f);
            }
            java.util.Arrays.fill(out, outOff + r * outStride, outOff + r * outStride + heads * headDim, 0f);
        }
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            for (int h = h0; h < h1; h++) {
                blockValues4(values, Kernels.valueIndex(blocks[b], 0, h / group, 0, blockSize, kvDim, headDim), headDim, i0, i1,
                        scores, (h - h0) * stride + b * blockSize, rowScores, out, outOff + (h - h0) * headDim, outStride,
                        headDim);
            }
        }
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                scaleInPlace(out, outOff + r * outStride + h * headDim, headDim, inv[r * heads + h]);
            }
        }
    }

    /**
     * {@link #blockScores} for four queries ({@code qStride} apart; their scores {@code rowScores} apart):
     * per key row, the same even/odd-d chains for each query.
     */
    private static void blockScores4(float[] q, int qh, int qStride, int headDim, float[] k, int kb, int blockSize, int i0,
                                     int i1, float scale, float[] scores, int sOff, int rowScores) {
        int q0 = qh, q1 = qh + qStride, q2 = qh + 2 * qStride, q3 = qh + 3 * qStride;
        for (int i = i0; i < i1; i += 2 * L) {
            FloatVector z = FloatVector.zero(F);
            FloatVector e00 = z, e01 = z, o00 = z, o01 = z, e10 = z, e11 = z, o10 = z, o11 = z;
            FloatVector e20 = z, e21 = z, o20 = z, o21 = z, e30 = z, e31 = z, o30 = z, o31 = z;
            int row = kb + i;
            int d = 0;
            for (; d + 1 < headDim; d += 2, row += 2 * blockSize) {
                FloatVector ke0 = FloatVector.fromArray(F, k, row);
                FloatVector ke1 = FloatVector.fromArray(F, k, row + L);
                FloatVector ko0 = FloatVector.fromArray(F, k, row + blockSize);
                FloatVector ko1 = FloatVector.fromArray(F, k, row + blockSize + L);
                FloatVector qe = FloatVector.broadcast(F, q[q0 + d]);
                FloatVector qo = FloatVector.broadcast(F, q[q0 + d + 1]);
                e00 = ke0.fma(qe, e00);
                e01 = ke1.fma(qe, e01);
                o00 = ko0.fma(qo, o00);
                o01 = ko1.fma(qo, o01);
                qe = FloatVector.broadcast(F, q[q1 + d]);
                qo = FloatVector.broadcast(F, q[q1 + d + 1]);
                e10 = ke0.fma(qe, e10);
                e11 = ke1.fma(qe, e11);
                o10 = ko0.fma(qo, o10);
                o11 = ko1.fma(qo, o11);
                qe = FloatVector.broadcast(F, q[q2 + d]);
                qo = FloatVector.broadcast(F, q[q2 + d + 1]);
                e20 = ke0.fma(qe, e20);
                e21 = ke1.fma(qe, e21);
                o20 = ko0.fma(qo, o20);
                o21 = ko1.fma(qo, o21);
                qe = FloatVector.broadcast(F, q[q3 + d]);
                qo = FloatVector.broadcast(F, q[q3 + d + 1]);
                e30 = ke0.fma(qe, e30);
                e31 = ke1.fma(qe, e31);
                o30 = ko0.fma(qo, o30);
                o31 = ko1.fma(qo, o31);
            }
            if (d < headDim) {
                FloatVector ke0 = FloatVector.fromArray(F, k, row);
                FloatVector ke1 = FloatVector.fromArray(F, k, row + L);
                FloatVector qe = FloatVector.broadcast(F, q[q0 + d]);
                e00 = ke0.fma(qe, e00);
                e01 = ke1.fma(qe, e01);
                qe = FloatVector.broadcast(F, q[q1 + d]);
                e10 = ke0.fma(qe, e10);
                e11 = ke1.fma(qe, e11);
                qe = FloatVector.broadcast(F, q[q2 + d]);
                e20 = ke0.fma(qe, e20);
                e21 = ke1.fma(qe, e21);
                qe = FloatVector.broadcast(F, q[q3 + d]);
                e30 = ke0.fma(qe, e30);
                e31 = ke1.fma(qe, e31);
            }
            int at = sOff + i;
            e00.add(o00).mul(scale).intoArray(scores, at);
            e01.add(o01).mul(scale).intoArray(scores, at + L);
            e10.add(o10).mul(scale).intoArray(scores, at + rowScores);
            e11.add(o11).mul(scale).intoArray(scores, at + rowScores + L);
            e20.add(o20).mul(scale).intoArray(scores, at + 2 * rowScores);
            e21.add(o21).mul(scale).intoArray(scores, at + 2 * rowScores + L);
            e30.add(o30).mul(scale).intoArray(scores, at + 3 * rowScores);
            e31.add(o31).mul(scale).intoArray(scores, at + 3 * rowScores + L);
        }
    }

    /**
     * {@link #blockValues} for four rows of weights ({@code rowScores} apart) and outputs ({@code outStride}
     * apart): per value row, the same slot-parity (or slot mod 4) accumulators for each row.
     */
    private static void blockValues4(float[] v, int vb, int rowStride, int i0, int i1, float[] w, int wOff, int rowScores,
                                     float[] out, int o, int outStride, int headDim) {
        int w0 = wOff, w1 = wOff + rowScores, w2 = wOff + 2 * rowScores, w3 = wOff + 3 * rowScores;
        int o0 = o, o1 = o + outStride, o2 = o + 2 * outStride, o3 = o + 3 * outStride;
        int d = 0;
        for (; d + 2 * L <= headDim; d += 2 * L) {
            FloatVector z = FloatVector.zero(F);
            FloatVector a00 = FloatVector.fromArray(F, out, o0 + d), a01 = FloatVector.fromArray(F, out, o0 + d + L);
            FloatVector a10 = FloatVector.fromArray(F, out, o1 + d), a11 = FloatVector.fromArray(F, out, o1 + d + L);
            FloatVector a20 = FloatVector.fromArray(F, out, o2 + d), a21 = FloatVector.fromArray(F, out, o2 + d + L);
            FloatVector a30 = FloatVector.fromArray(F, out, o3 + d), a31 = FloatVector.fromArray(F, out, o3 + d + L);
            FloatVector b00 = z, b01 = z, b10 = z, b11 = z, b20 = z, b21 = z, b30 = z, b31 = z;
            for (int i = i0; i < i1; i++) {
                int row = vb + i * rowStride + d;
                FloatVector v0 = FloatVector.fromArray(F, v, row);
                FloatVector v1 = FloatVector.fromArray(F, v, row + L);
                FloatVector x0 = FloatVector.broadcast(F, w[w0 + i]);
                FloatVector x1 = FloatVector.broadcast(F, w[w1 + i]);
                FloatVector x2 = FloatVector.broadcast(F, w[w2 + i]);
                FloatVector x3 = FloatVector.broadcast(F, w[w3 + i]);
                if ((i & 1) == 0) {
                    a00 = v0.fma(x0, a00);
                    a01 = v1.fma(x0, a01);
                    a10 = v0.fma(x1, a10);
                    a11 = v1.fma(x1, a11);
                    a20 = v0.fma(x2, a20);
                    a21 = v1.fma(x2, a21);
                    a30 = v0.fma(x3, a30);
                    a31 = v1.fma(x3, a31);
                } else {
                    b00 = v0.fma(x0, b00);
                    b01 = v1.fma(x0, b01);
                    b10 = v0.fma(x1, b10);
                    b11 = v1.fma(x1, b11);
                    b20 = v0.fma(x2, b20);
                    b21 = v1.fma(x2, b21);
                    b30 = v0.fma(x3, b30);
                    b31 = v1.fma(x3, b31);
                }
            }
            a00.add(b00).intoArray(out, o0 + d);
            a01.add(b01).intoArray(out, o0 + d + L);
            a10.add(b10).intoArray(out, o1 + d);
            a11.add(b11).intoArray(out, o1 + d + L);
            a20.add(b20).intoArray(out, o2 + d);
            a21.add(b21).intoArray(out, o2 + d + L);
            a30.add(b30).intoArray(out, o3 + d);
            a31.add(b31).intoArray(out, o3 + d + L);
        }
        if (d < headDim) { // the last d chunk (fewer than 2L): each row as blockValues does it, row by row
            int rest = headDim - d;
            blockValuesTail(v, vb + d, rowStride, i0, i1, w, w0, out, o0 + d, rest);
            blockValuesTail(v, vb + d, rowStride, i0, i1, w, w1, out, o1 + d, rest);
            blockValuesTail(v, vb + d, rowStride, i0, i1, w, w2, out, o2 + d, rest);
            blockValuesTail(v, vb + d, rowStride, i0, i1, w, w3, out, o3 + d, rest);
        }
    }

    /** Softmax numerators of each head's scores (in place); returns 1 / their sum per head. */
    private static float[] softmaxAll(float[] scores, int heads, int stride, int from, int to) {
        float[] inv = new float[heads];
        for (int h = 0; h < heads; h++) {
            inv[h] = 1f / softmaxNumerators(scores, h * stride + from, h * stride + to);
        }
        return inv;
    }

    /** {@code tile[dst, dst + n) = cache[src, src + n)} (element indices) widened from {@code type} (BF16 or F16) to float. */
    private static void widen(MemorySegment cache, DType type, long src, float[] tile, int dst, int n) {
        for (int i = 0; i < n; i++) {
            tile[dst + i] = KvStore.get(cache, src + i, type);
        }
    }

    /**
     * {@code scores[sOff + i] = scale · Σ_d q[qh + d] · K[kb + d·blockSize + i]} for slots i in
     * {@code [i0, i1)} of one block whose keys are transposed ({@code headDim} rows of {@code blockSize}
     * slots): two vectors of slots at a time, broadcast query elements, even and odd d in separate
     * accumulators (four independent FMA chains); no sums across lanes. Whole vectors are computed and
     * stored: lanes past {@code i1} read slack or the next rows and land in slack of {@code scores}.
     */
    private static void blockScores(float[] q, int qh, int headDim, float[] k, int kb, int blockSize, int i0, int i1,
                                    float scale, float[] scores, int sOff) {
        for (int i = i0; i < i1; i += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0;
            int row = kb + i;
            int d = 0;
            for (; d + 1 < headDim; d += 2, row += 2 * blockSize) {
                FloatVector qe = FloatVector.broadcast(F, q[qh + d]);
                FloatVector qo = FloatVector.broadcast(F, q[qh + d + 1]);
                a0 = FloatVector.fromArray(F, k, row).fma(qe, a0);
                a1 = FloatVector.fromArray(F, k, row + L).fma(qe, a1);
                b0 = FloatVector.fromArray(F, k, row + blockSize).fma(qo, b0);
                b1 = FloatVector.fromArray(F, k, row + blockSize + L).fma(qo, b1);
            }
            if (d < headDim) {
                FloatVector qe = FloatVector.broadcast(F, q[qh + d]);
                a0 = FloatVector.fromArray(F, k, row).fma(qe, a0);
                a1 = FloatVector.fromArray(F, k, row + L).fma(qe, a1);
            }
            a0.add(b0).mul(scale).intoArray(scores, sOff + i);
            a1.add(b1).mul(scale).intoArray(scores, sOff + i + L);
        }
    }

    /**
     * {@code out[o + d] += Σ_i w[wOff + i] · V[vb + i·rowStride + d]} for slots i in {@code [i0, i1)} of one
     * block, {@code d < headDim}: slot-inner, the output vectors kept in registers (two vectors of d at a
     * time with even and odd slots in separate accumulators, or one vector with slot mod 4 in four), each
     * value row read once. A slot's accumulator depends on the slot alone, not on {@code i0}, so slots
     * of weight zero around a row's range add nothing and change no bits ({@link #attendRows} relies on
     * it). A head dimension that is no multiple of the vector ends with a masked store (the loads read
     * slack past the row).
     */
    private static void blockValues(float[] v, int vb, int rowStride, int i0, int i1, float[] w, int wOff, float[] out, int o,
                                    int headDim) {
        int d = 0;
        for (; d + 2 * L <= headDim; d += 2 * L) {
            FloatVector a0 = FloatVector.fromArray(F, out, o + d), a1 = FloatVector.fromArray(F, out, o + d + L);
            FloatVector b0 = FloatVector.zero(F), b1 = b0;
            int i = i0;
            if ((i & 1) != 0 && i < i1) { // an odd first slot: the odd accumulators
                FloatVector wo = FloatVector.broadcast(F, w[wOff + i]);
                int row = vb + i * rowStride + d;
                b0 = FloatVector.fromArray(F, v, row).fma(wo, b0);
                b1 = FloatVector.fromArray(F, v, row + L).fma(wo, b1);
                i++;
            }
            int row = vb + i * rowStride + d;
            for (; i + 1 < i1; i += 2, row += 2 * rowStride) {
                FloatVector we = FloatVector.broadcast(F, w[wOff + i]);
                FloatVector wo = FloatVector.broadcast(F, w[wOff + i + 1]);
                a0 = FloatVector.fromArray(F, v, row).fma(we, a0);
                a1 = FloatVector.fromArray(F, v, row + L).fma(we, a1);
                b0 = FloatVector.fromArray(F, v, row + rowStride).fma(wo, b0);
                b1 = FloatVector.fromArray(F, v, row + rowStride + L).fma(wo, b1);
            }
            if (i < i1) {
                FloatVector we = FloatVector.broadcast(F, w[wOff + i]);
                a0 = FloatVector.fromArray(F, v, row).fma(we, a0);
                a1 = FloatVector.fromArray(F, v, row + L).fma(we, a1);
            }
            a0.add(b0).intoArray(out, o + d);
            a1.add(b1).intoArray(out, o + d + L);
        }
        if (d < headDim) {
            blockValuesTail(v, vb + d, rowStride, i0, i1, w, wOff, out, o + d, headDim - d);
        }
    }

    /**
     * The last {@code n < 2L} elements of {@link #blockValues}: one vector at a time (masked at the end),
     * slot mod 4 choosing the accumulator.
     */
    private static void blockValuesTail(float[] v, int vb, int rowStride, int i0, int i1, float[] w, int wOff, float[] out,
                                        int o, int n) {
        for (int d = 0; d < n; d += L) {
            VectorMask<Float> part = d + L <= n ? null : F.indexInRange(d, n);
            FloatVector a0 = part == null ? FloatVector.fromArray(F, out, o + d) : FloatVector.fromArray(F, out, o + d, part);
            FloatVector a1 = FloatVector.zero(F), a2 = a1, a3 = a1;
            int i = i0;
            for (; (i & 3) != 0 && i < i1; i++) { // slots before the first multiple of 4: their own accumulators
                FloatVector x = FloatVector.fromArray(F, v, vb + i * rowStride + d);
                FloatVector wi = FloatVector.broadcast(F, w[wOff + i]);
                switch (i & 3) {
                    case 1 -> a1 = x.fma(wi, a1);
                    case 2 -> a2 = x.fma(wi, a2);
                    default -> a3 = x.fma(wi, a3);
                }
            }
            int row = vb + i * rowStride + d;
            for (; i + 3 < i1; i += 4, row += 4 * rowStride) {
                a0 = FloatVector.fromArray(F, v, row).fma(FloatVector.broadcast(F, w[wOff + i]), a0);
                a1 = FloatVector.fromArray(F, v, row + rowStride).fma(FloatVector.broadcast(F, w[wOff + i + 1]), a1);
                a2 = FloatVector.fromArray(F, v, row + 2 * rowStride).fma(FloatVector.broadcast(F, w[wOff + i + 2]), a2);
                a3 = FloatVector.fromArray(F, v, row + 3 * rowStride).fma(FloatVector.broadcast(F, w[wOff + i + 3]), a3);
            }
            for (; i < i1; i++, row += rowStride) {
                FloatVector wi = FloatVector.broadcast(F, w[wOff + i]);
                switch (i & 3) {
                    case 0 -> a0 = FloatVector.fromArray(F, v, row).fma(wi, a0);
                    case 1 -> a1 = FloatVector.fromArray(F, v, row).fma(wi, a1);
                    default -> a2 = FloatVector.fromArray(F, v, row).fma(wi, a2);
                }
            }
            FloatVector sum = a0.add(a1).add(a2.add(a3));
            if (part == null) {
                sum.intoArray(out, o + d);
            } else {
                sum.intoArray(out, o + d, part);
            }
        }
    }

    private static void scaleInPlace(float[] x, int off, int n, float factor) {
        for (int i = 0; i < n; i++) {
            x[off + i] *= factor;
        }
    }

    /**
     * {@code s[p] = exp(s[p] - max)} for p in {@code [from, to)}, max over the same range; returns their
     * sum. Whole vectors, then one masked vector for the rest (so exp has a single call site's code).
     */
    private static float softmaxNumerators(float[] s, int from, int to) {
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int p = from;
        for (; p + L <= to; p += L) {
            mv = mv.max(FloatVector.fromArray(F, s, p));
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (int i = p; i < to; i++) {
            max = Math.max(max, s[i]);
        }
        mv = FloatVector.broadcast(F, max);
        FloatVector total = FloatVector.zero(F);
        for (p = from; p < to; p += L) {
            VectorMask<Float> in = p + L <= to ? F.maskAll(true) : F.indexInRange(p, to);
            FloatVector e = exp(FloatVector.fromArray(F, s, p).sub(mv));
            e.intoArray(s, p, in);
            total = total.add(e, in);
        }
        return sum(total);
    }
}
