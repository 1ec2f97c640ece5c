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
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.jspecify.annotations.Nullable;

/**
 * The projections of a {@link CudaModelRunner} pass, {@code out (f32) = in (bf16) · Wᵀ (bf16)}: cuBLAS
 * GEMMs with F32 accumulation, or, for decode passes of at most {@link Gemv#MAX_ROWS} rows, the
 * bandwidth-bound {@link Gemv} kernel (gate|up and SiLU·up fused into one launch). Owns the cuBLAS
 * handle and its workspace.
 */
final class Projections implements AutoCloseable {
    private static final long WORKSPACE_BYTES = 32L << 20;

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
    /**
     * Whether the pass being enqueued may use {@link #gemv}: passes whose every chunk is one token with
     * one logits row (decode). A prompt's rows go through cuBLAS whatever their number, so that a prompt
     * alone and a prompt batched with others are computed by the same kernels; decode rows are computed
     * the same by the GEMV at any row count up to its limit. (A one-token chunk of a prompt — a one-token
     * prompt, or the last token after a cached prefix — looks like decode and takes the GEMV when its pass
     * is all such chunks.)
     */
    private boolean gemvPass;
    private boolean closed;

    /** Projections on {@code stream} over weights of {@code weightType} (BF16 or F16). */
    Projections(DType weightType, KernelModule kernels, CUstream_st stream, DeviceMemory memory) {
        this.stream = stream;
        this.memory = memory;
        this.type = weightType == DType.F16 ? CUDA_R_16F : CUDA_R_16BF;
        long ws = 0;
        boolean ok = false;
        try {
            checkBlas(cublasCreate_v2(blas), "cublasCreate");
            checkBlas(cublasSetStream_v2(blas, stream), "cublasSetStream");
            ws = memory.alloc(WORKSPACE_BYTES, "the cuBLAS workspace");
            checkBlas(cublasSetWorkspace_v2(blas, at(ws), WORKSPACE_BYTES), "cublasSetWorkspace");
            this.gemv = Gemv.enabled() ? new Gemv(kernels) : null;
            ok = true;
        } finally {
            this.workspace = ws;
            if (!ok) {
                close();
            }
        }
    }

    /** Lets the passes enqueued from now on use the GEMV (decode passes) or not (see {@link #gemvPass}). */
    void gemvPass(boolean decode) {
        gemvPass = decode;
    }

    /** For the runner's description: " (GEMV up to 8 rows)", or "" when the GEMV is off. */
    String gemvNote() {
        return gemv != null ? " (GEMV up to " + Gemv.MAX_ROWS + " rows)" : "";
    }

    /**
     * {@code out[rows × outDim] (f32) = in[rows × inDim] (bf16|f16) · W[outDim × inDim]ᵀ (bf16|f16)}, plus
     * {@code out} when accumulating (the residual add): the {@link Gemv} kernel for few rows, else
     * cuBLAS. Row-major here is column-major transposed for cuBLAS: {@code outᵀ = W · inᵀ}.
     */
    void gemm(long w, long in, long out, int outDim, int inDim, int rows, boolean accumulate) {
        if (gemv != null && gemvPass && Gemv.applies(rows, inDim, w, in)) {
            gemv.launch(w, in, out, outDim, inDim, rows, accumulate ? Gemv.ACCUMULATE : Gemv.STORE, stream);
            return;
        }
        checkBlas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, outDim, rows, inDim, one, at(w), type, inDim,
                at(in), type, inDim, accumulate ? one : zero, at(out), CUDA_R_32F, outDim,
                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    /**
     * {@code hidden = bf16(silu(in·Wgᵀ) * in·Wuᵀ)} of {@code rows} rows in one fused GEMV launch, with
     * {@code wGateUp = [Wg; Wu]}, when the GEMV takes it; false when it does not (then the caller runs the
     * gate|up GEMM and silu_mul).
     */
    boolean swiglu(long wGateUp, long in, long hidden, int inter, int dim, int rows) {
        if (gemv != null && gemvPass && Gemv.applies(rows, dim, wGateUp, in)) {
            gemv.launch(wGateUp, in, hidden, inter, dim, rows, Gemv.SWIGLU, stream);
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
        if (!blas.isNull()) {
            cublasDestroy_v2(blas);
            blas.setNull();
        }
        memory.free(workspace);
        one.close();
        zero.close();
    }
}
