package io.trtllm.runtime.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.jspecify.annotations.Nullable;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * {@link Gemv} over quantized weights (kernels.cu's {@code qgemv8_R}, {@code qgemv4_R} and {@code qgemvf8_R}):
 * {@code out[rows × outDim] (f32) = in[rows × inDim] (wt) · dequant(W)[outDim × inDim]ᵀ}, stored, added to
 * {@code out} or, for stacked gate|up weights, turned into {@code wt(silu(gate) * up)}: the same tiles,
 * modes and fixed-order sums, the weights dequantized in registers.
 *
 * <p>Why: a decode row's projection is a stream over the weights, so its time is their bytes over the
 * memory bandwidth; INT8 halves those bytes and INT4 quarters them (plus a scale per 128 values),
 * which is the whole point of TensorRT-LLM's W8A16 / W4A16 at small batch. Dequantizing into a 16-bit
 * scratch for cuBLAS (the prefill path, {@link Projections}) would read the quantized bytes, write
 * and read twice as many 16-bit ones: slower than the float weights.
 *
 * <p>INT4 projections whose columns and groups are multiples of {@value #MMA_STEP} go to {@code qgemv4_mma} instead,
 * which multiplies on the tensor cores (the FMA kernel is bound by its instructions there, not by the bytes: kernels.cu
 * says why); {@code -D}{@value #INT4_MMA_PROPERTY}{@code =false} keeps them on {@code qgemv4_R}.
 */
final class QuantGemv {
    private final KernelModule kernels;
    /** By row count 1..MAX_ROWS, for int8 ([0]), int4 ([1]) and fp8 ([2]). */
    private final CUfunc_st[][] byRows = new CUfunc_st[3][Gemv.MAX_ROWS + 1];
    private final String[][] names = new String[3][Gemv.MAX_ROWS + 1];
    private static final String[] PREFIXES = {"qgemv8_", "qgemv4_", "qgemvf8_"};
    /** System property: whether INT4 projections that fit take {@code qgemv4_mma} (default true). */
    static final String INT4_MMA_PROPERTY = "trtllm.cuda.int4Mma";
    /** Columns of one step of {@code qgemv4_mma} (kernels.cu's Q4_STEP): in_dim and the group size are multiples. */
    static final int MMA_STEP = 128;
    /** Most warps of a {@code qgemv4_mma} block (Q4_WARPS), each taking every {@code warps}-th step. */
    static final int MMA_WARPS = 8;
    /** Weight rows of one {@code qgemv4_mma} block: 16, or 8 gate rows and their 8 up rows for {@link Gemv#SWIGLU}. */
    static final int MMA_TILE = 16;

    /** {@code qgemv4_mma}, or null where INT4 projections stay on {@code qgemv4_R}. */
    private final @Nullable CUfunc_st int4Mma;

    /** The kernels of {@code kernels}, INT4 through the tensor cores unless {@value #INT4_MMA_PROPERTY} is false. */
    QuantGemv(KernelModule kernels) {
        this(kernels, Boolean.parseBoolean(System.getProperty(INT4_MMA_PROPERTY, "true")));
    }

    /** The kernels of {@code kernels}; {@code int4Mma}: whether INT4 projections that fit take {@code qgemv4_mma}. */
    QuantGemv(KernelModule kernels, boolean int4Mma) {
        this.kernels = kernels;
        this.int4Mma = int4Mma ? kernels.function("qgemv4_mma") : null;
        for (int bits = 0; bits < PREFIXES.length; bits++) {
            String prefix = PREFIXES[bits];
            for (int compiled = 1; compiled <= Gemv.MAX_ROWS; compiled *= 2) {
                CUfunc_st f = kernels.function(prefix + compiled);
                for (int rows = compiled / 2 + 1; rows <= compiled; rows++) {
                    byRows[bits][rows] = f;
                    names[bits][rows] = prefix + compiled;
                }
            }
        }
    }

    /** Values in one 16-byte weight vector: 16 int8 or 32 int4. */
    static int valuesPerVector(DeviceMatrix.Format format) {
        return switch (format) {
            case INT8, FP8 -> 16;
            case INT4 -> 32;
            case FLOAT -> throw new IllegalArgumentException("not a quantized format: " + format);
        };
    }

    /**
     * Whether the kernel takes this projection: a quantized matrix, 1 to {@link Gemv#MAX_ROWS} rows, whole
     * 16-byte weight vectors per row (cols a multiple of 16 for int8 and fp8, 32 for int4), for int4 groups of
     * whole vectors (so that a vector has one scale), weights and inputs 16-byte aligned.
     */
    static boolean applies(int rows, DeviceMatrix w, long in) {
        if (!w.quantized() || rows < 1 || rows > Gemv.MAX_ROWS || w.weights() % 16 != 0 || in % 16 != 0) {
            return false;
        }
        int vals = valuesPerVector(w.format());
        return w.cols() % vals == 0 && (w.format() != DeviceMatrix.Format.INT4 || w.groupSize() % vals == 0);
    }

    /**
     * Whether {@code qgemv4_mma} takes this projection: one {@link #applies} takes, INT4, with columns and groups of whole
     * {@value #MMA_STEP}-column steps (Llama-3.1-8B's 4,096 and 14,336 columns in groups of 128 are).
     */
    static boolean mmaApplies(int rows, DeviceMatrix w, long in) {
        return applies(rows, w, in) && w.format() == DeviceMatrix.Format.INT4 && w.cols() % MMA_STEP == 0
                && w.groupSize() % MMA_STEP == 0;
    }

    /** Threads of a {@code qgemv4_mma} block over {@code cols} columns: a warp per step, at most {@value #MMA_WARPS}. */
    static int mmaThreads(int cols) {
        return 32 * Math.clamp(cols / MMA_STEP, 1, MMA_WARPS);
    }

    /** Blocks of a {@code qgemv4_mma} launch: {@value #MMA_TILE} output rows each, or half as many SwiGLU pairs. */
    static int mmaBlocks(int outDim, int mode) {
        int perBlock = mode == Gemv.SWIGLU ? MMA_TILE / 2 : MMA_TILE;
        return (outDim + perBlock - 1) / perBlock;
    }

    /** The kernel a launch of {@code rows} rows through {@code w} runs (for profiles and tests). */
    String kernelName(int rows, DeviceMatrix w, long in) {
        if (int4Mma != null && mmaApplies(rows, w, in)) {
            return "qgemv4_mma";
        }
        return names[formatIndex(w.format())][rows];
    }

    /** Threads per block for rows of {@code cols} quantized values: as {@link Gemv#threads}, counted in weight vectors. */
    static int threads(DeviceMatrix.Format format, int cols) {
        int vectors = cols / valuesPerVector(format);
        int wanted = (vectors + Gemv.VECTORS_PER_THREAD - 1) / Gemv.VECTORS_PER_THREAD;
        return Math.clamp((wanted + 31) / 32 * 32, 32, Gemv.MAX_THREADS);
    }

    /**
     * Enqueues the projection of {@code rows} rows of {@code in} through {@code w} in {@code mode}
     * ({@link Gemv#STORE}, {@link Gemv#ACCUMULATE}, or {@link Gemv#SWIGLU} with {@code w} the stacked
     * {@code [Wg; Wu]} of {@code 2 × outDim} rows). The caller has checked {@link #applies}.
     */
    void launch(DeviceMatrix w, long in, long out, int outDim, int rows, int mode, CUstream_st stream) {
        int stacked = mode == Gemv.SWIGLU ? 2 * outDim : outDim;
        if (!applies(rows, w, in) || outDim < 1 || stacked != w.rows() || mode < Gemv.STORE || mode > Gemv.SWIGLU) {
            throw new IllegalArgumentException("the quantized GEMV does not take " + rows + " rows through a " + w.format()
                    + " matrix of " + w.rows() + " × " + w.cols() + " (groups of " + w.groupSize() + ") -> " + outDim
                    + " (mode " + mode + ")");
        }
        if (int4Mma != null && mmaApplies(rows, w, in)) {
            kernels.args().ptr(w.weights()).ptr(w.scales()).i32(w.groupSize()).ptr(in).ptr(out).i32(outDim).i32(w.cols())
                    .i32(rows).i32(mode)
                    .launch(int4Mma, "qgemv4_mma", mmaBlocks(outDim, mode), 1, mmaThreads(w.cols()), stream);
            return;
        }
        int bits = formatIndex(w.format());
        kernels.args().ptr(w.weights()).ptr(w.scales()).i32(w.groupSize()).ptr(in).ptr(out).i32(outDim).i32(w.cols())
                .i32(rows).i32(mode)
                .launch(byRows[bits][rows], names[bits][rows], Gemv.blocks(outDim, mode), 1, threads(w.format(), w.cols()),
                        stream);
    }

    private static int formatIndex(DeviceMatrix.Format format) {
        return switch (format) {
            case INT8 -> 0;
            case INT4 -> 1;
            case FP8 -> 2;
            case FLOAT -> throw new IllegalStateException("not quantized");
        };
    }
}
