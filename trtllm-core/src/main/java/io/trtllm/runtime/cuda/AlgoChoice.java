package io.trtllm.runtime.cuda;

import java.util.function.IntToDoubleFunction;

/**
 * Choosing a GEMM's algorithm by measurement (TensorRT-LLM's gemm plugin profiles its tactics the same way):
 * cuBLASLt's heuristic ranks its candidates by a model of the device, and for the skinny shapes of decode
 * (a handful of rows against thousands of output channels) its first pick was measured at 1.4–1.8 TB/s on an H100
 * where the weights alone allow ≈ 3 ({@link Fp8Gemm}, docs/PERFORMANCE.md). So the candidates are timed once per
 * {@linkplain #rowBucket row bucket} and shape, and the fastest is kept. Pure logic, no CUDA: {@link Fp8Gemm}
 * supplies the timer.
 */
final class AlgoChoice {
    /** Candidates asked of the heuristic and timed at most. */
    static final int MAX_CANDIDATES = 8;
    /** Largest row bucket; more rows share it. */
    static final int MAX_BUCKET = 1 << 30;

    private AlgoChoice() {
    }

    /**
     * The bucket of a pass of {@code rows} rows: the next power of two (1, 2, 4, 8, …), so that passes of
     * similar sizes share one measurement (a decode batch of 5 to 8 rows, a prefill of 1025 to 2048 tokens).
     */
    static int rowBucket(int rows) {
        if (rows < 1) {
            throw new IllegalArgumentException("rows must be positive: " + rows);
        }
        if (rows > MAX_BUCKET / 2) {
            return MAX_BUCKET;
        }
        return rows == 1 ? 1 : Integer.highestOneBit(rows - 1) << 1;
    }

    /**
     * The index of the fastest of {@code candidates} (0-based, in the heuristic's order) by {@code micros}, the
     * time of one candidate: a candidate whose time is not a positive finite number (it failed to run) is
     * skipped; ties go to the earlier (the heuristic's preference). -1 when none ran (or none was offered).
     */
    static int fastest(int candidates, IntToDoubleFunction micros) {
        int best = -1;
        double bestTime = Double.POSITIVE_INFINITY;
        for (int i = 0; i < candidates; i++) {
            double t = micros.applyAsDouble(i);
            if (t > 0 && t < bestTime) {  // NaN and infinities fail both
                best = i;
                bestTime = t;
            }
        }
        return best;
    }
}
