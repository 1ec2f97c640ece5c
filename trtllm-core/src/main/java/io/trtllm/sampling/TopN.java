package io.trtllm.sampling;

/**
 * Indexes of the n largest values of a row, by partial selection: a bounded min-heap, O(length log n)
 * and usually close to O(length), since most values lose the first comparison with the heap's root.
 * Never a sort of the whole row.
 */
public final class TopN {

    private TopN() {
    }

    /**
     * The indexes (relative to {@code offset}) of the {@code n} largest of
     * {@code values[offset .. offset + length)}, largest first; equal values in ascending index order.
     * Values must not be NaN.
     */
    public static int[] of(float[] values, int offset, int length, int n) {
        checkN(n, length);
        float[] heapValues = new float[n];
        int[] heapIndexes = new int[n];
        select(values, offset, length, n, heapValues, heapIndexes);
        return heapIndexes;
    }

    /**
     * As {@link #of}, into buffers the caller keeps (no allocation): {@code indexes[0 .. n)} the indexes of the
     * {@code n} largest values, largest first, and {@code values[0 .. n)} those values. With the Vector API a
     * row is scanned a vector at a time against the n-th largest so far; the result is the same.
     */
    public static void select(float[] row, int offset, int length, int n, float[] values, int[] indexes) {
        checkN(n, length);
        if (values.length < n || indexes.length < n) {
            throw new IllegalArgumentException("buffers of " + Math.min(values.length, indexes.length)
                    + " entries cannot hold the top " + n);
        }
        // Min-heap on "worse": a lower value, or an equal value with a higher index. The root is the
        // worst kept; a newcomer (higher index than all kept) enters only with a strictly larger value.
        for (int i = 0; i < n; i++) {
            values[i] = row[offset + i];
            indexes[i] = i;
            siftUp(values, indexes, i);
        }
        if (n > 0) {
            if (Simd.ENABLED) {
                VectorRows.offerAll(row, offset, n, length, values, indexes, n);
            } else {
                offerAll(row, offset, n, length, values, indexes, n);
            }
        }
        // Pop the worst to the end, repeatedly: the array ends up best first.
        for (int end = n - 1; end > 0; end--) {
            swap(values, indexes, 0, end);
            siftDown(values, indexes, 0, end);
        }
    }

    private static void checkN(int n, int length) {
        if (n < 0 || n > length) {
            throw new IllegalArgumentException("n must be in [0, " + length + "], got " + n);
        }
    }

    /** The scalar scan: offers {@code row[offset + from .. offset + length)} to a full heap of {@code n}. */
    static void offerAll(float[] row, int offset, int from, int length, float[] values, int[] indexes, int n) {
        for (int i = from; i < length; i++) {
            offer(row[offset + i], i, values, indexes, n);
        }
    }

    /** Offers value {@code v} at index {@code i} (above every index in the heap) to a full heap of {@code n}. */
    static void offer(float v, int i, float[] values, int[] indexes, int n) {
        if (v > values[0]) {
            values[0] = v;
            indexes[0] = i;
            siftDown(values, indexes, 0, n);
        }
    }

    /** The k-th largest of {@code values[offset .. offset + length)} (1 ≤ k ≤ length). */
    static float kthLargest(float[] values, int offset, int length, int k) {
        if (k < 1 || k > length) {
            throw new IllegalArgumentException("k must be in [1, " + length + "], got " + k);
        }
        float[] heap = new float[k];
        System.arraycopy(values, offset, heap, 0, k);
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDownValues(heap, i, k);
        }
        for (int i = k; i < length; i++) {
            float v = values[offset + i];
            if (v > heap[0]) {
                heap[0] = v;
                siftDownValues(heap, 0, k);
            }
        }
        return heap[0];
    }

    private static boolean worse(float[] values, int[] indexes, int a, int b) {
        return values[a] < values[b] || (values[a] == values[b] && indexes[a] > indexes[b]);
    }

    private static void siftUp(float[] values, int[] indexes, int i) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!worse(values, indexes, i, parent)) {
                return;
            }
            swap(values, indexes, i, parent);
            i = parent;
        }
    }

    private static void siftDown(float[] values, int[] indexes, int i, int size) {
        while (true) {
            int left = 2 * i + 1;
            if (left >= size) {
                return;
            }
            int right = left + 1;
            int child = right < size && worse(values, indexes, right, left) ? right : left;
            if (!worse(values, indexes, child, i)) {
                return;
            }
            swap(values, indexes, i, child);
            i = child;
        }
    }

    private static void siftDownValues(float[] heap, int i, int size) {
        while (true) {
            int left = 2 * i + 1;
            if (left >= size) {
                return;
            }
            int right = left + 1;
            int child = right < size && heap[right] < heap[left] ? right : left;
            if (heap[child] >= heap[i]) {
                return;
            }
            float t = heap[i];
            heap[i] = heap[child];
            heap[child] = t;
            i = child;
        }
    }

    private static void swap(float[] values, int[] indexes, int a, int b) {
        float v = values[a];
        values[a] = values[b];
        values[b] = v;
        int x = indexes[a];
        indexes[a] = indexes[b];
        indexes[b] = x;
    }
}
