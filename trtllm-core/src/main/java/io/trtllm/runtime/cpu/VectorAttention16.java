package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.VectorAttention.blockScores;
import static io.trtllm.runtime.cpu.VectorAttention.blockValues;
import static io.trtllm.runtime.cpu.VectorAttention.scaleInPlace;
import static io.trtllm.runtime.cpu.VectorAttention.softmaxAll;
import static io.trtllm.runtime.cpu.VectorLanes.F;
import static io.trtllm.runtime.cpu.VectorLanes.I;
import static io.trtllm.runtime.cpu.VectorLanes.L;
import static io.trtllm.runtime.cpu.VectorLanes.LE;
import static io.trtllm.runtime.cpu.VectorLanes.halfToFloat;
import static jdk.incubator.vector.VectorOperators.LSHL;

import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * Attention of {@link VectorKernels} over a 16-bit (BF16 or F16) paged cache, as {@link VectorAttention}
 * computes it over a float32 one: element pairs are loaded as ints and widened in registers.
 */
final class VectorAttention16 {

    /** Slots 0, 2, 4, ... of a pair vector's low halves and 1, 3, 5, ... of its high halves, back in order. */
    private static final VectorShuffle<Float> INTERLEAVE_LOW = interleave(0);
    private static final VectorShuffle<Float> INTERLEAVE_HIGH = interleave(L / 2);

    private VectorAttention16() {
    }

    /**
     * As the float32 {@link VectorAttention#attend}, over a 16-bit cache, with no widening pass: rows are loaded as
     * ints, each holding two elements whose halves become floats in registers (bfloat16: a shift and a
     * mask; float16: {@link VectorLanes#halfToFloat}), see {@link #blockScores16} and
     * {@link #blockValues16}. An odd block size or head dimension (pairs would straddle rows) widens
     * each block into {@code tile} instead and goes through the float loops.
     */
    static void attend(float[] q, int qOff, MemorySegment keys, MemorySegment values, DType kvType, int[] blocks, int blockSize,
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

    /** Lanes 2j and 2j + 1 from lane {@code first + j} of the first and of the second vector of a two-vector rearrange. */
    static VectorShuffle<Float> interleave(int first) {
        int[] source = new int[L];
        for (int j = 0; j < L / 2; j++) {
            source[2 * j] = first + j;
            source[2 * j + 1] = first + j - L; // exceptional: lane first + j of the second vector
        }
        return VectorShuffle.fromValues(F, source);
    }

    /**
     * {@link VectorAttention#blockScores} over a 16-bit cache: the key row of each d is loaded as ints,
     * each holding two slots. Even slots accumulate in one vector, odd slots in another, interleaved
     * back into slot order once per {@code 2L} slots. The slots of a row are taken from the group of {@code 2L} that
     * contains {@code i0}; lanes past the row read slack and land in slack of {@code scores}.
     */
    static void blockScores16(float[] q, int qh, int headDim, MemorySegment bits, DType type, int kb, int blockSize,
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
    static FloatVector lowHalves(IntVector x, boolean f16) {
        return f16 ? halfToFloat(x) : x.lanewise(LSHL, 16).reinterpretAsFloats();
    }

    /** The high 16 bits of each int as a float (bfloat16 or float16 bits). */
    static FloatVector highHalves(IntVector x, boolean f16) {
        return f16 ? halfToFloat(x.lanewise(VectorOperators.LSHR, 16)) : x.and(0xffff0000).reinterpretAsFloats();
    }

    /**
     * {@link VectorAttention#blockValues} over a 16-bit cache: each value row is loaded as ints of element pairs, even
     * elements accumulating in one vector and odd ones in another (for even and odd slots apart, four
     * chains), interleaved back into element order once per block and {@code 2L} elements. A last
     * chunk of fewer than {@code 2L} elements loads whole vectors (slack past the row, never stored).
     */
    static void blockValues16(MemorySegment bits, DType type, int vb, int rowStride, int i0, int i1, float[] w,
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
    static void addInto(FloatVector v, float[] out, int o, int n) {
        if (n >= L) {
            v.add(FloatVector.fromArray(F, out, o)).intoArray(out, o);
        } else {
            VectorMask<Float> m = F.indexInRange(0, n);
            v.add(FloatVector.fromArray(F, out, o, m)).intoArray(out, o, m);
        }
    }

    /** {@code tile[dst, dst + n) = cache[src, src + n)} (element indices) widened from {@code type} (BF16 or F16) to float. */
    static void widen(MemorySegment cache, DType type, long src, float[] tile, int dst, int n) {
        for (int i = 0; i < n; i++) {
            tile[dst + i] = KvStore.get(cache, src + i, type);
        }
    }
}
