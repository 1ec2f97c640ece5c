package io.trtllm.runtime.cpu;

import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.LSHL;

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
 * <p>The matmul is written once per weight dtype on purpose: the weight load sits in the innermost
 * loop, and the JIT only keeps vectors in registers when every call there is inlined and
 * monomorphic. Two blockings cover the two shapes of work: decode ({@code tokens == 1}) computes
 * four output rows per pass over {@code x}; prefill computes four tokens per pass over a weight
 * row, so each weight byte is read once per four tokens.
 */
final class VectorKernels implements Kernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts with as many lanes as {@link #F}: one half-width weight vector per float vector. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final int L = F.length();
    /**
     * Sum of the lanes. C2 compiles every {@code reduceLanes(ADD)} of this species to the same
     * instruction sequence, so {@link #dot1} and {@link #block4x4} give a token the same bits alone
     * and in a batch once compiled (the interpreter adds in another order: {@code LLM} warms the
     * kernels up before serving). A fixed-order sum by shuffles was tried: 2x slower prefill.
     */
    private static float sum(FloatVector v) {
        return v.reduceLanes(ADD);
    }
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Override
    public String description() {
        return "Vector API, " + F.vectorBitSize() + "-bit";
    }

    @Override
    public void matmul(float[] x, int tokens, WeightMatrix w, int j0, int j1, float[] out, int outStride, int outOffset) {
        int cols = w.cols();
        int t = 0;
        if (tokens == 1) {
            // One slice for the whole range of rows: a slice per row costs an allocation each.
            long rowBytes = (long) cols * w.dtype().byteSize();
            MemorySegment rows = w.data().asSlice(j0 * rowBytes, (j1 - j0) * rowBytes);
            for (int j = j0; j < j1; j++) {
                out[outOffset + j] = dot1(x, 0, w, rows, (j - j0) * rowBytes, j, cols);
            }
            return;
        }
        // Blocks of four rows × four tokens: 8 loads feed 16 FMAs. Row-outer: the block's weight rows
        // (a few KB) stay in L1 while every group of four tokens uses them.
        int size = w.dtype().byteSize();
        long rowBytes = (long) cols * size;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            MemorySegment rows = w.data().asSlice(j * rowBytes, 4 * rowBytes);
            for (t = 0; t + 4 <= tokens; t += 4) {
                block4x4(x, t * cols, w, rows, rowBytes, j, cols, out, t * outStride + outOffset + j, outStride);
            }
            for (; t < tokens; t++) {
                for (int r = 0; r < 4; r++) {
                    out[t * outStride + outOffset + j + r] = dot1(x, t * cols, w, rows, r * rowBytes, j + r, cols);
                }
            }
        }
        for (; j < j1; j++) {
            MemorySegment row = w.data().asSlice(j * rowBytes, rowBytes);
            for (t = 0; t < tokens; t++) {
                out[t * outStride + outOffset + j] = dot1(x, t * cols, w, row, 0, j, cols);
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

    private static float scalarWeight(WeightMatrix w, long e) {
        return w.get((int) (e / w.cols()), (int) (e % w.cols()));
    }

    // The loops below walk the weights with a long byte offset into a slice that starts at the
    // row(s) being read. C2 then hoists the segment's bounds and liveness checks out of the loop;
    // with an int counter and a long base offset it re-checks on every load and runs ~2x slower.

    // ---- one token, one row: the decode path ----
    // One weight row at a time is a single sequential stream, which the hardware prefetcher
    // follows best; measured on stories15M's LM head (37 MB, AMD EPYC, 1 thread): 1.3 ms versus
    // 2.8 ms for four interleaved rows. Two accumulators hide the FMA latency.

    /**
     * Row {@code j} of {@code w}, which starts at byte {@code start} of {@code row}, dotted with x.
     * One accumulator, blocks in order, then the lanes' fixed-order sum, then the scalar tail:
     * {@link #block4x4} sums in exactly this order, so a token's result has the same bits alone
     * and in a batch. (One FMA chain is enough here: decode is bound by memory, not FMA latency.)
     */
    private static float dot1(float[] x, int xOff, WeightMatrix w, MemorySegment row, long start, int j, int cols) {
        int size = w.dtype().byteSize();
        int bound = F.loopBound(cols);
        long boundBytes = start + (long) bound * size;
        long step = (long) L * size;
        FloatVector a = FloatVector.zero(F);
        int k = xOff;
        switch (w.dtype()) {
            case F32 -> {
                for (long o = start; o < boundBytes; o += step, k += L) {
                    a = FloatVector.fromArray(F, x, k).fma(loadF32(row, o), a);
                }
            }
            case BF16 -> {
                for (long o = start; o < boundBytes; o += step, k += L) {
                    a = FloatVector.fromArray(F, x, k).fma(loadBF16(row, o), a);
                }
            }
            case F16 -> {
                for (long o = start; o < boundBytes; o += step, k += L) {
                    a = FloatVector.fromArray(F, x, k).fma(loadF16(row, o), a);
                }
            }
        }
        float sum = sum(a);
        long base = (long) j * cols;
        for (int c = bound; c < cols; c++) {
            sum += x[xOff + c] * scalarWeight(w, base + c);
        }
        return sum;
    }

    /**
     * Four tokens × four consecutive rows (starting at byte 0 of {@code rows}, {@code rowBytes}
     * apart), each sum in {@link #dot1}'s order. Writes {@code out[o + t * stride + r]}.
     */
    private static void block4x4(float[] x, int xOff, WeightMatrix w, MemorySegment rows, long rowBytes, int j,
                                 int cols, float[] out, int o, int stride) {
        int size = w.dtype().byteSize();
        int x0 = xOff, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int bound = F.loopBound(cols);
        long boundBytes = (long) bound * size;
        long step = (long) L * size;
        long r1 = rowBytes, r2 = 2 * rowBytes, r3 = 3 * rowBytes;
        int k = 0;
        for (long b = 0; b < boundBytes; b += step, k += L) {
            FloatVector w0, w1, w2, w3;
            switch (w.dtype()) {
                case F32 -> {
                    w0 = loadF32(rows, b);
                    w1 = loadF32(rows, b + r1);
                    w2 = loadF32(rows, b + r2);
                    w3 = loadF32(rows, b + r3);
                }
                case BF16 -> {
                    w0 = loadBF16(rows, b);
                    w1 = loadBF16(rows, b + r1);
                    w2 = loadBF16(rows, b + r2);
                    w3 = loadBF16(rows, b + r3);
                }
                default -> {
                    w0 = loadF16(rows, b);
                    w1 = loadF16(rows, b + r1);
                    w2 = loadF16(rows, b + r2);
                    w3 = loadF16(rows, b + r3);
                }
            }
            FloatVector v = FloatVector.fromArray(F, x, x0 + k);
            a00 = v.fma(w0, a00);
            a01 = v.fma(w1, a01);
            a02 = v.fma(w2, a02);
            a03 = v.fma(w3, a03);
            v = FloatVector.fromArray(F, x, x1 + k);
            a10 = v.fma(w0, a10);
            a11 = v.fma(w1, a11);
            a12 = v.fma(w2, a12);
            a13 = v.fma(w3, a13);
            v = FloatVector.fromArray(F, x, x2 + k);
            a20 = v.fma(w0, a20);
            a21 = v.fma(w1, a21);
            a22 = v.fma(w2, a22);
            a23 = v.fma(w3, a23);
            v = FloatVector.fromArray(F, x, x3 + k);
            a30 = v.fma(w0, a30);
            a31 = v.fma(w1, a31);
            a32 = v.fma(w2, a32);
            a33 = v.fma(w3, a33);
        }
        store(out, o, sum(a00), sum(a01), sum(a02), sum(a03), x, x0, w, j, cols, bound);
        store(out, o + stride, sum(a10), sum(a11), sum(a12), sum(a13), x, x1, w, j, cols, bound);
        store(out, o + 2 * stride, sum(a20), sum(a21), sum(a22), sum(a23), x, x2, w, j, cols, bound);
        store(out, o + 3 * stride, sum(a30), sum(a31), sum(a32), sum(a33), x, x3, w, j, cols, bound);
    }

    /** Adds one token's scalar tails to its four row sums and stores them. */
    private static void store(float[] out, int o, float s0, float s1, float s2, float s3, float[] x, int xOff,
                              WeightMatrix w, int j, int cols, int bound) {
        long b0 = (long) j * cols, b1 = b0 + cols, b2 = b1 + cols, b3 = b2 + cols;
        for (int c = bound; c < cols; c++) {
            float xv = x[xOff + c];
            s0 += xv * scalarWeight(w, b0 + c);
            s1 += xv * scalarWeight(w, b1 + c);
            s2 += xv * scalarWeight(w, b2 + c);
            s3 += xv * scalarWeight(w, b3 + c);
        }
        out[o] = s0;
        out[o + 1] = s1;
        out[o + 2] = s2;
        out[o + 3] = s3;
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
