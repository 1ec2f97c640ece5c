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
        if (n < 0 || n > length) {
            throw new IllegalArgumentException("n must be in [0, " + length + "], got " + n);
        }
        // Min-heap on "worse": a lower value, or an equal value with a higher index. The root is the
        // worst kept; a newcomer (higher index than all kept) enters only with a strictly larger value.
        float[] heapValues = new float[n];
        int[] heapIndexes = new int[n];
        int size = 0;
        for (int i = 0; i < length; i++) {
            float v = values[offset + i];
            if (size < n) {
                heapValues[size] = v;
                heapIndexes[size] = i;
                siftUp(heapValues, heapIndexes, size++);
            } else if (n > 0 && v > heapValues[0]) {
                heapValues[0] = v;
                heapIndexes[0] = i;
                siftDown(heapValues, heapIndexes, 0, n);
            }
        }
        // Pop the worst to the end, repeatedly: the array ends up best first.
        for (int end = size - 1; end > 0; end--) {
            swap(heapValues, heapIndexes, 0, end);
            siftDown(heapValues, heapIndexes, 0, end);
        }
        return heapIndexes;
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
