package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.VectorLanes.F;
import static io.trtllm.runtime.cpu.VectorLanes.L;
import static io.trtllm.runtime.cpu.VectorLanes.exp;
import static io.trtllm.runtime.cpu.VectorLanes.sum;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Attention of {@link VectorKernels} over a float32 paged cache ({@link Kernels#keyIndex},
 * {@link Kernels#valueIndex}): scores block by block with broadcast query elements, a softmax per
 * head, and the weighted sum of values with the output vectors kept in registers. No sums across
 * lanes in the scores or the values, so a row's bits do not depend on the tiles around it.
 */
final class VectorAttention {

    private VectorAttention() {
    }

    /**
     * Block by block, all heads of the row at once: a block's keys (and later its values) are one
     * contiguous run of {@code blockSize × kvDim} floats, read front to back once for every head, as
     * the hardware prefetcher likes (with tens of sequences the cache does not fit the CPU's caches,
     * and attention waits on memory). Scores of head h go to {@code scores[(h - h0)·stride + p]}.
     */
    static void attend(float[] q, int qOff, float[] keys, float[] values, int[] blocks, int blockSize, int kvDim, int h0,
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
     * Four rows ({@link Kernels#ROW_TILE}, {@code rows} must be that) at a time: the scores of all four
     * queries against each key row loaded once ({@link #blockScores4}), each row's softmax over its own
     * range, weights outside it set to zero, and the four weighted value sums from each value row loaded
     * once ({@link #blockValues4}). Every lane and accumulator does what {@link #attend} does for that
     * row, and zero weights add nothing: the bits are those of four {@code attend} calls.
     */
    static void attendRows(float[] q, int qOff, int qStride, int rows, float[] keys, float[] values, int[] blocks,
                           int blockSize, int kvDim, int h0, int h1, int group, int headDim, int firstPos, int window,
                           float scale, float[] scores, float[] out, int outOff, int outStride) {
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
     * Four decode rows of different sequences (the beams of a beam search) over the same positions {@code [from, to)},
     * row r's blocks {@code tables[r]}: a block that all four tables share (the beams' common prefix) has its keys and
     * values loaded once for the four ({@link #blockScores4}, {@link #blockValues4}); each other block per row
     * ({@link #blockScores}, {@link #blockValues}). Either way a row's lanes and accumulators do what {@link #attend}
     * does for it, block by block in the same order, so its bits are those of {@code attend} alone. Scores of row r,
     * head h: {@code scores[(r·heads + h - h0)·stride + position]}.
     */
    static void attendShared(float[] q, int qOff, int qStride, float[] keys, float[] values, int[][] tables, int blockSize,
                             int kvDim, int h0, int h1, int group, int headDim, int from, int to, float scale, float[] scores,
                             float[] out, int outOff, int outStride) {
        int rows = Kernels.ROW_TILE;
        int heads = h1 - h0;
        int b0 = from / blockSize;
        int b1 = (to - 1) / blockSize;
        int stride = Kernels.scoresLength(to, blockSize);
        int rowScores = heads * stride;
        int[] t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3];
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            boolean shared = t0[b] == t1[b] && t0[b] == t2[b] && t0[b] == t3[b];
            for (int h = h0; h < h1; h++) {
                int s = (h - h0) * stride + b * blockSize;
                if (shared) {
                    blockScores4(q, qOff + (h - h0) * headDim, qStride, headDim, keys,
                            Kernels.keyIndex(t0[b], 0, (h / group) * headDim, blockSize, kvDim), blockSize, i0, i1, scale,
                            scores, s, rowScores);
                    continue;
                }
                for (int r = 0; r < rows; r++) {
                    blockScores(q, qOff + r * qStride + (h - h0) * headDim, headDim, keys,
                            Kernels.keyIndex(tables[r][b], 0, (h / group) * headDim, blockSize, kvDim), blockSize, i0, i1,
                            scale, scores, r * rowScores + s);
                }
            }
        }
        float[] inv = new float[rows * heads];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int base = (r * heads + h) * stride;
                inv[r * heads + h] = 1f / softmaxNumerators(scores, base + from, base + to);
            }
            java.util.Arrays.fill(out, outOff + r * outStride, outOff + r * outStride + heads * headDim, 0f);
        }
        for (int b = b0; b <= b1; b++) {
            int i0 = b == b0 ? from - b * blockSize : 0;
            int i1 = b == b1 ? to - b * blockSize : blockSize;
            boolean shared = t0[b] == t1[b] && t0[b] == t2[b] && t0[b] == t3[b];
            for (int h = h0; h < h1; h++) {
                int s = (h - h0) * stride + b * blockSize;
                int o = outOff + (h - h0) * headDim;
                if (shared) {
                    blockValues4(values, Kernels.valueIndex(t0[b], 0, h / group, 0, blockSize, kvDim, headDim), headDim, i0,
                            i1, scores, s, rowScores, out, o, outStride, headDim);
                    continue;
                }
                for (int r = 0; r < rows; r++) {
                    blockValues(values, Kernels.valueIndex(tables[r][b], 0, h / group, 0, blockSize, kvDim, headDim), headDim,
                            i0, i1, scores, r * rowScores + s, out, o + r * outStride, headDim);
                }
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
    static void blockScores4(float[] q, int qh, int qStride, int headDim, float[] k, int kb, int blockSize, int i0,
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
    static void blockValues4(float[] v, int vb, int rowStride, int i0, int i1, float[] w, int wOff, int rowScores,
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
    static float[] softmaxAll(float[] scores, int heads, int stride, int from, int to) {
        float[] inv = new float[heads];
        for (int h = 0; h < heads; h++) {
            inv[h] = 1f / softmaxNumerators(scores, h * stride + from, h * stride + to);
        }
        return inv;
    }

    /**
     * {@code scores[sOff + i] = scale · Σ_d q[qh + d] · K[kb + d·blockSize + i]} for slots i in
     * {@code [i0, i1)} of one block whose keys are transposed ({@code headDim} rows of {@code blockSize}
     * slots): two vectors of slots at a time, broadcast query elements, even and odd d in separate
     * accumulators (four independent FMA chains); no sums across lanes. Whole vectors are computed and
     * stored: lanes past {@code i1} read slack or the next rows and land in slack of {@code scores}.
     */
    static void blockScores(float[] q, int qh, int headDim, float[] k, int kb, int blockSize, int i0, int i1,
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
    static void blockValues(float[] v, int vb, int rowStride, int i0, int i1, float[] w, int wOff, float[] out, int o,
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
    static void blockValuesTail(float[] v, int vb, int rowStride, int i0, int i1, float[] w, int wOff, float[] out,
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

    static void scaleInPlace(float[] x, int off, int n, float factor) {
        for (int i = 0; i < n; i++) {
            x[off + i] *= factor;
        }
    }

    /**
     * {@code s[p] = exp(s[p] - max)} for p in {@code [from, to)}, max over the same range; returns their
     * sum. Whole vectors, then one masked vector for the rest (so exp has a single call site's code).
     */
    static float softmaxNumerators(float[] s, int from, int to) {
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
