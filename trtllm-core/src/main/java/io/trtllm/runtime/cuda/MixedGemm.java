package io.trtllm.runtime.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * Weight-only INT8 / INT4 projections of many rows on the tensor cores (kernels.cu's {@code mixgemm_i8_l},
 * {@code mixgemm_i8_s}, {@code mixgemm_i4_l}, {@code mixgemm_i4_s}; TensorRT-LLM's W8A16 / W4A16 mixed-input GEMM):
 * {@code out[rows × outDim] (f32) (+)= in[rows × inDim] (wt) · dequant(W)[outDim × inDim]ᵀ}, the weights read as
 * stored and dequantized in registers right before the mma, instead of {@link Projections}' dequantization into a
 * 16-bit scratch for cuBLAS (which writes and reads twice the quantized bytes again every pass).
 *
 * <p>Every weight is dequantized to {@code wt((float) q · s)}, what the scratch holds, so the products are the
 * scratch path's and only the order of the F32 additions differs. A block owns whole output elements and runs the
 * columns in order: a row's outputs do not depend on the other rows, their number or the tile (kernels.cu).
 *
 * <p>Passes of at most {@value #SPLIT_MAX_ROWS} rows split the columns over several blocks ({@link #splits}) whose
 * sums {@code mixgemm_reduce} adds in a fixed order: with few rows there are too few tiles to keep the weight bytes
 * streaming.
 *
 * <p>Opt-in while unmeasured: {@code -D}{@value #PROPERTY}{@code =true} makes {@link Projections} use it for the
 * quantized projections that {@link #applies} and the GEMV does not take.
 */
final class MixedGemm {
    /** System property: whether quantized projections of more rows than the GEMV takes run here (default false). */
    static final String PROPERTY = "trtllm.cuda.mixedGemm";
    /** System property: the most rows of a pass that {@link Projections} gives it (default: any number). */
    static final String MAX_ROWS_PROPERTY = "trtllm.cuda.mixedGemmMaxRows";
    /** Columns of one k step (kernels.cu's MG_BK): in_dim, and for INT4 the group size, are multiples of it. */
    static final int STEP = 32;
    /** Largest grid y (features tiles): CUDA's limit. */
    static final int MAX_GRID_Y = 65_535;
    /** Rows from which {@link Tile#LARGE} is chosen: with fewer, it leaves most SMs idle on the 8B's shapes. */
    static final int LARGE_FROM_ROWS = 512;

    /** A block's tile: {@code features} weight rows × {@code rows} activation rows, {@code threads} threads. */
    enum Tile {
        /** 128 × 128, 8 warps, 4 stages: reuse of every loaded weight over 128 activation rows. */
        LARGE("_l", 128, 128, 256, 4),
        /**
         * 64 × 64, 4 warps, 6 stages: four times the blocks and more steps in flight for the passes of few rows, where
         * the weight bytes bound the time.
         */
        SMALL("_s", 64, 64, 128, 6);

        final String suffix;
        final int features;
        final int rows;
        final int threads;
        /** Steps of shared memory, all but one loading while one is computed (kernels.cu's MG_STAGES). */
        final int stages;

        Tile(String suffix, int features, int rows, int threads, int stages) {
            this.suffix = suffix;
            this.features = features;
            this.rows = rows;
            this.threads = threads;
            this.stages = stages;
        }

        /** Blocks along x: activation-row tiles ({@code rows ≥ 1}), without int overflow. */
        int gridX(int activationRows) {
            return (int) (((long) activationRows + rows - 1) / rows);
        }

        /** Blocks along y: feature tiles. */
        int gridY(int outDim) {
            return (int) (((long) outDim + features - 1) / features);
        }

        /**
         * Static shared memory of a block (kernels.cu's xs, ws, ss): {@code stages × (rows × 64 + features × (32 |
         * 16) + scales)} bytes, at most the 48 KiB that need no opt-in.
         */
        int sharedBytes(DeviceMatrix.Format format) {
            int weightRow = format == DeviceMatrix.Format.INT8 ? 32 : 16;
            int scales = format == DeviceMatrix.Format.INT4 ? features : 0;  // int8: ss unused, not allocated
            return stages * (rows * 64 + features * weightRow + scales * Float.BYTES);
        }
    }

    /** Passes of at most this many rows split the columns over blocks ({@link #splits}); more rows never split. */
    static final int SPLIT_MAX_ROWS = 256;
    /** Blocks the split aims at: ≈ 4 resident {@link Tile#SMALL} blocks on each of an H100's 132 SMs. */
    static final int SPLIT_TARGET_BLOCKS = 512;
    /** Most splits of a projection's columns. */
    static final int MAX_SPLITS = 16;
    /**
     * The split sums' workspace: {@code splits × rows × outDim} floats, below 64 MiB for every shape ({@link #splits}:
     * a split count s ≥ 2 needs fewer than 512 feature tiles of 64, so {@code s · outDim < 65,536}, times at most
     * {@value #SPLIT_MAX_ROWS} rows of 4 bytes).
     */
    static final long WORKSPACE_BYTES = 64L << 20;

    private final KernelModule kernels;
    /** [int8, int4][large, small]. */
    private final CUfunc_st[][] functions = new CUfunc_st[2][2];
    private final CUfunc_st reduce;
    /** Device address of {@link #WORKSPACE_BYTES} for the split sums. */
    private final long workspace;

    /** The kernels of {@code kernels}, with {@code workspace} ({@link #WORKSPACE_BYTES} of device memory, not owned). */
    MixedGemm(KernelModule kernels, long workspace) {
        this.kernels = kernels;
        this.workspace = workspace;
        this.reduce = kernels.function("mixgemm_reduce");
        for (Tile tile : Tile.values()) {
            functions[0][tile.ordinal()] = kernels.function(name(DeviceMatrix.Format.INT8, tile));
            functions[1][tile.ordinal()] = kernels.function(name(DeviceMatrix.Format.INT4, tile));
        }
    }

    /** Whether {@link Projections} turns it on: the system property {@value #PROPERTY}. */
    static boolean enabledByProperty() {
        return Boolean.parseBoolean(System.getProperty(PROPERTY, "false"));
    }

    /** The kernel of {@code format} and {@code tile}, e.g. {@code mixgemm_i4_l}. */
    static String name(DeviceMatrix.Format format, Tile tile) {
        return switch (format) {
            case INT8 -> "mixgemm_i8";
            case INT4 -> "mixgemm_i4";
            case FLOAT, FP8 -> throw new IllegalArgumentException("the mixed-input GEMM takes INT8 and INT4, not " + format);
        } + tile.suffix;
    }

    /**
     * Whether the kernel takes {@code rows} rows of {@code in} through {@code w} into {@code out}: INT8 or INT4, at
     * least one row, columns in whole {@value #STEP}-column steps, INT4 groups of whole steps (one scale a step),
     * weights and input 16-byte aligned, scales and output 4-byte aligned, the feature tiles within the grid's y
     * limit. Llama-3.1-8B's (4,096 and 14,336 columns, groups of 128) and stories15M's (288 and 768, groups of 96
     * and 128) shapes fit.
     */
    static boolean applies(DeviceMatrix w, int rows, long in, long out) {
        DeviceMatrix.Format f = w.format();
        if ((f != DeviceMatrix.Format.INT8 && f != DeviceMatrix.Format.INT4) || rows < 1) {
            return false;
        }
        return w.cols() % STEP == 0 && (f != DeviceMatrix.Format.INT4 || w.groupSize() % STEP == 0)
                && w.weights() % 16 == 0 && in % 16 == 0 && w.scales() % 4 == 0 && out % 4 == 0
                && Tile.SMALL.gridY(w.rows()) <= MAX_GRID_Y;
    }

    /** The tile for {@code rows} rows: {@link Tile#LARGE} from {@value #LARGE_FROM_ROWS}, else {@link Tile#SMALL}. */
    static Tile tile(int rows) {
        return rows >= LARGE_FROM_ROWS ? Tile.LARGE : Tile.SMALL;
    }

    /**
     * How many blocks share a projection's {@code inDim / STEP} k steps ({@code kernels.cu}'s gridDim.z): 1 above
     * {@value #SPLIT_MAX_ROWS} rows; else enough for {@value #SPLIT_TARGET_BLOCKS} blocks over the {@link Tile#SMALL}
     * feature tiles, at most {@value #MAX_SPLITS} and the step count. It depends on the row count only through that
     * limit, so that a row is computed the same at every row count on either side of it.
     */
    static int splits(int outDim, int inDim, int rows) {
        if (rows > SPLIT_MAX_ROWS) {
            return 1;
        }
        int tiles = Tile.SMALL.gridY(outDim);
        int wanted = (SPLIT_TARGET_BLOCKS + tiles - 1) / tiles;
        return Math.max(1, Math.min(Math.min(wanted, MAX_SPLITS), inDim / STEP));
    }

    /** Bytes of split sums of a launch: {@code splits × rows × outDim × 4} (0 unsplit). */
    static long workspaceBytes(int outDim, int inDim, int rows) {
        int s = splits(outDim, inDim, rows);
        return s == 1 ? 0 : (long) s * rows * outDim * Float.BYTES;
    }

    /** {@code out[rows × w.rows()] (+)= in · dequant(W)ᵀ} with the tile {@link #tile} picks. */
    void launch(DeviceMatrix w, long in, long out, int rows, boolean accumulate, CUstream_st stream) {
        launch(w, in, out, rows, accumulate, tile(rows), stream);
    }

    /** As {@link #launch(DeviceMatrix, long, long, int, boolean, CUstream_st)} with the given tile (tests, timings). */
    void launch(DeviceMatrix w, long in, long out, int rows, boolean accumulate, Tile tile, CUstream_st stream) {
        if (!applies(w, rows, in, out)) {
            throw new IllegalArgumentException("the mixed-input GEMM does not take " + rows + " rows through a " + w.format()
                    + " matrix of " + w.rows() + " × " + w.cols() + " (groups of " + w.groupSize() + ")");
        }
        int f = w.format() == DeviceMatrix.Format.INT8 ? 0 : 1;
        int splits = splits(w.rows(), w.cols(), rows);
        if (workspaceBytes(w.rows(), w.cols(), rows) > WORKSPACE_BYTES) {
            throw new IllegalStateException("split sums of " + workspaceBytes(w.rows(), w.cols(), rows) + " bytes");
        }
        kernels.args().ptr(w.weights()).ptr(w.scales()).i32(w.groupSize()).ptr(in).ptr(out).i32(w.rows()).i32(w.cols())
                .i32(rows).i32(accumulate ? 1 : 0).ptr(workspace)
                .launch(functions[f][tile.ordinal()], name(w.format(), tile), tile.gridX(rows), tile.gridY(w.rows()),
                        splits, tile.threads, stream);
        if (splits > 1) {
            long count = (long) rows * w.rows();
            int blocks = (int) Math.min((count + 255) / 256, 4096);
            kernels.args().ptr(workspace).ptr(out).i64(count).i32(splits).i32(accumulate ? 1 : 0)
                    .launch(reduce, "mixgemm_reduce", blocks, 1, 256, stream);
        }
    }
}
