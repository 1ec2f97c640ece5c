package io.trtllm.runtime.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * The projections of passes of few rows (decode) through kernels.cu's {@code gemv_R} instead of
 * cuBLAS: {@code out[rows × outDim] (f32) = in[rows × inDim] (wt) · W[outDim × inDim]ᵀ (wt)},
 * wt the weights' 16-bit type (bf16, or f16 in an F16 engine),
 * stored, added to {@code out} (the residual add) or, for the MLP's stacked gate|up weights, turned
 * into {@code wt(silu(gate) * up)} in the same pass.
 *
 * <p>Why: at a handful of rows a projection reads each weight once and does a few FLOPs per byte, so
 * its time is the weights' bytes over the memory bandwidth; cuBLAS's kernels for such shapes reach
 * about 60% of it on an H100 (124 tok/s on a Llama-3.1-8B shape where the bound is ≈ 210). The kernel
 * streams the weights in 16-byte loads with several in flight per thread and accumulates in F32.
 *
 * <p>Up to {@link #MAX_ROWS} rows. The cut-off: each row adds 8 FMAs per 16-byte weight load and one
 * 16-byte activation load (from L1) per {@value #TILE} weight loads; at 8 rows an H100 SM streaming its
 * share of 3.35 TB/s (≈ 13 bytes per clock) needs ≈ 52 of its 128 FP32 lanes per clock, so the kernel
 * is still bound by memory, while from 16 rows on the FMAs approach the SM's rate and cuBLAS's tensor
 * cores win. CudaGemvGpuTests records both per row count on the Llama-3.1-8B shapes to confirm it.
 *
 * <p>Off with the system property {@code trtllm.cuda.gemv=false} (read when a runner is built), to
 * compare against cuBLAS. The kernels are plain launches on the runner's stream, so they are captured
 * into the decode pass's CUDA graph like the others. Not thread-safe (the module's argument buffer).
 */
final class Gemv {
    /** Most rows the kernel takes; more go to cuBLAS. */
    static final int MAX_ROWS = 8;
    /** Output rows per block (kernels.cu's GEMV_TILE). */
    static final int TILE = 4;
    /** Most threads per block (GEMV_THREADS). */
    static final int MAX_THREADS = 256;
    /** 16-byte weight vectors per thread and row aimed at when choosing the block size. */
    static final int VECTORS_PER_THREAD = 4;

    /** Modes (kernels.cu's GEMV_STORE, GEMV_ACCUMULATE, GEMV_SWIGLU). */
    static final int STORE = 0;
    static final int ACCUMULATE = 1;
    static final int SWIGLU = 2;

    private final KernelModule kernels;
    /** By row count 1..MAX_ROWS: gemv_R for the smallest compiled R (1, 2, 4, 8) that holds them. */
    private final CUfunc_st[] byRows = new CUfunc_st[MAX_ROWS + 1];
    private final String[] names = new String[MAX_ROWS + 1];

    Gemv(KernelModule kernels) {
        this.kernels = kernels;
        for (int compiled = 1; compiled <= MAX_ROWS; compiled *= 2) {
            CUfunc_st f = kernels.function("gemv_" + compiled);
            for (int rows = compiled / 2 + 1; rows <= compiled; rows++) {
                byRows[rows] = f;
                names[rows] = "gemv_" + compiled;
            }
        }
    }

    /** Whether runners use the GEMV kernel by default (the system property {@code trtllm.cuda.gemv}, default true). */
    static boolean enabled() {
        return io.trtllm.api.config.RuntimeConfig.fromSystemProperties().cudaGemv();
    }

    /**
     * Whether the kernel takes this projection: 1 to {@link #MAX_ROWS} rows, {@code inDim} a multiple
     * of 8 (whole 16-byte vectors per weight row) and the weights and inputs 16-byte aligned.
     */
    static boolean applies(int rows, int inDim, long weights, long in) {
        return rows >= 1 && rows <= MAX_ROWS && inDim > 0 && inDim % 8 == 0 && weights % 16 == 0 && in % 16 == 0;
    }

    /** Threads per block for rows of {@code inDim}: {@link #VECTORS_PER_THREAD} vectors each, 32 to {@link #MAX_THREADS}. */
    static int threads(int inDim) {
        int vectors = inDim / 8;
        int wanted = (vectors + VECTORS_PER_THREAD - 1) / VECTORS_PER_THREAD;
        return Math.clamp((wanted + 31) / 32 * 32, 32, MAX_THREADS);
    }

    /** Blocks of a launch: {@link #TILE} output rows each, or {@link #TILE}/2 gate|up pairs for {@link #SWIGLU}. */
    static int blocks(int outDim, int mode) {
        int perBlock = mode == SWIGLU ? TILE / 2 : TILE;
        return (outDim + perBlock - 1) / perBlock;
    }

    /**
     * Enqueues {@code out = in · Wᵀ} ({@link #STORE}), {@code out += in · Wᵀ} ({@link #ACCUMULATE}) or
     * {@code out = wt(silu(in · Wgᵀ) * in · Wuᵀ)} with {@code W = [Wg; Wu]} of {@code 2 × outDim} rows
     * ({@link #SWIGLU}). Device addresses; the caller has checked {@link #applies}.
     */
    void launch(long weights, long in, long out, int outDim, int inDim, int rows, int mode, CUstream_st stream) {
        if (!applies(rows, inDim, weights, in) || outDim < 1 || mode < STORE || mode > SWIGLU) {
            throw new IllegalArgumentException("the GEMV kernel does not take " + rows + " rows of " + inDim + " -> " + outDim
                    + " (mode " + mode + ", weights at 0x" + Long.toHexString(weights) + ", input at 0x" + Long.toHexString(in)
                    + ")");
        }
        kernels.args().ptr(weights).ptr(in).ptr(out).i32(outDim).i32(inDim).i32(rows).i32(mode)
                .launch(byRows[rows], names[rows], blocks(outDim, mode), 1, threads(inDim), stream);
    }
}
