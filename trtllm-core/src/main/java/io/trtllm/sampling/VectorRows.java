package io.trtllm.sampling;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API paths of {@link TopN} and {@link LogSoftmax}. Loaded only when {@link Simd#ENABLED}.
 */
final class VectorRows {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /**
     * Vectors whose exponentials are summed in float lanes before the block's sum joins the double total: each
     * lane adds at most this many terms ≤ 1, so the float rounding stays below ≈ (BLOCK + log2 L) ulp of the block.
     */
    private static final int BLOCK = 16;

    private VectorRows() {
    }

    /** {@code Σ exp(row[i] - max)} over {@code [offset, offset + length)}; {@code max} finite. */
    static double sumExp(float[] row, int offset, int length, float max) {
        FloatVector m = FloatVector.broadcast(F, max);
        int bound = F.loopBound(length);
        double total = 0;
        int i = 0;
        while (i < bound) {
            int end = Math.min(bound, i + BLOCK * L);
            FloatVector acc = FloatVector.zero(F);
            for (; i < end; i += L) {
                acc = acc.add(VectorExp.exp(FloatVector.fromArray(F, row, offset + i).sub(m)));
            }
            total += acc.reduceLanes(VectorOperators.ADD);
        }
        for (; i < length; i++) {
            total += Math.exp(row[offset + i] - max);
        }
        return total;
    }

    /**
     * {@link TopN#offer} over {@code [from, length)} of the row, a vector at a time: a vector with no lane above
     * the heap's root (the n-th largest so far) cannot change the heap and is passed over whole, which is most
     * of a row; the others are offered lane by lane in index order, as the scalar loop would.
     */
    static void offerAll(float[] values, int offset, int from, int length, float[] heapValues, int[] heapIndexes, int n) {
        int i = from;
        int bound = from + F.loopBound(length - from);
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromArray(F, values, offset + i);
            if (v.compare(VectorOperators.GT, heapValues[0]).anyTrue()) {
                for (int j = i; j < i + L; j++) {
                    TopN.offer(values[offset + j], j, heapValues, heapIndexes, n);
                }
            }
        }
        for (; i < length; i++) {
            TopN.offer(values[offset + i], i, heapValues, heapIndexes, n);
        }
    }
}
