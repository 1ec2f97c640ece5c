package io.trtllm.runtime.cpu;

import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.LSHL;

import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD kernels on the Vector API ({@code jdk.incubator.vector}). Only loaded when that module is
 * present (see {@link CpuKernels}); otherwise class loading would fail.
 *
 * <p>The matmul runs over {@link PackedMatrix} panels of two vectors of output rows: per input
 * column, one or two weight vectors are multiplied by a broadcast input value into accumulators
 * (eight tokens × two vectors in a batch, one token × two vectors alone). The weight load sits in
 * the innermost loop and is written out per dtype, so that the JIT inlines everything there and
 * keeps the vectors in registers.
 */
final class VectorKernels implements Kernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts with as many lanes as {@link #F}: one half-width weight vector per float vector. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int L = F.length();
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
    public void matmul(float[] x, int tokens, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        int cols = w.cols();
        for (int p = p0; p < p1; p++) {
            MemorySegment panel = w.panel(p);
            int j = p * w.panelRows();
            int valid = Math.min(w.panelRows(), w.rows() - j);
            int t = 0;
            // Panel-outer: the panel (cols × 2 vectors) stays in L2 while every group of tokens reads it.
            for (; t + 8 <= tokens; t += 8) {
                panel8(x, t * cols, cols, w.dtype(), panel, out, t * outStride + outOffset + j, outStride, valid);
            }
            for (; t < tokens; t++) {
                panel1(x, t * cols, cols, w.dtype(), panel, out, t * outStride + outOffset + j, valid);
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
        IntVector i = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
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
    private static void panel1(float[] x, int xOff, int cols, DType dtype, MemorySegment panel, float[] out, int o,
                               int valid) {
        int size = dtype.byteSize();
        long step = 2L * L * size;
        long half = (long) L * size;
        long end = cols * step;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int k = xOff;
        for (long b = 0; b < end; b += step, k++) {
            FloatVector w0, w1;
            switch (dtype) {
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
    private static void panel8(float[] x, int xOff, int cols, DType dtype, MemorySegment panel, float[] out, int o,
                               int stride, int valid) {
        int size = dtype.byteSize();
        long step = 2L * L * size;
        long half = (long) L * size;
        long end = cols * step;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        int x0 = xOff, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int x4 = x3 + cols, x5 = x4 + cols, x6 = x5 + cols, x7 = x6 + cols;
        int k = 0;
        for (long b = 0; b < end; b += step, k++) {
            FloatVector w0, w1;
            switch (dtype) {
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
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += L) {
            acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
        }
        float sum = sum(acc);
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    @Override
    public float expSum(float[] s, int from, int to, float max) {
        FloatVector m = FloatVector.broadcast(F, max);
        FloatVector acc = FloatVector.zero(F);
        // One loop, masked at the tail: a single call site of exp, which C2 inlines (a second one,
        // for the tail, exceeded its node budget and ran boxed), and every element gets the same exp.
        for (int i = from; i < to; i += L) {
            VectorMask<Float> in = F.indexInRange(i, to);
            FloatVector e = exp(FloatVector.fromArray(F, s, i, in).sub(m));
            e.intoArray(s, i, in);
            acc = acc.add(e, in);
        }
        return sum(acc);
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
    public void attend(float[] q, int qOff, float[] keys, float[] values, int[] offsets, int h0, int h1, int group,
                       int headDim, int from, int to, float scale, float[] scores, float[] out, int outOff) {
        int heads = h1 - h0;
        // Scores, position-outer: each cached key row is read once, front to back, for all heads.
        for (int p = from; p < to; p++) {
            int row = offsets[p];
            for (int h = h0; h < h1; h++) {
                int k = row + (h / group) * headDim;
                int qh = qOff + (h - h0) * headDim;
                FloatVector acc = FloatVector.zero(F);
                int d = 0;
                for (; d + L <= headDim; d += L) {
                    acc = FloatVector.fromArray(F, q, qh + d).fma(FloatVector.fromArray(F, keys, k + d), acc);
                }
                float score = sum(acc);
                for (; d < headDim; d++) {
                    score += q[qh + d] * keys[k + d];
                }
                scores[(h - h0) * to + p] = score * scale;
            }
        }
        // Softmax numerators per head, then each weight scaled by 1/sum (the loop of expSum written out:
        // this method is then too large for C2 to inline into the runner's loop and is compiled on its
        // own with exp inlined; inlined there, the budget ran out before exp and the vectors took the
        // Vector API's slow path, a fifth of a batched step).
        for (int h = 0; h < heads; h++) {
            int sh = h * to;
            float max = Float.NEGATIVE_INFINITY;
            for (int p = from; p < to; p++) {
                max = Math.max(max, scores[sh + p]);
            }
            FloatVector mv = FloatVector.broadcast(F, max);
            FloatVector total = FloatVector.zero(F);
            for (int i = sh + from; i < sh + to; i += L) {
                VectorMask<Float> in = F.indexInRange(i, sh + to);
                FloatVector e = exp(FloatVector.fromArray(F, scores, i, in).sub(mv));
                e.intoArray(scores, i, in);
                total = total.add(e, in);
            }
            float inv = 1f / sum(total);
            for (int p = sh + from; p < sh + to; p++) {
                scores[p] *= inv;
            }
        }
        // Weighted sum of values, position-outer: each value row is read once, front to back (four
        // rows interleaved per pass, to load and store the outputs less often, measured slower). Every
        // output element sums in position order with FMAs.
        java.util.Arrays.fill(out, outOff, outOff + heads * headDim, 0f);
        int p = from;
        for (; p < to; p++) {
            int row = offsets[p];
            for (int h = h0; h < h1; h++) {
                int v = row + (h / group) * headDim;
                int o = outOff + (h - h0) * headDim;
                float ws = scores[(h - h0) * to + p];
                FloatVector w = FloatVector.broadcast(F, ws);
                int d = 0;
                for (; d + L <= headDim; d += L) {
                    FloatVector.fromArray(F, values, v + d).fma(w, FloatVector.fromArray(F, out, o + d)).intoArray(out, o + d);
                }
                for (; d < headDim; d++) {
                    out[o + d] += ws * values[v + d];
                }
            }
        }
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector av = FloatVector.broadcast(F, alpha);
        int bound = F.loopBound(n);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }
}
