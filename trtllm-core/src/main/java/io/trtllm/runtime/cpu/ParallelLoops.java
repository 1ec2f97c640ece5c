package io.trtllm.runtime.cpu;

/**
 * How a {@link CpuModelRunner} pass splits its work over the threads: matmuls into (token block,
 * panel) units, per-row work into ranges of rows, and plain loops over the team. Owns the threads.
 */
final class ParallelLoops implements AutoCloseable {
    /** Tokens per unit of a {@link #matmul}'s work when panels alone would not divide it evenly. */
    private static final int TOKEN_GROUP = 8;
    /**
     * Tokens per block of a long pass's matmuls: a block's input rows (64 × 288 floats = 72 KiB for
     * stories15M) stay in the core's L2 cache while every panel of the matrix streams past them; over
     * all of a prefill's rows at once, each panel would read the whole input back from L3 or memory.
     */
    private static final int TOKEN_BLOCK = 64;
    /** Rows of a pass from which per-row work (norms, residual adds, rope and k/v stores) runs in parallel. */
    private static final int PARALLEL_ROWS = 64;

    /** A piece of a matmul: tokens {@code [t0, t1)} × panels {@code [p0, p1)}. */
    @FunctionalInterface
    interface MatmulUnit {
        void run(int t0, int t1, int p0, int p1);
    }

    /** A range {@code [t0, t1)} of rows. */
    @FunctionalInterface
    interface RowRange {
        void run(int t0, int t1);
    }

    private final ParallelRunner pool;
    private final Kernels kernels;

    /** @param threads worker threads (the calling thread counts as one) */
    ParallelLoops(int threads, Kernels kernels) {
        this.kernels = kernels;
        this.pool = new ParallelRunner(threads, "trtllm-cpu");
    }

    int threads() {
        return pool.threads();
    }

    /**
     * {@code out = x · wᵀ} for {@code tokens} rows, in parallel. Units of work are (block of up to 64
     * tokens, panel) pairs in block order; in a pass of one block they are panels, or, when a matrix has
     * few panels for the threads (a 288-row matrix has 9), (panel, group of 8 tokens) pairs in panel
     * order: 9 panels × 4 groups split 18 / 18 over two threads where panels alone split 5 / 4; for
     * kernels that {@link Kernels#quantizesActivations quantize the activations} of such a matrix, ranges of
     * groups over all panels (one quantization of each token).
     */
    void matmul(float[] in, int tokens, PackedMatrix w, float[] out, int outStride, int outOffset) {
        forEachUnit(w, tokens, (t0, t1, p0, p1) -> kernels.matmul(in, t0, t1, w, p0, p1, out, outStride, outOffset));
    }

    /** Runs {@code unit} over all of {@code tokens} × {@code w}'s panels in parallel, split as {@link #matmul} says. */
    void forEachUnit(PackedMatrix w, int tokens, MatmulUnit unit) {
        int panels = w.panels();
        int blocks = (tokens + TOKEN_BLOCK - 1) / TOKEN_BLOCK;
        if (blocks > 1) {
            pool.parallelFor(blocks * panels, (start, end, worker) -> {
                for (int u = start; u < end; ) {
                    int b = u / panels;
                    int p0 = u % panels;
                    int p1 = Math.min(panels, p0 + end - u); // this block's panels inside [start, end)
                    unit.run(b * TOKEN_BLOCK, Math.min(tokens, (b + 1) * TOKEN_BLOCK), p0, p1);
                    u += p1 - p0;
                }
            });
            return;
        }
        int groups = panels >= 8 * pool.threads() ? 1 : (tokens + TOKEN_GROUP - 1) / TOKEN_GROUP;
        if (groups <= 1) {
            pool.parallelFor(panels, (start, end, worker) -> unit.run(0, tokens, start, end));
            return;
        }
        if (groups >= pool.threads() && kernels.quantizesActivations(w)) {
            // Each call quantizes its tokens and widens its panels (W4A8): one call per thread, a range of tokens over
            // every panel, where (panel, group) units would quantize the same tokens again for every panel.
            pool.parallelFor(groups, (start, end, worker) -> unit.run(start * TOKEN_GROUP, Math.min(tokens, end * TOKEN_GROUP),
                    0, panels));
            return;
        }
        pool.parallelFor(panels * groups, (start, end, worker) -> {
            for (int u = start; u < end; ) {
                int p = u / groups;
                int g0 = u % groups;
                int g1 = Math.min(groups, g0 + end - u); // this panel's groups inside [start, end)
                unit.run(g0 * TOKEN_GROUP, Math.min(tokens, g1 * TOKEN_GROUP), p, p + 1);
                u += g1 - g0;
            }
        });
    }

    /**
     * Runs {@code body} over rows {@code [0, tokens)}: on this thread for a few rows (a decode step's
     * few microseconds would not pay for a parallel region), split over the threads for a prefill's.
     */
    void forRows(int tokens, RowRange body) {
        if (tokens < PARALLEL_ROWS) {
            body.run(0, tokens);
        } else {
            pool.parallelFor(tokens, (start, end, worker) -> body.run(start, end));
        }
    }

    /** {@link ParallelRunner#parallelFor}: one contiguous range of {@code [0, n)} per thread, in thread order. */
    void parallelFor(int n, ParallelRunner.RangeBody body) {
        pool.parallelFor(n, body);
    }

    /** {@link ParallelRunner#parallelForDynamic}: threads take {@code grain} indices at a time as they finish. */
    void parallelForDynamic(int n, int grain, ParallelRunner.RangeBody body) {
        pool.parallelForDynamic(n, grain, body);
    }

    @Override
    public void close() {
        pool.close();
    }
}
