package io.trtllm.runtime.cuda;

import io.trtllm.model.TensorConversion;
import static io.trtllm.runtime.cpu.ArchitectureParityTests.fixture;
import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static io.trtllm.runtime.cuda.Cuda.checkBlas;
import static org.assertj.core.api.Assertions.assertThat;
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
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemset;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;

import io.trtllm.engine.EngineCache;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.runtime.cpu.ArchitectureParityTests.Reference;
import io.trtllm.runtime.cpu.PanelLayout;
import io.trtllm.runtime.cuda.CudaArchitectureParityGpuTests.Diff;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GEMV kernel ({@link Gemv}, kernels.cu's {@code gemv_R}) on the GPU: against cuBLAS and a
 * float64 reference on random BF16 matrices of the shapes it runs on (Llama-3.1-8B's projections,
 * stories15M's, the tiny parity fixtures', odd ones: output rows not a multiple of the tile, one
 * 16-byte vector per row, an uneven split over the threads), 1 to 8 rows, stored and accumulated; the
 * fused SwiGLU against the GEMV + silu_mul and cuBLAS + silu_mul; then µs per call and GB/s of both
 * on the 8B shapes; the runner's decode with the kernel on the parity fixtures against transformers;
 * and stories15M's decode pass with it and without. Needs an NVIDIA GPU (tag {@code gpu}).
 *
 * <p>Tolerance against the float64 reference: products of BF16 values are exact in F32, and a result
 * is rounded along {@code n = 8·⌈vectors/threads⌉ + 5 + warps + 1} additions (a thread's share, the
 * warp shuffle, the block's warps, the residual), so {@code |gemv − exact| ≤ n·2⁻²⁴·(|residual| +
 * Σ|w·x|)} (to first order); asserted per output on 40 sampled outputs of every row, and recorded
 * next to cuBLAS's own error. Against cuBLAS on whole outputs, a check for gross errors (cuBLAS has
 * rounding errors of its own): {@code max |gemv − cuBLAS| ≤ 1e-3 · max |cuBLAS|} per case.
 *
 * <p>Timing: each measurement is {@value #CALLS} calls captured as one CUDA graph, cycling over
 * enough copies of the weights that they come from memory, not the 50 MB L2; the median of
 * {@value #REPEATS} replays. GB/s counts the bytes the operation must move: weights, activations,
 * outputs (read too when accumulating).
 */
@Tag("gpu")
class CudaGemvGpuTests {
    static final int CALLS = 50;
    static final int REPEATS = 7;
    /** Weight copies cycled through in timings: at least this many bytes (5× an H100's L2). */
    static final long TIMING_BYTES = 256L << 20;
    static final int SAMPLES = 40;

    /** One projection: {@code outDim × inDim} weights; {@code accumulate} as the runner calls it. */
    record Shape(String name, int outDim, int inDim, boolean accumulate) {
        long weightBytes() {
            return (long) outDim * inDim * Short.BYTES;
        }
    }

    /** A model's projections and its MLP width (for silu_mul, which the module compiles for INTER). */
    record Model(String name, int inter, int dim, List<Shape> shapes) {
    }

    static final Model LLAMA8B = new Model("llama-3.1-8b", 14336, 4096, List.of(
            new Shape("qkv", 6144, 4096, false), new Shape("o", 4096, 4096, true),
            new Shape("gate_up", 28672, 4096, false), new Shape("down", 4096, 14336, true),
            new Shape("lm head", 128256, 4096, false)));
    static final Model STORIES15M = new Model("stories15M", 768, 288, List.of(
            new Shape("qkv", 864, 288, false), new Shape("o", 288, 288, true), new Shape("gate_up", 1536, 288, false),
            new Shape("down", 288, 768, true), new Shape("lm head", 32000, 288, false)));
    static final Model TINY = new Model("tiny fixtures", 128, 64, List.of(
            new Shape("qkv", 128, 64, false), new Shape("qkv (qwen3)", 256, 64, false), new Shape("o", 64, 64, true),
            new Shape("o (qwen3)", 64, 128, true), new Shape("gate_up", 256, 64, false), new Shape("down", 64, 128, true),
            new Shape("lm head", 256, 64, false)));
    static final Model ODD = new Model("odd", 5, 24, List.of(
            new Shape("1x8", 1, 8, false), new Shape("3x24", 3, 24, true), new Shape("1001x72", 1001, 72, false),
            new Shape("37x4104", 37, 4104, true), new Shape("gate_up 10x24", 10, 24, false)));

    @Test
    void gemvMatchesCublasAndAFloat64ReferenceOnEveryShape() {
        try (Device d = new Device()) {
            for (Model m : List.of(ODD, TINY, STORIES15M, LLAMA8B)) {
                try (KernelModule kernels = d.module(m.inter())) {
                    Gemv gemv = new Gemv(kernels);
                    for (Shape s : m.shapes()) {
                        checkShape(d, gemv, m, s);
                    }
                    checkSwiglu(d, gemv, kernels, m);
                }
            }
        }
    }

    /** Every row count, stored and accumulated, against cuBLAS (whole outputs) and float64 (samples). */
    private static void checkShape(Device d, Gemv gemv, Model m, Shape s) {
        int out = s.outDim();
        int in = s.inDim();
        int maxRows = Gemv.MAX_ROWS;
        long w = d.alloc(s.weightBytes());
        long x = d.alloc((long) maxRows * in * Short.BYTES);
        long residual = d.alloc((long) maxRows * out * Float.BYTES);
        long outGemv = d.alloc((long) (maxRows + 1) * out * Float.BYTES);
        long outBlas = d.alloc((long) maxRows * out * Float.BYTES);
        long seed = (long) out * 31 + in;
        d.uploadBf16(w, (long) out * in, seed);
        d.uploadBf16(x, (long) maxRows * in, seed + 1);
        d.uploadF32(residual, (long) maxRows * out, seed + 2);
        float[] xs = d.floatsOfBf16(x, maxRows * in);
        float[] res = d.floats(residual, maxRows * out);

        // float64 sums of the sampled outputs, and Σ|w·x| as their scale
        int[] sampled = IntStream.range(0, SAMPLES).map(i -> (int) ((long) i * (out - 1) / (SAMPLES - 1))).distinct().toArray();
        double[][] exact = new double[maxRows][sampled.length];
        double[][] scale = new double[maxRows][sampled.length];
        for (int i = 0; i < sampled.length; i++) {
            float[] row = d.floatsOfBf16(w + (long) sampled[i] * in * Short.BYTES, in);
            for (int r = 0; r < maxRows; r++) {
                for (int k = 0; k < in; k++) {
                    double p = (double) row[k] * xs[r * in + k];
                    exact[r][i] += p;
                    scale[r][i] += Math.abs(p);
                }
            }
        }
        int threads = Gemv.threads(in);
        int additions = 8 * ((in / 8 + threads - 1) / threads) + 5 + threads / 32 + 1;
        double bound = additions * 0x1p-24;

        double worstVsBlas = 0;
        double worstGemv = 0;
        double worstBlas = 0;
        for (int rows = 1; rows <= maxRows; rows++) {
            for (boolean accumulate : new boolean[] {false, true}) {
                check(cudaMemset(at(outGemv), 0xff, (long) (maxRows + 1) * out * Float.BYTES), "cudaMemset");
                if (accumulate) {
                    d.copy(outGemv, residual, (long) rows * out * Float.BYTES);
                    d.copy(outBlas, residual, (long) rows * out * Float.BYTES);
                }
                gemv.launch(w, x, outGemv, out, in, rows, accumulate ? Gemv.ACCUMULATE : Gemv.STORE, d.stream);
                d.cublas(w, x, outBlas, out, in, rows, accumulate);
                d.sync();
                float[] g = d.floats(outGemv, (rows + 1) * out);
                float[] b = d.floats(outBlas, rows * out);
                String what = String.format("%s %s %dx%d, %d rows%s", m.name(), s.name(), out, in, rows,
                        accumulate ? ", accumulate" : "");
                int written = 0;
                for (int n = 0; n < out; n++) {
                    written += Float.floatToRawIntBits(g[rows * out + n]) != -1 ? 1 : 0;
                }
                assertThat(written).as("%s: outputs written in row %d, past the rows", what, rows).isZero();
                double maxDiff = 0;
                double maxAbs = 0;
                int nonFinite = 0;
                for (int i = 0; i < rows * out; i++) {
                    nonFinite += Float.isFinite(g[i]) ? 0 : 1;
                    maxDiff = Math.max(maxDiff, Math.abs(g[i] - b[i]));
                    maxAbs = Math.max(maxAbs, Math.abs(b[i]));
                }
                assertThat(nonFinite).as("%s: outputs not finite", what).isZero();
                worstVsBlas = Math.max(worstVsBlas, maxDiff / maxAbs);
                assertThat(maxDiff).as("%s: max |gemv - cuBLAS| against max |cuBLAS| %s", what, maxAbs)
                        .isLessThanOrEqualTo(1e-3 * maxAbs);
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < sampled.length; i++) {
                        int n = sampled[i];
                        double base = accumulate ? res[r * out + n] : 0;
                        double ref = base + exact[r][i];
                        double sc = Math.abs(base) + scale[r][i];
                        double eg = Math.abs(g[r * out + n] - ref) / sc;
                        double eb = Math.abs(b[r * out + n] - ref) / sc;
                        worstGemv = Math.max(worstGemv, eg);
                        worstBlas = Math.max(worstBlas, eb);
                        assertThat(eg).as("%s: row %d output %d error against float64, relative to |residual| + Σ|w·x|",
                                what, r, n).isLessThanOrEqualTo(bound);
                    }
                }
            }
        }
        GpuResults.record("gemv %s %s %dx%d, rows 1-8, store and accumulate: max |gemv - cuBLAS| / max |cuBLAS| %.1e;"
                        + " error vs float64 / (|residual| + sum |w x|): gemv %.1e, cuBLAS %.1e (bound %.1e)", m.name(), s.name(),
                out, in, worstVsBlas, worstGemv, worstBlas, bound);
        d.free(w, x, residual, outGemv, outBlas);
    }

    /** The fused gate|up + SiLU·up: bit for bit the GEMV then silu_mul, and close to cuBLAS then silu_mul. */
    private static void checkSwiglu(Device d, Gemv gemv, KernelModule kernels, Model m) {
        CUfunc_st siluMul = kernels.function("silu_mul");
        int inter = m.inter();
        int dim = m.dim();
        int maxRows = Gemv.MAX_ROWS;
        long w = d.alloc(2L * inter * dim * Short.BYTES);
        long x = d.alloc((long) maxRows * dim * Short.BYTES);
        long gateUp = d.alloc((long) maxRows * 2 * inter * Float.BYTES);
        long fused = d.alloc((long) (maxRows + 1) * inter * Short.BYTES);
        long unfused = d.alloc((long) maxRows * inter * Short.BYTES);
        long viaBlas = d.alloc((long) maxRows * inter * Short.BYTES);
        d.uploadBf16(w, 2L * inter * dim, 7);
        d.uploadBf16(x, (long) maxRows * dim, 8);
        double worst = 0;
        for (int rows = 1; rows <= maxRows; rows++) {
            check(cudaMemset(at(fused), 0xff, (long) (maxRows + 1) * inter * Short.BYTES), "cudaMemset");
            gemv.launch(w, x, fused, inter, dim, rows, Gemv.SWIGLU, d.stream);
            gemv.launch(w, x, gateUp, 2 * inter, dim, rows, Gemv.STORE, d.stream);
            kernels.args().ptr(gateUp).ptr(unfused).launch(siluMul, "silu_mul", rows, 1, 256, d.stream);
            d.cublas(w, x, gateUp, 2 * inter, dim, rows, false);
            kernels.args().ptr(gateUp).ptr(viaBlas).launch(siluMul, "silu_mul", rows, 1, 256, d.stream);
            d.sync();
            short[] f = d.shorts(fused, (rows + 1) * inter);
            short[] u = d.shorts(unfused, rows * inter);
            short[] b = d.shorts(viaBlas, rows * inter);
            String what = String.format("%s swiglu %dx%d, %d rows", m.name(), 2 * inter, dim, rows);
            assertThat(Arrays.copyOf(f, rows * inter)).as("%s: fused equals gemv + silu_mul", what).containsExactly(u);
            int written = 0;
            for (int i = rows * inter; i < (rows + 1) * inter; i++) {
                written += f[i] != (short) -1 ? 1 : 0;
            }
            assertThat(written).as("%s: outputs written in row %d, past the rows", what, rows).isZero();
            double maxDiff = 0;
            double maxAbs = 0;
            int nonFinite = 0;
            for (int i = 0; i < rows * inter; i++) {
                float fv = Float.intBitsToFloat(f[i] << 16);
                float bv = Float.intBitsToFloat(b[i] << 16);
                nonFinite += Float.isFinite(fv) ? 0 : 1;
                maxDiff = Math.max(maxDiff, Math.abs(fv - bv));
                maxAbs = Math.max(maxAbs, Math.abs(bv));
            }
            assertThat(nonFinite).as("%s: outputs not finite", what).isZero();
            worst = Math.max(worst, maxDiff / maxAbs);
            assertThat(maxDiff).as("%s: max |fused - cuBLAS + silu_mul|", what).isLessThanOrEqualTo(1e-2 * maxAbs);
        }
        GpuResults.record("gemv %s swiglu %dx%d, rows 1-8: equal to gemv + silu_mul bit for bit; max |fused - (cuBLAS +"
                + " silu_mul)| / max |.| %.1e (bf16 outputs)", m.name(), 2 * inter, dim, worst);
        d.free(w, x, gateUp, fused, unfused, viaBlas);
    }

    /**
     * µs per call and GB/s of the GEMV and cuBLAS on the 8B projections at 1 to 8 rows (o and down
     * accumulating, as the runner calls them; gate_up also fused with SiLU against cuBLAS + silu_mul),
     * a decode step's projections added up, and up to how many rows the GEMV wins on all of them.
     */
    @Test
    void recordsTimesAgainstCublasOnLlama8bShapes() {
        Model m = LLAMA8B;
        try (Device d = new Device(); KernelModule kernels = d.module(m.inter())) {
            Gemv gemv = new Gemv(kernels);
            CUfunc_st siluMul = kernels.function("silu_mul");
            int maxRows = Gemv.MAX_ROWS;
            long x = d.alloc((long) maxRows * m.inter() * Short.BYTES);
            long out = d.alloc((long) maxRows * 128256 * Float.BYTES);
            long hidden = d.alloc((long) maxRows * m.inter() * Short.BYTES);
            d.uploadBf16(x, (long) maxRows * m.inter(), 3);
            check(cudaMemset(at(out), 0, (long) maxRows * 128256 * Float.BYTES), "cudaMemset");
            // µs per call by operation (the 5 projections + the fused MLP input) and row count
            Map<String, double[]> gemvTimes = new LinkedHashMap<>();
            Map<String, double[]> blasTimes = new LinkedHashMap<>();
            for (Shape s : m.shapes()) {
                int copies = (int) Math.max(1, (TIMING_BYTES + s.weightBytes() - 1) / s.weightBytes());
                long[] w = new long[copies];
                w[0] = d.alloc(s.weightBytes());
                d.uploadBf16(w[0], (long) s.outDim() * s.inDim(), s.outDim());
                for (int c = 1; c < copies; c++) {
                    w[c] = d.alloc(s.weightBytes());
                    d.copy(w[c], w[0], s.weightBytes());
                }
                boolean swiglu = s.name().equals("gate_up");
                double[] tg = new double[maxRows + 1];
                double[] tb = new double[maxRows + 1];
                double[] tgs = new double[maxRows + 1];
                double[] tbs = new double[maxRows + 1];
                for (int rows = 1; rows <= maxRows; rows++) {
                    int r = rows;
                    int mode = s.accumulate() ? Gemv.ACCUMULATE : Gemv.STORE;
                    tg[r] = d.micros(i -> gemv.launch(w[i % copies], x, out, s.outDim(), s.inDim(), r, mode, d.stream));
                    tb[r] = d.micros(i -> d.cublas(w[i % copies], x, out, s.outDim(), s.inDim(), r, s.accumulate()));
                    long bytes = s.weightBytes() + (long) r * s.inDim() * Short.BYTES
                            + (long) r * s.outDim() * Float.BYTES * (s.accumulate() ? 2 : 1);
                    GpuResults.record("gemv timing %s %s %dx%d, %d rows%s: gemv %.1f us (%.0f GB/s), cuBLAS %.1f us (%.0f GB/s),"
                                    + " x%.2f", m.name(), s.name(), s.outDim(), s.inDim(), r, s.accumulate() ? ", accumulate" : "",
                            tg[r], bytes / tg[r] / 1e3, tb[r], bytes / tb[r] / 1e3, tb[r] / tg[r]);
                    if (swiglu) {
                        int inter = s.outDim() / 2;
                        tgs[r] = d.micros(i -> gemv.launch(w[i % copies], x, hidden, inter, s.inDim(), r, Gemv.SWIGLU, d.stream));
                        tbs[r] = d.micros(i -> {
                            d.cublas(w[i % copies], x, out, s.outDim(), s.inDim(), r, false);
                            kernels.args().ptr(out).ptr(hidden).launch(siluMul, "silu_mul", r, 1, 256, d.stream);
                        });
                        long fusedBytes = s.weightBytes() + (long) r * s.inDim() * Short.BYTES + (long) r * inter * Short.BYTES;
                        GpuResults.record("gemv timing %s gate_up + silu, %d rows: fused gemv %.1f us (%.0f GB/s), cuBLAS +"
                                        + " silu_mul %.1f us (%.0f GB/s), x%.2f", m.name(), r, tgs[r], fusedBytes / tgs[r] / 1e3,
                                tbs[r], fusedBytes / tbs[r] / 1e3, tbs[r] / tgs[r]);
                    }
                }
                gemvTimes.put(s.name(), tg);
                blasTimes.put(s.name(), tb);
                if (swiglu) {
                    gemvTimes.put("mlp in", tgs);
                    blasTimes.put("mlp in", tbs);
                }
                d.free(w);
            }
            // A decode step's projections: 32 layers of qkv, o, gate_up + silu, down; the LM head.
            int fasterUpTo = 0;
            for (int r = 1; r <= maxRows; r++) {
                double g = 32 * (gemvTimes.get("qkv")[r] + gemvTimes.get("o")[r] + gemvTimes.get("mlp in")[r]
                        + gemvTimes.get("down")[r]) + gemvTimes.get("lm head")[r];
                double b = 32 * (blasTimes.get("qkv")[r] + blasTimes.get("o")[r] + blasTimes.get("mlp in")[r]
                        + blasTimes.get("down")[r]) + blasTimes.get("lm head")[r];
                GpuResults.record("gemv timing %s decode step's projections, %d rows: gemv %.2f ms (at most %.0f steps/s),"
                        + " cuBLAS %.2f ms (%.0f steps/s)", m.name(), r, g / 1e3, 1e6 / g, b / 1e3, 1e6 / b);
                boolean faster = true;
                for (String op : List.of("qkv", "o", "mlp in", "down", "lm head")) {  // what a decode step runs
                    faster &= gemvTimes.get(op)[r] < blasTimes.get(op)[r];
                }
                if (faster && fasterUpTo == r - 1) {
                    fasterUpTo = r;
                }
            }
            GpuResults.record("gemv cut-off: Gemv.MAX_ROWS = %d; the GEMV beats cuBLAS on every projection of a %s decode"
                    + " step (qkv, o, gate_up + silu, down, lm head) at 1 to %d rows", Gemv.MAX_ROWS, m.name(), fasterUpTo);
        }
    }

    /**
     * The runner's GEMV path end to end: the prompt of each parity fixture fed one token per pass (the
     * GEMV at 1 row, CUDA graphs on), its logits against transformers within the parity tolerance; then
     * three sequences in one eager pass per token (3 rows, run by gemv_4), each bit for bit equal to the
     * sequence alone (a row's sums do not depend on the row count).
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "mistral", "qwen2", "qwen3"})
    void tokenByTokenLogitsMatchTransformersAndDoNotDependOnTheRowCount(String arch) throws IOException {
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        int vocab = config.vocabSize();
        int[] prompt = ref.promptIds();
        int blocks = (prompt.length + 3) / 4;
        float[] alone = new float[prompt.length * vocab];
        float[][] batched = new float[3][prompt.length * vocab];
        try (var weights = Checkpoint.open(dir)) {
            try (var runner = new CudaModelRunner(config, weights, (a, p) -> new KvCacheSpec(4 * blocks, 4), 0)) {
                assertThat(runner.description()).contains("GEMV");
                int[] table = IntStream.range(0, blocks).map(b -> blocks - 1 - b).toArray();
                for (int pos = 0; pos < prompt.length; pos++) {
                    float[] row = runner.forward(Batch.of(new SequenceChunk(new int[] {prompt[pos]}, pos, table,
                            LogitsMode.LAST))).logits(0);
                    System.arraycopy(row, 0, alone, pos * vocab, vocab);
                }
            }
            System.setProperty("trtllm.cuda.graphs", "false");
            try (var runner = new CudaModelRunner(config, weights, (a, p) -> new KvCacheSpec(4 * blocks, 4), 0)) {
                for (int pos = 0; pos < prompt.length; pos++) {
                    List<SequenceChunk> chunks = new ArrayList<>();
                    for (int s = 0; s < 3; s++) {
                        int seq = s;
                        int[] table = IntStream.range(0, blocks).map(b -> b * 3 + seq).toArray();
                        chunks.add(new SequenceChunk(new int[] {prompt[pos]}, pos, table, LogitsMode.LAST));
                    }
                    ForwardResult rows = runner.forward(new Batch(chunks));
                    for (int s = 0; s < 3; s++) {
                        System.arraycopy(rows.logits(s), 0, batched[s], pos * vocab, vocab);
                    }
                }
            } finally {
                System.clearProperty("trtllm.cuda.graphs");
            }
        }
        Diff d = CudaArchitectureParityGpuTests.diff(alone, ref.logits(), vocab, 0);
        int equal = 0;
        for (float[] b : batched) {
            equal += Arrays.equals(b, alone) ? 1 : 0;
        }
        GpuResults.record("gemv runner %s, prompt token by token: logits rel L2 %.2e, max |diff| %.3f, top-1 equal %d/%d"
                + " vs transformers; 3 rows in one pass equal to 1 row bit for bit: %d/3", arch, d.relL2(), d.maxAbs(),
                d.argmaxEqual(), d.rows(), equal);
        CudaArchitectureParityGpuTests.assertWithinTolerance(d);
        for (float[] b : batched) {
            assertThat(b).containsExactly(alone);
        }
    }

    /**
     * stories15M's decode pass with the GEMV and with cuBLAS (graphs on, argmax on the device, 1 and 8
     * sequences at positions 64..191): µs per pass, and how far the last step's logits rows differ.
     */
    @Test
    void runnerDecodeWithAndWithoutGemv() {
        String model = System.getProperty("trtllm.gpu.model");
        Assumptions.assumeTrue(model != null, "trtllm.gpu.model is not set");
        try (var lease = EngineCache.openPrebuilt(Path.of(model))) {
            ModelConfig config = lease.config().modelConfig();
            Map<String, float[]> lastLogits = new LinkedHashMap<>();
            for (boolean on : new boolean[] {true, false}) {
                System.setProperty("trtllm.cuda.gemv", Boolean.toString(on));
                try (var runner = new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(64 * 8, 32), 0)) {
                    for (int batch : new int[] {1, 8}) {
                        for (LogitsMode mode : new LogitsMode[] {LogitsMode.ARGMAX, LogitsMode.LAST}) {
                            int steps = 128;
                            ForwardResult outs = null;
                            long elapsed = 0;
                            for (int round = 0; round < 2; round++) {  // the first warms up and captures graphs
                                long start = System.nanoTime();
                                for (int step = 0; step < steps; step++) {
                                    List<SequenceChunk> chunks = new ArrayList<>();
                                    for (int s = 0; s < batch; s++) {
                                        int seq = s;
                                        int[] table = IntStream.range(0, 8).map(b -> seq * 8 + b).toArray();
                                        chunks.add(new SequenceChunk(new int[] {(step * 7 + s) % 1000 + 10}, 64 + step, table, mode));
                                    }
                                    outs = runner.forward(new Batch(chunks));
                                }
                                elapsed = System.nanoTime() - start;
                            }
                            GpuResults.record("gemv runner stories15M decode, GEMV %s, %d sequences, %s: %.1f us per pass",
                                    on ? "on" : "off", batch, mode, elapsed / (double) steps / 1e3);
                            if (mode == LogitsMode.LAST) {
                                lastLogits.put(on + "/" + batch, outs.logits(batch - 1));
                            }
                        }
                    }
                } finally {
                    System.clearProperty("trtllm.cuda.gemv");
                }
            }
            for (int batch : new int[] {1, 8}) {
                float[] a = lastLogits.get("true/" + batch);
                float[] b = lastLogits.get("false/" + batch);
                double num = 0;
                double den = 0;
                for (int i = 0; i < a.length; i++) {
                    num += (double) (a[i] - b[i]) * (a[i] - b[i]);
                    den += (double) b[i] * b[i];
                }
                double relL2 = Math.sqrt(num / den);
                GpuResults.record("gemv runner stories15M, %d sequences: last step's logits with GEMV vs cuBLAS rel L2 %.1e,"
                        + " argmax %s", batch, relL2, argmax(a) == argmax(b) ? "equal" : "different");
                assertThat(relL2).isLessThan(CudaArchitectureParityGpuTests.REL_L2_TOL);
            }
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    // ---- random values ----

    /** Element {@code i} of stream {@code seed}: uniform in [-1, 1) (SplitMix64). */
    static float uniform(long seed, long i) {
        long z = seed * 0x632BE59BD9B4E019L + i * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 40) * 0x1p-23f - 1f;
    }

    /** A stream, a cuBLAS handle with its workspace, and the test's device allocations. */
    static final class Device implements AutoCloseable {
        private static final long CHUNK = 16L << 20;
        final CUstream_st stream = new CUstream_st();
        final cublasContext blas = new cublasContext();
        private final FloatPointer one = new FloatPointer(1f);
        private final FloatPointer zero = new FloatPointer(0f);
        private final Set<Long> allocations = new LinkedHashSet<>();
        private final Arena arena = Arena.ofShared();
        private final MemorySegment staging = arena.allocate(CHUNK * Float.BYTES, 64);

        Device() {
            check(cudaSetDevice(0), "cudaSetDevice");
            check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
            checkBlas(cublasCreate_v2(blas), "cublasCreate");
            checkBlas(cublasSetStream_v2(blas, stream), "cublasSetStream");
            long workspace = alloc(32L << 20);
            checkBlas(cublasSetWorkspace_v2(blas, at(workspace), 32L << 20), "cublasSetWorkspace");
        }

        /**
         * kernels.cu compiled for a model of MLP width {@code inter} (silu_mul's INTER); the GEMV takes
         * its shape as arguments, the other macros only have to be consistent.
         */
        KernelModule module(int inter) {
            return new KernelModule(CudaDevice.query(0).smArch(), List.of("DIM=64", "HEAD_DIM=16", "N_HEADS=4",
                    "N_KV_HEADS=2", "INTER=" + inter, "EPS=1e-5f", "WINDOW=0", "HAS_QKV_BIAS=0", "HAS_QK_NORM=0",
                    "KV_BF16=1"));
        }

        long alloc(long bytes) {
            Pointer p = new Pointer();
            check(cudaMalloc(p, Math.max(bytes, 256)), "cudaMalloc(" + bytes + " bytes)");
            allocations.add(p.address());
            return p.address();
        }

        void free(long... addresses) {
            sync();
            for (long a : addresses) {
                if (allocations.remove(a)) {
                    cudaFree(at(a));
                }
            }
        }

        /** {@code n} BF16 values of stream {@code seed}, uniform in [-1, 1), to {@code dst}. */
        void uploadBf16(long dst, long n, long seed) {
            for (long from = 0; from < n; from += CHUNK) {
                long start = from;
                long count = Math.min(CHUNK, n - from);
                IntStream.range(0, 64).parallel().forEach(part -> {
                    for (long i = count * part / 64; i < count * (part + 1) / 64; i++) {
                        staging.setAtIndex(ValueLayout.JAVA_SHORT, i, TensorConversion.toBfloat16(uniform(seed, start + i)));
                    }
                });
                check(cudaMemcpy(at(dst + from * Short.BYTES), at(staging.address()), count * Short.BYTES,
                        cudaMemcpyHostToDevice), "cudaMemcpy");
            }
        }

        /** {@code n} F32 values of stream {@code seed}, uniform in [-1, 1), to {@code dst}. */
        void uploadF32(long dst, long n, long seed) {
            for (long from = 0; from < n; from += CHUNK) {
                long count = Math.min(CHUNK, n - from);
                for (long i = 0; i < count; i++) {
                    staging.setAtIndex(ValueLayout.JAVA_FLOAT, i, uniform(seed, from + i));
                }
                check(cudaMemcpy(at(dst + from * Float.BYTES), at(staging.address()), count * Float.BYTES,
                        cudaMemcpyHostToDevice), "cudaMemcpy");
            }
        }

        void copy(long dst, long src, long bytes) {
            check(cudaMemcpy(at(dst), at(src), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy");
        }

        float[] floats(long src, int n) {
            float[] out = new float[n];
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate((long) n * Float.BYTES, 64);
                check(cudaMemcpy(at(host.address()), at(src), host.byteSize(), cudaMemcpyDeviceToHost), "cudaMemcpy");
                MemorySegment.copy(host, ValueLayout.JAVA_FLOAT, 0, out, 0, n);
            }
            return out;
        }

        short[] shorts(long src, int n) {
            short[] out = new short[n];
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate((long) n * Short.BYTES, 64);
                check(cudaMemcpy(at(host.address()), at(src), host.byteSize(), cudaMemcpyDeviceToHost), "cudaMemcpy");
                MemorySegment.copy(host, ValueLayout.JAVA_SHORT, 0, out, 0, n);
            }
            return out;
        }

        float[] floatsOfBf16(long src, int n) {
            short[] s = shorts(src, n);
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = Float.intBitsToFloat(s[i] << 16);
            }
            return out;
        }

        /** The runner's cuBLAS call: {@code out (+)= in · Wᵀ}. */
        void cublas(long w, long in, long out, int outDim, int inDim, int rows, boolean accumulate) {
            checkBlas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, outDim, rows, inDim, one, at(w), CUDA_R_16BF, inDim,
                    at(in), CUDA_R_16BF, inDim, accumulate ? one : zero, at(out), CUDA_R_32F, outDim,
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
        }

        void sync() {
            check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
        }

        /** Median µs per call of {@code launch(i)}, i = 0..CALLS-1 captured as one CUDA graph. */
        double micros(IntConsumer launch) {
            launch.accept(0);  // cuBLAS picks and loads its kernel outside the capture
            sync();
            CUgraph_st graph = new CUgraph_st();
            CUgraphExec_st exec = new CUgraphExec_st();
            check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
            try {
                for (int i = 0; i < CALLS; i++) {
                    launch.accept(i);
                }
            } finally {
                check(cudaStreamEndCapture(stream, graph), "cudaStreamEndCapture");
            }
            try {
                check(cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate");
            } finally {
                cudaGraphDestroy(graph);
            }
            try {
                check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
                sync();
                double[] times = new double[REPEATS];
                for (int r = 0; r < REPEATS; r++) {
                    long start = System.nanoTime();
                    check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
                    sync();
                    times[r] = (System.nanoTime() - start) / 1e3 / CALLS;
                }
                Arrays.sort(times);
                return times[REPEATS / 2];
            } finally {
                cudaGraphExecDestroy(exec);
            }
        }

        @Override
        public void close() {
            cudaStreamSynchronize(stream);
            for (long a : allocations) {
                cudaFree(at(a));
            }
            allocations.clear();
            cublasDestroy_v2(blas);
            cudaStreamDestroy(stream);
            one.close();
            zero.close();
            arena.close();
        }
    }
}
