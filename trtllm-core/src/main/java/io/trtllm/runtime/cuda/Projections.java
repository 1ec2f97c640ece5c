package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.checkBlas;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSetWorkspace_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16F;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;

import io.trtllm.model.DType;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.jspecify.annotations.Nullable;

/**
 * The projections of a {@link CudaModelRunner} pass, {@code out (f32) = in (bf16) · Wᵀ (bf16)}: cuBLAS
 * GEMMs with F32 accumulation, or, for decode passes of at most {@link Gemv#MAX_ROWS} rows, the
 * bandwidth-bound {@link Gemv} kernel (gate|up and SiLU·up fused into one launch). Weight-only
 * quantized matrices ({@link DeviceMatrix.Format#INT8}, {@link DeviceMatrix.Format#INT4}) take the
 * {@link QuantGemv} in decode passes, and otherwise are dequantized to the 16-bit type into a scratch,
 * slice by slice, for the same cuBLAS GEMM (the simplest correct prefill), or, with
 * {@code -D}{@value MixedGemm#PROPERTY}{@code =true}, go through {@link MixedGemm}, which dequantizes its tiles
 * on the way into the tensor cores and writes no scratch. Owns the cuBLAS handle, its workspace and the scratch.
 */
final class Projections implements AutoCloseable {
    private static final long WORKSPACE_BYTES = 32L << 20;
    /** Largest dequantization scratch: 64 MiB, 32 M 16-bit values (an 8B model's gate|up is 117 M values). */
    static final long MAX_SCRATCH_BYTES = 64L << 20;

    private final CUstream_st stream;
    private final DeviceMemory memory;
    private final cublasContext blas = new cublasContext();
    private final long workspace;
    /** {@code CUDA_R_16BF} or {@code CUDA_R_16F}: the weights and the GEMMs' inputs. */
    private final int type;
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    /** The projections of passes of few rows; null when turned off ({@code trtllm.cuda.gemv=false}). */
    private final @Nullable Gemv gemv;
    /** The GEMV of quantized weights; null when the GEMV is off. */
    private final @Nullable QuantGemv quantGemv;
    private final KernelModule kernels;
    private final CUfunc_st dequantI8;
    private final CUfunc_st dequantI4;
    private final CUfunc_st dequantF8;
    /** The mixed-input GEMM for INT8 / INT4 passes the GEMV does not take; null: the scratch path ({@link MixedGemm#PROPERTY}). */
    private final @Nullable MixedGemm mixed;
    /**
     * Most rows a pass may have for {@link #mixed} ({@link MixedGemm#MAX_ROWS_PROPERTY}, default unlimited): cuBLAS's
     * BF16 kernels may beat it where the GEMM is bound by the tensor cores, not by the weight bytes.
     */
    private final int mixedMaxRows = Integer.getInteger(MixedGemm.MAX_ROWS_PROPERTY, Integer.MAX_VALUE);
    /** {@link MixedGemm#WORKSPACE_BYTES} for {@link #mixed}'s split sums; 0 without it. */
    private long mixedWorkspace;
    /** 16-bit values that quantized weights are dequantized into for cuBLAS; 0 until {@link #reserveScratch}. */
    private long scratch;
    private long scratchElements;
    /**
     * Whether the pass being enqueued may use {@link #gemv}: passes whose every chunk is one token with
     * one logits row (decode). A prompt's rows go through cuBLAS whatever their number, so that a prompt
     * alone and a prompt batched with others are computed by the same kernels; decode rows are computed
     * the same by the GEMV at any row count up to its limit. (A one-token chunk of a prompt — a one-token
     * prompt, or the last token after a cached prefix — looks like decode and takes the GEMV when its pass
     * is all such chunks.)
     */
    private boolean gemvPass;
    /** FP8 W8A8 GEMMs of FP8 matrices ({@link #enableFp8Gemm}); null: FP8 matrices are weight-only. */
    private @Nullable Fp8Gemm fp8;
    /** Whether decode passes the quantized GEMV takes stay weight-only when {@link #fp8} is on. */
    private boolean fp8GemvRows;
    private boolean closed;

