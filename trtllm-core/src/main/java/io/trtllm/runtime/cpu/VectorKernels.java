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
import jdk.incubator.vector.VectorShuffle;
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
    private static final VectorShuffle<Float> ROTATE_8 = VectorShuffle.fromOp(F, i -> (i + 8) % L);
    private static final VectorShuffle<Float> ROTATE_4 = VectorShuffle.fromOp(F, i -> (i + 4) % L);
    private static final VectorShuffle<Float> ROTATE_2 = VectorShuffle.fromOp(F, i -> (i + 2) % L);
    private static final VectorShuffle<Float> ROTATE_1 = VectorShuffle.fromOp(F, i -> (i + 1) % L);

    /**
     * Sum of the lanes in a fixed tree order. {@code reduceLanes(ADD)} adds in one order when
     * interpreted and in another once C2 compiled it, so the same dot product could differ in its
     * last bit between two call sites; rotate-and-add is the same in every tier, which keeps a
     * token's logits identical alone and in a batch.
     */
    private static float sum(FloatVector v) {
        if (L >= 16) {
            v = v.add(v.rearrange(ROTATE_8));
        }
        if (L >= 8) {
            v = v.add(v.rearrange(ROTATE_4));
        }
        if (L >= 4) {
            v = v.add(v.rearrange(ROTATE_2));
        }
        return v.add(v.rearrange(ROTATE_1)).lane(0);
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
        // Row-outer: a weight row (≤ a few KB) stays in L1 while every group of four tokens uses it.
        int size = w.dtype().byteSize();
        long rowBytes = (long) cols * size;
        for (int j = j0; j < j1; j++) {
            MemorySegment row = w.data().asSlice(j * rowBytes, rowBytes);
            for (t = 0; t + 4 <= tokens; t += 4) {
                tokens4(x, t * cols, w, row, j, cols, out, t * outStride + outOffset + j, outStride);
            }
            for (; t < tokens; t++) {
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

    /** Row {@code j} of {@code w}, which starts at byte {@code start} of {@code row}, dotted with x. */
    private static float dot1(float[] x, int xOff, WeightMatrix w, MemorySegment row, long start, int j, int cols) {
        int size = w.dtype().byteSize();
        int bound2 = cols - cols % (2 * L);
        long bound2Bytes = start + (long) bound2 * size;
        long step = (long) L * size;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int k = xOff;
        switch (w.dtype()) {
            case F32 -> {
                for (long o = start; o < bound2Bytes; o += 2 * step, k += 2 * L) {
                    a0 = FloatVector.fromArray(F, x, k).fma(loadF32(row, o), a0);
                    a1 = FloatVector.fromArray(F, x, k + L).fma(loadF32(row, o + step), a1);
                }
            }
            case BF16 -> {
                for (long o = start; o < bound2Bytes; o += 2 * step, k += 2 * L) {
                    a0 = FloatVector.fromArray(F, x, k).fma(loadBF16(row, o), a0);
                    a1 = FloatVector.fromArray(F, x, k + L).fma(loadBF16(row, o + step), a1);
                }
            }
            case F16 -> {
                for (long o = start; o < bound2Bytes; o += 2 * step, k += 2 * L) {
                    a0 = FloatVector.fromArray(F, x, k).fma(loadF16(row, o), a0);
                    a1 = FloatVector.fromArray(F, x, k + L).fma(loadF16(row, o + step), a1);
                }
            }
        }
        int c = bound2;
        if (c + L <= cols) {
            long o = start + (long) c * size;
            FloatVector wv = switch (w.dtype()) {
                case F32 -> loadF32(row, o);
                case BF16 -> loadBF16(row, o);
                case F16 -> loadF16(row, o);
            };
            a0 = FloatVector.fromArray(F, x, xOff + c).fma(wv, a0);
            c += L;
        }
        float sum = sum(a0.add(a1));
        long base = (long) j * cols;
        for (; c < cols; c++) {
            sum += x[xOff + c] * scalarWeight(w, base + c);
        }
        return sum;
    }

    // ---- prefill: four tokens, one row ----

    /**
     * Four tokens against one row, summed in exactly {@link #dot1}'s order (even blocks into one
     * accumulator, odd blocks into another, then the tail): a token's logits are then the same
     * bits whether it runs alone or in a batch, so batching never changes a sampled token.
     */
    private static void tokens4(float[] x, int xOff, WeightMatrix w, MemorySegment row, int j, int cols, float[] out,
                                int o, int stride) {
        int size = w.dtype().byteSize();
        int x0 = xOff, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0;
        FloatVector d0 = e0, d1 = e0, d2 = e0, d3 = e0;
        int bound2 = cols - cols % (2 * L);
        long bound2Bytes = (long) bound2 * size;
        long step = (long) L * size;
        int k = 0;
        switch (w.dtype()) {
            case F32 -> {
                for (long b = 0; b < bound2Bytes; b += 2 * step, k += 2 * L) {
                    FloatVector we = loadF32(row, b);
                    FloatVector wd = loadF32(row, b + step);
                    e0 = FloatVector.fromArray(F, x, x0 + k).fma(we, e0);
                    e1 = FloatVector.fromArray(F, x, x1 + k).fma(we, e1);
                    e2 = FloatVector.fromArray(F, x, x2 + k).fma(we, e2);
                    e3 = FloatVector.fromArray(F, x, x3 + k).fma(we, e3);
                    d0 = FloatVector.fromArray(F, x, x0 + k + L).fma(wd, d0);
                    d1 = FloatVector.fromArray(F, x, x1 + k + L).fma(wd, d1);
                    d2 = FloatVector.fromArray(F, x, x2 + k + L).fma(wd, d2);
                    d3 = FloatVector.fromArray(F, x, x3 + k + L).fma(wd, d3);
                }
            }
            case BF16 -> {
                for (long b = 0; b < bound2Bytes; b += 2 * step, k += 2 * L) {
                    FloatVector we = loadBF16(row, b);
                    FloatVector wd = loadBF16(row, b + step);
                    e0 = FloatVector.fromArray(F, x, x0 + k).fma(we, e0);
                    e1 = FloatVector.fromArray(F, x, x1 + k).fma(we, e1);
                    e2 = FloatVector.fromArray(F, x, x2 + k).fma(we, e2);
                    e3 = FloatVector.fromArray(F, x, x3 + k).fma(we, e3);
                    d0 = FloatVector.fromArray(F, x, x0 + k + L).fma(wd, d0);
                    d1 = FloatVector.fromArray(F, x, x1 + k + L).fma(wd, d1);
                    d2 = FloatVector.fromArray(F, x, x2 + k + L).fma(wd, d2);
                    d3 = FloatVector.fromArray(F, x, x3 + k + L).fma(wd, d3);
                }
            }
            case F16 -> {
                for (long b = 0; b < bound2Bytes; b += 2 * step, k += 2 * L) {
                    FloatVector we = loadF16(row, b);
                    FloatVector wd = loadF16(row, b + step);
                    e0 = FloatVector.fromArray(F, x, x0 + k).fma(we, e0);
                    e1 = FloatVector.fromArray(F, x, x1 + k).fma(we, e1);
                    e2 = FloatVector.fromArray(F, x, x2 + k).fma(we, e2);
                    e3 = FloatVector.fromArray(F, x, x3 + k).fma(we, e3);
                    d0 = FloatVector.fromArray(F, x, x0 + k + L).fma(wd, d0);
                    d1 = FloatVector.fromArray(F, x, x1 + k + L).fma(wd, d1);
                    d2 = FloatVector.fromArray(F, x, x2 + k + L).fma(wd, d2);
                    d3 = FloatVector.fromArray(F, x, x3 + k + L).fma(wd, d3);
                }
            }
        }
        int c = bound2;
        if (c + L <= cols) {
            long b = (long) c * size;
            FloatVector wv = switch (w.dtype()) {
                case F32 -> loadF32(row, b);
                case BF16 -> loadBF16(row, b);
                case F16 -> loadF16(row, b);
            };
            e0 = FloatVector.fromArray(F, x, x0 + c).fma(wv, e0);
            e1 = FloatVector.fromArray(F, x, x1 + c).fma(wv, e1);
            e2 = FloatVector.fromArray(F, x, x2 + c).fma(wv, e2);
            e3 = FloatVector.fromArray(F, x, x3 + c).fma(wv, e3);
            c += L;
        }
        float s0 = sum(e0.add(d0)), s1 = sum(e1.add(d1));
        float s2 = sum(e2.add(d2)), s3 = sum(e3.add(d3));
        long base = (long) j * cols;
        for (; c < cols; c++) {
            float wk = scalarWeight(w, base + c);
            s0 += x[x0 + c] * wk;
            s1 += x[x1 + c] * wk;
            s2 += x[x2 + c] * wk;
            s3 += x[x3 + c] * wk;
        }
        out[o] = s0;
        out[o + stride] = s1;
        out[o + 2 * stride] = s2;
        out[o + 3 * stride] = s3;
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
