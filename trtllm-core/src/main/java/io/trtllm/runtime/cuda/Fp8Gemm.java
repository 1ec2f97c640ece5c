package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.checkBlas;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_A_SCALE_MODE;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_A_SCALE_POINTER;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_B_SCALE_MODE;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_B_SCALE_POINTER;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_FAST_ACCUM;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_TRANSA;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_DESC_TRANSB;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
import static org.bytedeco.cuda.global.cublas.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES;
import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.CUBLAS_STATUS_NOT_SUPPORTED;
import static org.bytedeco.cuda.global.cublas.cublasLtCreate;
import static org.bytedeco.cuda.global.cublas.cublasLtDestroy;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmul;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulAlgoCheck;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulAlgoGetHeuristic;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulDescCreate;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulDescDestroy;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulDescSetAttribute;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulPreferenceCreate;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulPreferenceDestroy;
import static org.bytedeco.cuda.global.cublas.cublasLtMatmulPreferenceSetAttribute;
import static org.bytedeco.cuda.global.cublas.cublasLtMatrixLayoutCreate;
import static org.bytedeco.cuda.global.cublas.cublasLtMatrixLayoutDestroy;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.CUDA_R_8F_E4M3;
import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaStreamIsCapturing;
import static io.trtllm.runtime.cuda.Cuda.check;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * FP8 W8A8 projections through cuBLASLt (TensorRT-LLM's FP8 GEMM): {@code out[rows × outDim] (f32) (+)= 
 * (qx · diag(sx)) · (qW · diag(sW))ᵀ}, E4M3 weights {@code qW} with a scale per output channel (the engine's
 * {@link QuantizedLayout}) times E4M3 activations {@code qx} with a scale per token (quantized by the fused
 * kernels {@code rmsnorm_f8}, {@code silu_mul_f8}, {@code quant_f8}), F32 accumulation and output.
 *
 * <p>The scales: cuBLASLt's outer-vector scale mode ({@code CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F}: a
 * vector of M scales for A, of N for B) applies both in the GEMM's epilogue, the residual added with β = 1.
 * Where this cuBLASLt finds no algorithm for it, the GEMM runs with unit scales into a raw F32 scratch and
 * {@code f8_epilogue} scales it (and adds the residual): one more pass over the output, chosen per shape and
 * logged once. On an H100 with CUDA 13.0 (2026-12-07) it found none for E4M3 × E4M3 → F32 at any shape of the
 * tests: the epilogue ran everywhere (docs/GPU-TESTS.md).
 *
 * <p>Layout: cuBLASLt's FP8 kernels take "TN" only: row-major {@code out = x · Wᵀ} is column-major
 * {@code outᵀ (outDim × rows) = W (k × outDim, op T) · xᵀ (k × rows, op N)}, which is that. Dimensions:
 * {@link #fits} (multiples of 16, 16-byte aligned rows); the caller takes the weight-only path otherwise.
 * Per shape {@code (outDim, inDim, rows, accumulate)}: the matrix layouts and the algorithm, made
 * once and kept; the workspace is the caller's (allocated before any capture), so a pass allocates nothing
 * and may be captured into a CUDA graph once its shapes have run eagerly.
 *
 * <p>The algorithm: chosen by measurement ({@link AlgoChoice}). The first eager call of a shape in a new
 * {@linkplain AlgoChoice#rowBucket row bucket} asks the heuristic for up to {@value AlgoChoice#MAX_CANDIDATES}
 * candidates and times each ({@value #REPEATS} runs after a warm-up, CUDA events, into the call's own output or raw
 * scratch with β = 0, before the real run overwrites it); the fastest is kept for the bucket, and later row
 * counts of the bucket reuse it where {@code cublasLtMatmulAlgoCheck} accepts it for their layouts. Calls under
 * stream capture, accumulating calls without a separate scratch, and {@code profile = false} (the default: system
 * property {@value #PROFILE_PROPERTY}{@code =true} turns measuring on) take the heuristic's first candidate.
 *
 * <p>Accumulation: {@code CUBLASLT_MATMUL_DESC_FAST_ACCUM} on by default (system property {@value #FAST_ACCUM_PROPERTY}
 * {@code =false} turns it off), as TensorRT-LLM's cuBLASLt wrapper sets it for FP8: Hopper's FP8 tensor cores then
 * keep the partial sums in their own accumulator instead of promoting them to F32 registers every few k-steps, which
 * costs the kernel time; the bound the GPU test asserts for it is looser (see {@code CudaFp8GpuTests}).
 *
 * <p>{@link #matmulDeferred}: a projection whose consumer kernel applies the scales itself ({@code silu_mul_f8_raw}
 * after gate|up) gets the unit-scale product, so that the epilogue's extra pass over the output is not made.
 */
final class Fp8Gemm implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Fp8Gemm.class);
    /** Shapes kept at most; beyond, plans are made and dropped per call (prefill passes of unusual sizes). */
    private static final int MAX_PLANS = 4096;
    /** System property turning the measured choice of algorithms on ({@link #profileByDefault}). */
    static final String PROFILE_PROPERTY = "trtllm.cuda.fp8.profile";
    /** Timed runs per candidate algorithm (after one warm-up run). */
    static final int REPEATS = 5;
    /** System property turning cuBLASLt's fast FP8 accumulation off ({@link #fastAccumByDefault}). */
    static final String FAST_ACCUM_PROPERTY = "trtllm.cuda.fp8.fastAccum";

    /** How a shape's scales are applied. */
    enum Scaling {
        /** By cuBLASLt's outer-vector scale mode, in the GEMM. */
        OUTER_VECTOR,
        /** Unit scales in the GEMM, then {@code f8_epilogue}. */
        EPILOGUE
    }

    /** One shape's layouts and algorithm. */
    private record Plan(Scaling scaling, cublasLtMatmulDescOpaque_t desc, cublasLtMatrixLayoutOpaque_t a,
                        cublasLtMatrixLayoutOpaque_t b, cublasLtMatrixLayoutOpaque_t c,
                        cublasLtMatmulHeuristicResult_t algo) {
    }

    private final CUstream_st stream;
    private final KernelModule kernels;
    private final CUfunc_st epilogueFn;
    private final long workspace;
    private final long workspaceBytes;
    private final cublasLtContext lt = new cublasLtContext();
    /** The descriptor with unit scales; null only while constructing. */
    private @Nullable cublasLtMatmulDescOpaque_t unitDesc;
    /** The descriptor with outer-vector scales; null when not tried. */
    private @Nullable cublasLtMatmulDescOpaque_t vectorDesc;
    private @Nullable cublasLtMatmulPreferenceOpaque_t preference;
    private final Map<List<Integer>, Plan> plans = new HashMap<>();
    /** The measured choice by (outDim, inDim, row bucket, scaling): a heuristic result holding the algorithm. */
    private final Map<List<Integer>, cublasLtMatmulHeuristicResult_t> chosen = new HashMap<>();
    private final boolean profile;
    private final boolean fastAccum;
    private @Nullable CUevent_st start;
    private @Nullable CUevent_st stop;
    private int profiled;
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    private final LongPointer address = new LongPointer(1);
    private boolean loggedFallback;
    private long calls;
    private boolean closed;

    /**
     * cuBLASLt on {@code stream} with {@code workspaceBytes} of device memory at {@code workspace} (shared with
     * the stream's other cuBLAS calls, which run in order); {@code tryOuterVector} false forces the epilogue.
     */
    Fp8Gemm(KernelModule kernels, CUstream_st stream, long workspace, long workspaceBytes, boolean tryOuterVector) {
        this(kernels, stream, workspace, workspaceBytes, tryOuterVector, profileByDefault(), fastAccumByDefault());
    }

    /** Whether the FP8 GEMMs accumulate fast unless a caller says otherwise: the system property, default true. */
    static boolean fastAccumByDefault() {
        return !"false".equalsIgnoreCase(System.getProperty(FAST_ACCUM_PROPERTY, "true").strip());
    }

    /**
     * Whether algorithms are chosen by measurement unless a caller says otherwise: the system property
     * {@value #PROFILE_PROPERTY}, default false. Measured on an H100 (2026-12-07, docs/PERFORMANCE.md) the choice
     * gained nothing on the Llama-3.1-8B shapes (0.98–1.00× the heuristic's first on the layer, worse on o at 1–32
     * rows: eager runs of 10 µs GEMMs time the launches more than the kernels); off, a device and cuBLASLt version
     * always run the same algorithm.
     */
    static boolean profileByDefault() {
        return "true".equalsIgnoreCase(System.getProperty(PROFILE_PROPERTY, "false").strip());
    }

    /** As above; {@code profile} false takes the heuristic's first algorithm instead of measuring its candidates. */
    Fp8Gemm(KernelModule kernels, CUstream_st stream, long workspace, long workspaceBytes, boolean tryOuterVector,
            boolean profile) {
        this(kernels, stream, workspace, workspaceBytes, tryOuterVector, profile, fastAccumByDefault());
    }

    /** As above; {@code fastAccum}: cuBLASLt's fast FP8 accumulation (see the class comment). */
    Fp8Gemm(KernelModule kernels, CUstream_st stream, long workspace, long workspaceBytes, boolean tryOuterVector,
            boolean profile, boolean fastAccum) {
        this.profile = profile;
        this.fastAccum = fastAccum;
        this.stream = stream;
        this.kernels = kernels;
        this.epilogueFn = kernels.function("f8_epilogue");
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        boolean ok = false;
        try {
            checkBlas(cublasLtCreate(lt), "cublasLtCreate");
            unitDesc = desc(false);
            vectorDesc = tryOuterVector ? desc(true) : null;
            PointerPointer<?> p = new PointerPointer<>(1);
            checkBlas(cublasLtMatmulPreferenceCreate(p), "cublasLtMatmulPreferenceCreate");
            var pref = new cublasLtMatmulPreferenceOpaque_t(p.get(0));
            preference = pref;
            p.close();
            try (LongPointer bytes = new LongPointer(1).put(workspaceBytes)) {
                checkBlas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, bytes,
                        Long.BYTES), "cublasLtMatmulPreferenceSetAttribute");
            }
            ok = true;
        } finally {
            if (!ok) {
                close();
            }
        }
    }

    /**
     * Whether the FP8 GEMM takes an {@code outDim × inDim} projection: both multiples of 16 (so that every
     * row of codes starts 16-byte aligned, as cuBLASLt's FP8 kernels need).
     */
    static boolean fits(int outDim, int inDim) {
        return outDim > 0 && inDim > 0 && outDim % 16 == 0 && inDim % 16 == 0;
    }

    /** Whether this GEMM accumulates with cuBLASLt's fast FP8 accumulation. */
    boolean fastAccum() {
        return fastAccum;
    }

    /** GEMMs enqueued since construction (for tests: whether a pass took this path). */
    long calls() {
        return calls;
    }

    /** Row buckets and shapes whose algorithm was chosen by timing its candidates (for tests and logs). */
    int profiled() {
        return profiled;
    }

    /** The scaling a shape uses (making its plan, without measuring, when new). */
    Scaling scaling(int outDim, int inDim, int rows, boolean accumulate) {
        return plan(outDim, inDim, rows, accumulate, null).scaling();
    }

    /** A call's device operands, for timing candidate algorithms on them. */
    private record Operands(long weights, long weightScales, long in, long inScales, long out, long raw) {
    }

    /**
     * Enqueues {@code out[rows × w.rows()] (+)= (in · diag(inScales)) · (W · diag(w.scales()))ᵀ} with
     * {@code in} {@code rows × w.cols()} E4M3 codes and {@code inScales} {@code rows} F32 scales;
     * {@code raw} a scratch of {@code rows × w.rows()} F32 values for the epilogue path (it may be
     * {@code out} when not accumulating).
     */
    void matmul(DeviceMatrix w, long in, long inScales, long out, int rows, boolean accumulate, long raw) {
        if (w.format() != DeviceMatrix.Format.FP8 || !fits(w.rows(), w.cols()) || rows < 1 || in % 16 != 0
                || w.weights() % 16 != 0) {
            throw new IllegalArgumentException("the FP8 GEMM does not take " + rows + " rows through a " + w.format()
                    + " matrix of " + w.rows() + " × " + w.cols());
        }
        Plan plan = plan(w.rows(), w.cols(), rows, accumulate,
                new Operands(w.weights(), w.scales(), in, inScales, out, raw));
        calls++;
        if (plan.scaling() == Scaling.OUTER_VECTOR) {
            setPointer(plan.desc(), CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, w.scales());
            setPointer(plan.desc(), CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, inScales);
            run(plan, w.weights(), in, out, accumulate);
        } else {
            if (accumulate && raw == out) {
                throw new IllegalArgumentException("an accumulating FP8 GEMM needs a raw scratch apart from its output");
            }
            run(plan, w.weights(), in, raw, false);
            kernels.args().ptr(raw).ptr(inScales).ptr(w.scales()).ptr(out).i32(w.rows()).i32(accumulate ? 1 : 0)
                    .launch(epilogueFn, "f8_epilogue", rows, 1, 256, stream);
        }
        if (plans.size() > MAX_PLANS) {
            plans.remove(List.of(w.rows(), w.cols(), rows, accumulate ? 1 : 0));
            destroy(plan);
        }
    }

    /**
     * Enqueues {@code out[rows × w.rows()] = in · Wᵀ} for a consumer that can apply the scales itself: where the
     * shape's scales would go to {@code f8_epilogue} ({@link Scaling#EPILOGUE}), writes the unit-scale product and
     * returns true — the caller multiplies element {@code [r][c]} by {@code inScales[r] · w.scales()[c]}, in that
     * order, as the epilogue does; where cuBLASLt scales ({@link Scaling#OUTER_VECTOR}), writes the scaled product
     * and returns false.
     */
    boolean matmulDeferred(DeviceMatrix w, long in, long inScales, long out, int rows) {
        if (w.format() != DeviceMatrix.Format.FP8 || !fits(w.rows(), w.cols()) || rows < 1 || in % 16 != 0
                || w.weights() % 16 != 0) {
            throw new IllegalArgumentException("the FP8 GEMM does not take " + rows + " rows through a " + w.format()
                    + " matrix of " + w.rows() + " × " + w.cols());
        }
        Plan plan = plan(w.rows(), w.cols(), rows, false,
                new Operands(w.weights(), w.scales(), in, inScales, out, out));
        if (plan.scaling() == Scaling.OUTER_VECTOR) {
            matmul(w, in, inScales, out, rows, false, out);
            return false;
        }
        calls++;
        run(plan, w.weights(), in, out, false);
        if (plans.size() > MAX_PLANS) {
            plans.remove(List.of(w.rows(), w.cols(), rows, 0));
            destroy(plan);
        }
        return true;
    }

    private void run(Plan plan, long a, long b, long d, boolean accumulate) {
        checkBlas(cublasLtMatmul(lt, plan.desc(), one, at(a), plan.a(), at(b), plan.b(), accumulate ? one : zero, at(d),
                plan.c(), at(d), plan.c(), plan.algo().algo(), at(workspace), workspaceBytes, stream), "cublasLtMatmul");
    }

    private void setPointer(cublasLtMatmulDescOpaque_t desc, int attribute, long device) {
        address.put(device);
        checkBlas(cublasLtMatmulDescSetAttribute(desc, attribute, address, Long.BYTES), "cublasLtMatmulDescSetAttribute");
    }

    private Plan plan(int outDim, int inDim, int rows, boolean accumulate, @Nullable Operands ops) {
        List<Integer> key = List.of(outDim, inDim, rows, accumulate ? 1 : 0);
        Plan plan = plans.get(key);
        if (plan == null) {
            plan = makePlan(outDim, inDim, rows, accumulate, ops);
            plans.put(key, plan);
        }
        return plan;
    }

    private Plan makePlan(int outDim, int inDim, int rows, boolean accumulate, @Nullable Operands ops) {
        cublasLtMatrixLayoutOpaque_t a = layout(CUDA_R_8F_E4M3, inDim, outDim, inDim);
        cublasLtMatrixLayoutOpaque_t b = layout(CUDA_R_8F_E4M3, inDim, rows, inDim);
        cublasLtMatrixLayoutOpaque_t c = layout(CUDA_R_32F, outDim, rows, outDim);
        cublasLtMatmulDescOpaque_t vector = vectorDesc;
        if (vector != null) {
            cublasLtMatmulHeuristicResult_t algo = heuristic(vector, a, b, c);
            if (algo != null) {
                return new Plan(Scaling.OUTER_VECTOR, vector, a, b, c,
                        choose(Scaling.OUTER_VECTOR, vector, a, b, c, outDim, inDim, rows, accumulate, algo, ops));
            }
            if (!loggedFallback) {
                loggedFallback = true;
                LOG.info("cuBLASLt has no FP8 algorithm with outer-vector scales for {} × {} × {} rows: scaling in a "
                        + "separate epilogue kernel for such shapes", outDim, inDim, rows);
            }
        }
        cublasLtMatmulHeuristicResult_t algo = heuristic(Objects.requireNonNull(unitDesc), a, b, c);
        if (algo == null) {
            throw new CudaException("cuBLASLt has no FP8 E4M3 algorithm for " + outDim + " × " + inDim + " × " + rows
                    + " rows on this device", CUBLAS_STATUS_NOT_SUPPORTED, false);
        }
        return new Plan(Scaling.EPILOGUE, Objects.requireNonNull(unitDesc), a, b, c,
                choose(Scaling.EPILOGUE, Objects.requireNonNull(unitDesc), a, b, c, outDim, inDim, rows, accumulate, algo, ops));
    }

    /**
     * The algorithm for a new plan: {@code first} (the heuristic's pick) unless measuring applies; then the bucket's
     * known choice if cuBLASLt accepts it for these layouts, else the fastest candidate, kept for the bucket.
     */
    private cublasLtMatmulHeuristicResult_t choose(Scaling scaling, cublasLtMatmulDescOpaque_t desc,
                                                   cublasLtMatrixLayoutOpaque_t a, cublasLtMatrixLayoutOpaque_t b,
                                                   cublasLtMatrixLayoutOpaque_t c, int outDim, int inDim, int rows,
                                                   boolean accumulate, cublasLtMatmulHeuristicResult_t first,
                                                   @Nullable Operands ops) {
        if (!profile || ops == null || capturing()) {
            return first;
        }
        // where candidates may write (β = 0): the raw scratch, or the output when the call overwrites it anyway
        long dst = scaling == Scaling.EPILOGUE ? ops.raw() : accumulate ? (ops.raw() != ops.out() ? ops.raw() : 0) : ops.out();
        if (dst == 0) {
            return first;
        }
        List<Integer> bucket = List.of(outDim, inDim, AlgoChoice.rowBucket(rows), scaling.ordinal());
        cublasLtMatmulHeuristicResult_t known = chosen.get(bucket);
        if (known != null) {
            cublasLtMatmulHeuristicResult_t checked = new cublasLtMatmulHeuristicResult_t();
            int status = cublasLtMatmulAlgoCheck(lt, desc, a, b, c, c, known.algo(), checked);
            if (status == 0 && checked.workspaceSize() <= workspaceBytes) {
                checked.algo(known.algo());
                first.close();
                return checked;
            }
            checked.close();
            return first;
        }
        if (scaling == Scaling.OUTER_VECTOR) {
            setPointer(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, ops.weightScales());
            setPointer(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, ops.inScales());
        }
        cublasLtMatmulHeuristicResult_t candidates = new cublasLtMatmulHeuristicResult_t(AlgoChoice.MAX_CANDIDATES);
        try (IntPointer found = new IntPointer(1)) {
            int status = cublasLtMatmulAlgoGetHeuristic(lt, desc, a, b, c, c, Objects.requireNonNull(preference),
                    AlgoChoice.MAX_CANDIDATES, candidates, found);
            int n = status == 0 ? Math.min(found.get(), AlgoChoice.MAX_CANDIDATES) : 0;
            int best = AlgoChoice.fastest(n, i -> time(desc, a, b, c, candidates.getPointer(i), ops.weights(), ops.in(), dst));
            if (best < 0) {
                return first;
            }
            profiled++;
            cublasLtMatmulHeuristicResult_t keep = copy(candidates.getPointer(best));
            if (chosen.size() < MAX_PLANS) {
                chosen.put(bucket, copy(keep));
            }
            LOG.debug("cuBLASLt FP8 {} × {} × {} rows ({}): candidate {} of {} by measurement", outDim, inDim, rows, scaling,
                    best, n);
            first.close();
            return keep;
        } finally {
            candidates.close();
        }
    }

    /** A heuristic result of its own (the struct's fields copied by value). */
    private static cublasLtMatmulHeuristicResult_t copy(cublasLtMatmulHeuristicResult_t r) {
        return new cublasLtMatmulHeuristicResult_t().algo(r.algo()).workspaceSize(r.workspaceSize()).state(r.state())
                .wavesCount(r.wavesCount());
    }

    /** µs per run of one candidate algorithm into {@code dst} (β = 0); NaN when it does not run. */
    private double time(cublasLtMatmulDescOpaque_t desc, cublasLtMatrixLayoutOpaque_t a, cublasLtMatrixLayoutOpaque_t b,
                        cublasLtMatrixLayoutOpaque_t c, cublasLtMatmulHeuristicResult_t candidate, long weights, long in,
                        long dst) {
        if (candidate.state() != 0 || candidate.workspaceSize() > workspaceBytes) {
            return Double.NaN;
        }
        CUevent_st begin = start;
        CUevent_st end = stop;
        if (begin == null || end == null) {
            begin = new CUevent_st();
            end = new CUevent_st();
            check(cudaEventCreate(begin), "cudaEventCreate");
            check(cudaEventCreate(end), "cudaEventCreate");
            start = begin;
            stop = end;
        }
        if (cublasLtMatmul(lt, desc, one, at(weights), a, at(in), b, zero, at(dst), c, at(dst), c, candidate.algo(),
                at(workspace), workspaceBytes, stream) != 0) {
            return Double.NaN;  // warm-up; a candidate that does not launch is skipped
        }
        check(cudaEventRecord(begin, stream), "cudaEventRecord");
        for (int r = 0; r < REPEATS; r++) {
            checkBlas(cublasLtMatmul(lt, desc, one, at(weights), a, at(in), b, zero, at(dst), c, at(dst), c, candidate.algo(),
                    at(workspace), workspaceBytes, stream), "cublasLtMatmul");
        }
        check(cudaEventRecord(end, stream), "cudaEventRecord");
        check(cudaEventSynchronize(end), "cudaEventSynchronize");
        try (FloatPointer ms = new FloatPointer(1)) {
            check(cudaEventElapsedTime(ms, begin, end), "cudaEventElapsedTime");
            return ms.get() * 1000.0 / REPEATS;
        }
    }

    /** Whether the stream is being captured into a graph (no synchronizing, no timing then). */
    private boolean capturing() {
        try (IntPointer status = new IntPointer(1)) {
            check(cudaStreamIsCapturing(stream, status), "cudaStreamIsCapturing");
            return status.get() != 0;
        }
    }

    private @Nullable cublasLtMatmulHeuristicResult_t heuristic(cublasLtMatmulDescOpaque_t desc,
                                                                cublasLtMatrixLayoutOpaque_t a,
                                                                cublasLtMatrixLayoutOpaque_t b,
                                                                cublasLtMatrixLayoutOpaque_t c) {
        cublasLtMatmulHeuristicResult_t result = new cublasLtMatmulHeuristicResult_t();
        try (IntPointer found = new IntPointer(1)) {
            int status = cublasLtMatmulAlgoGetHeuristic(lt, desc, a, b, c, c, Objects.requireNonNull(preference), 1,
                    result, found);
            if (status != 0 || found.get() < 1) {
                result.close();
                return null;
            }
        }
        return result;
    }

    private cublasLtMatmulDescOpaque_t desc(boolean vectorScales) {
        PointerPointer<?> p = new PointerPointer<>(1);
        checkBlas(cublasLtMatmulDescCreate(p, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
        var desc = new cublasLtMatmulDescOpaque_t(p.get(0));
        p.close();
        setInt(desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
        setInt(desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
        try (BytePointer fast = new BytePointer(1).put((byte) (fastAccum ? 1 : 0))) {  // an int8_t attribute
            checkBlas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, fast, 1),
                    "cublasLtMatmulDescSetAttribute");
        }
        if (vectorScales) {
            setInt(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F);
            setInt(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F);
        }
        return desc;
    }

    private static void setInt(cublasLtMatmulDescOpaque_t desc, int attribute, int value) {
        try (IntPointer v = new IntPointer(1).put(value)) {
            checkBlas(cublasLtMatmulDescSetAttribute(desc, attribute, v, Integer.BYTES), "cublasLtMatmulDescSetAttribute");
        }
    }

    private cublasLtMatrixLayoutOpaque_t layout(int type, long rows, long cols, long ld) {
        PointerPointer<?> p = new PointerPointer<>(1);
        checkBlas(cublasLtMatrixLayoutCreate(p, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        var layout = new cublasLtMatrixLayoutOpaque_t(p.get(0));
        p.close();
        return layout;
    }

    private void destroy(Plan plan) {
        cublasLtMatrixLayoutDestroy(plan.a());
        cublasLtMatrixLayoutDestroy(plan.b());
        cublasLtMatrixLayoutDestroy(plan.c());
        plan.algo().close();
    }

    /** Destroys the layouts, descriptors and the cuBLASLt handle; idempotent. The workspace is the caller's. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Plan plan : plans.values()) {
            destroy(plan);
        }
        plans.clear();
        for (cublasLtMatmulHeuristicResult_t r : chosen.values()) {
            r.close();
        }
        chosen.clear();
        if (start != null) {
            cudaEventDestroy(start);
        }
        if (stop != null) {
            cudaEventDestroy(stop);
        }
        if (unitDesc != null) {
            cublasLtMatmulDescDestroy(unitDesc);
        }
        if (vectorDesc != null) {
            cublasLtMatmulDescDestroy(vectorDesc);
        }
        if (preference != null) {
            cublasLtMatmulPreferenceDestroy(preference);
        }
        if (!lt.isNull()) {
            cublasLtDestroy(lt);
            lt.setNull();
        }
        one.close();
        zero.close();
        address.close();
    }
}