    /** Projections on {@code stream} over weights of {@code weightType} (BF16 or F16). */
    Projections(DType weightType, KernelModule kernels, CUstream_st stream, DeviceMemory memory, boolean useGemv) {
        this.stream = stream;
        this.memory = memory;
        this.type = weightType == DType.F16 ? CUDA_R_16F : CUDA_R_16BF;
        this.kernels = kernels;
        this.dequantI8 = kernels.function("dequant_i8");
        this.dequantI4 = kernels.function("dequant_i4");
        this.dequantF8 = kernels.function("dequant_f8");
        long ws = 0;
        boolean ok = false;
        try {
            checkBlas(cublasCreate_v2(blas), "cublasCreate");
            checkBlas(cublasSetStream_v2(blas, stream), "cublasSetStream");
            ws = memory.alloc(WORKSPACE_BYTES, "the cuBLAS workspace");
            checkBlas(cublasSetWorkspace_v2(blas, at(ws), WORKSPACE_BYTES), "cublasSetWorkspace");
            this.gemv = useGemv ? new Gemv(kernels) : null;
            this.quantGemv = useGemv ? new QuantGemv(kernels) : null;
            if (MixedGemm.enabledByProperty()) {
                mixedWorkspace = memory.alloc(MixedGemm.WORKSPACE_BYTES, "the mixed-input GEMM's split sums");
                this.mixed = new MixedGemm(kernels, mixedWorkspace);
            } else {
                this.mixed = null;
            }
            ok = true;
        } finally {
            this.workspace = ws;
            if (!ok) {
                close();
            }
        }
    }

    /**
     * From now on, FP8 matrices whose shape {@link Fp8Gemm#fits} are multiplied as W8A8 through cuBLASLt
     * ({@link #takesFp8}): in every pass when {@code gemvRows} is false, else in every pass but the decode passes
     * that the weight-only FP8 GEMV takes (at most {@link Gemv#MAX_ROWS} rows). Measured on an H100
     * (docs/PERFORMANCE.md): in the runner's layer chain the weight-only GEMV beat W8A8 2.3× at 1 row (95 vs 217 µs)
     * and tied it at 8, while from 16 rows the dequantizing prefill path loses to W8A8 by far. {@code outerVector}:
     * let cuBLASLt apply the scales where it can (else always the epilogue kernel). Call before the first pass.
     */
    void enableFp8Gemm(boolean outerVector, boolean gemvRows) {
        if (fp8 == null) {
            fp8 = new Fp8Gemm(kernels, stream, workspace, WORKSPACE_BYTES, outerVector);
        }
        fp8GemvRows = gemvRows;
    }

    /** The FP8 GEMM, or null when not enabled. */
    @Nullable Fp8Gemm fp8Gemm() {
        return fp8;
    }

    /**
     * Whether {@code w}'s projection of {@code rows} rows in the pass being enqueued is an FP8 W8A8 GEMM
     * ({@link #gemmFp8}, its input E4M3 codes and per-token scales) rather than {@link #gemm} (16-bit input).
     */
    boolean takesFp8(DeviceMatrix w, int rows) {
        return takesFp8(fp8 != null, fp8GemvRows && quantGemv != null && gemvPass, w, rows);
    }

    /**
     * The rule of {@link #takesFp8}: W8A8 {@code enabled}, {@code w} an FP8 matrix the GEMM {@link Fp8Gemm#fits}, and
     * not a pass of at most {@link Gemv#MAX_ROWS} rows that stays with the weight-only GEMV ({@code gemvRows}: the
     * mode leaves such decode passes to the GEMV, the GEMV is on and the pass is one it may take).
     */
    static boolean takesFp8(boolean enabled, boolean gemvRows, DeviceMatrix w, int rows) {
        return enabled && w.format() == DeviceMatrix.Format.FP8 && Fp8Gemm.fits(w.rows(), w.cols()) && rows > 0
                && !(gemvRows && rows <= Gemv.MAX_ROWS);
    }

    /**
     * {@code out[rows × w.rows()] (f32) (+)= in · Wᵀ} with {@code in} E4M3 codes and per-token F32 scales (see
     * {@link Fp8Gemm#matmul}; {@code raw}: an F32 scratch of {@code rows × w.rows()}, may be {@code out} when
     * not accumulating). The caller has checked {@link #takesFp8}.
     */
    void gemmFp8(DeviceMatrix w, long in, long inScales, long out, int rows, boolean accumulate, long raw) {
        Fp8Gemm f = fp8;
        if (f == null) {
            throw new IllegalStateException("the FP8 GEMM is not enabled");
        }
        f.matmul(w, in, inScales, out, rows, accumulate, raw);
    }

    /**
     * {@code out = in · Wᵀ} for a consumer that applies the scales itself ({@link Fp8Gemm#matmulDeferred}): true
     * when {@code out} holds the unit-scale product (scale element {@code [r][c]} by {@code inScales[r] ·
     * w.scales()[c]}), false when it holds the scaled one. The caller has checked {@link #takesFp8}.
     */
    boolean gemmFp8Deferred(DeviceMatrix w, long in, long inScales, long out, int rows) {
        Fp8Gemm f = fp8;
        if (f == null) {
            throw new IllegalStateException("the FP8 GEMM is not enabled");
        }
        return f.matmulDeferred(w, in, inScales, out, rows);
    }

    /** Lets the passes enqueued from now on use the GEMV (decode passes) or not (see {@link #gemvPass}). */
    void gemvPass(boolean decode) {
        gemvPass = decode;
    }

    /**
     * For the runner's description: " (GEMV up to 8 rows)", or "" when the GEMV is off; plus ", mixed-input GEMM" when
     * {@link MixedGemm#PROPERTY} is on.
     */
    String gemvNote() {
        return (gemv != null ? " (GEMV up to " + Gemv.MAX_ROWS + " rows)" : "") + (mixed != null ? ", mixed-input GEMM" : "");
    }

    /**
     * {@code out[rows × outDim] (f32) = in[rows × inDim] (bf16|f16) · W[outDim × inDim]ᵀ (bf16|f16)}, plus
     * {@code out} when accumulating (the residual add): the {@link Gemv} kernel for few rows, else
     * cuBLAS. Row-major here is column-major transposed for cuBLAS: {@code outᵀ = W · inᵀ}.
     */
    void gemm(DeviceMatrix w, long in, long out, int outDim, int inDim, int rows, boolean accumulate) {
        if (w.rows() != outDim || w.cols() != inDim) {
            throw new IllegalArgumentException("a " + w.rows() + " × " + w.cols() + " matrix for a projection " + inDim
                    + " -> " + outDim);
        }
        if (w.quantized()) {
            if (quantGemv != null && gemvPass && QuantGemv.applies(rows, w, in)) {
                quantGemv.launch(w, in, out, outDim, rows, accumulate ? Gemv.ACCUMULATE : Gemv.STORE, stream);
            } else if (mixed != null && rows <= mixedMaxRows && MixedGemm.applies(w, rows, in, out)) {
                mixed.launch(w, in, out, rows, accumulate, stream);
            } else {
                dequantizedGemm(w, in, out, rows, accumulate);
            }
            return;
        }
        if (gemv != null && gemvPass && Gemv.applies(rows, inDim, w.weights(), in)) {
            gemv.launch(w.weights(), in, out, outDim, inDim, rows, accumulate ? Gemv.ACCUMULATE : Gemv.STORE, stream);
            return;
        }
        blasGemm(w.weights(), in, out, outDim, outDim, inDim, rows, accumulate);
    }

    /** {@code out[rows × ldOut] (f32, the first outDim columns) (+)= in · Wᵀ}, W {@code outDim × inDim} 16-bit at {@code w}. */
    private void blasGemm(long w, long in, long out, int outDim, int ldOut, int inDim, int rows, boolean accumulate) {
        checkBlas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, outDim, rows, inDim, one, at(w), type, inDim,
                at(in), type, inDim, accumulate ? one : zero, at(out), CUDA_R_32F, ldOut,
                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    /**
     * A quantized projection as cuBLAS takes it: the weights dequantized to the 16-bit type into the
     * scratch, as many output features at a time as it holds, each slice a GEMM into its columns of
     * {@code out} (row-major {@code rows × w.rows()}, so a slice of output features is a column block).
     */
    private void dequantizedGemm(DeviceMatrix w, long in, long out, int rows, boolean accumulate) {
        int cols = w.cols();
        int slice = (int) Math.min(w.rows(), scratchElements / cols);
        if (slice < 1) {
            throw new IllegalStateException("the dequantization scratch of " + scratchElements + " values holds no row of "
                    + cols + " (reserveScratch was not called for this matrix)");
        }
        for (int first = 0; first < w.rows(); first += slice) {
            int n = Math.min(slice, w.rows() - first);
            if (w.format() == DeviceMatrix.Format.INT8) {
                kernels.args().ptr(w.weights()).ptr(w.scales()).ptr(scratch).i64(first).i32(cols)
                        .launch(dequantI8, "dequant_i8", n, 1, 256, stream);
            } else if (w.format() == DeviceMatrix.Format.FP8) {
                kernels.args().ptr(w.weights()).ptr(w.scales()).ptr(scratch).i64(first).i32(cols)
                        .launch(dequantF8, "dequant_f8", n, 1, 256, stream);
            } else {
                kernels.args().ptr(w.weights()).ptr(w.scales()).ptr(scratch).i64(first).i32(cols).i32(w.groupSize())
                        .launch(dequantI4, "dequant_i4", n, 1, 256, stream);
            }
            blasGemm(scratch, in, out + (long) first * Float.BYTES, n, w.rows(), cols, rows, accumulate);
        }
    }

    /**
     * Makes room for dequantizing {@code maxElements} values at a time (the largest quantized matrix),
     * at most {@link #MAX_SCRATCH_BYTES}; larger matrices are dequantized in slices. Call before the
     * first pass: the scratch's address is recorded into CUDA graphs.
     */
    void reserveScratch(long maxElements, int maxCols) {
        long elements = Math.min(maxElements, Math.max(MAX_SCRATCH_BYTES / Short.BYTES, maxCols));
        if (elements <= scratchElements) {
            return;
        }
        memory.free(scratch);
        scratch = 0;
        scratchElements = 0;
        scratch = memory.alloc(elements * Short.BYTES, "the dequantization scratch");
        scratchElements = elements;
    }

    /**
     * {@code hidden = bf16(silu(in·Wgᵀ) * in·Wuᵀ)} of {@code rows} rows in one fused GEMV launch, with
     * {@code wGateUp = [Wg; Wu]}, when the GEMV takes it; false when it does not (then the caller runs the
     * gate|up GEMM and silu_mul).
     */
    boolean swiglu(DeviceMatrix wGateUp, long in, long hidden, int inter, int dim, int rows) {
        if (wGateUp.quantized()) {
            if (quantGemv != null && gemvPass && QuantGemv.applies(rows, wGateUp, in)) {
                quantGemv.launch(wGateUp, in, hidden, inter, rows, Gemv.SWIGLU, stream);
                return true;
            }
            return false;
        }
        if (gemv != null && gemvPass && Gemv.applies(rows, dim, wGateUp.weights(), in)) {
            gemv.launch(wGateUp.weights(), in, hidden, inter, dim, rows, Gemv.SWIGLU, stream);
            return true;
        }
        return false;
    }

    /** Destroys the cuBLAS handle and frees its workspace; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (fp8 != null) {
            fp8.close();
        }
        if (!blas.isNull()) {
            cublasDestroy_v2(blas);
            blas.setNull();
        }
        memory.free(workspace);
        memory.free(scratch);
        memory.free(mixedWorkspace);
        one.close();
        zero.close();
    }
}
