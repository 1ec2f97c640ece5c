package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cpu.ArchitectureParityTests.fixture;
import static io.trtllm.runtime.cpu.ArchitectureParityTests.scrambledBlocks;
import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.assertj.core.api.Assertions.assertThat;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineLease;
import io.trtllm.model.DType;
import io.trtllm.model.Fp8;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.TensorConversion;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.runtime.cpu.ArchitectureParityTests.Reference;
import io.trtllm.runtime.cuda.CudaArchitectureParityGpuTests.Diff;
import io.trtllm.runtime.cuda.CudaQuantizedGpuTests.Quantized;
import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.IntStream;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * FP8 W8A8 on the GPU (sm_89 or newer): the activation quantization kernels ({@code quant_f8} bit for bit
 * against {@link Fp8#quantizeRow}, the fused {@code rmsnorm_f8} / {@code silu_mul_f8} within FP8's rounding of
 * a float64 reference); {@link Fp8Gemm} (cuBLASLt E4M3, both scalings) against a float64 reference of the very
 * codes and scales on the tiny fixtures', stories15M's and Llama-3.1-8B's shapes, with timings against BF16
 * cuBLAS and the FP8 GEMV; the runner on FP8 W8A8 engines of the tiny fixtures against transformers float32
 * and against the same engine weight-only, decode passes of more than 8 rows replayed as CUDA graphs, and rows
 * computed alone and batched; the FP8 KV cache against a BF16 one. Needs an NVIDIA GPU (tag {@code gpu}).
 *
 * <p>GEMM bound: the products of two E4M3 values are exact in F32, the sums are F32 (cuBLASLt's FP8 kernels
 * accumulate in the tensor cores and promote to F32 at intervals, so the error grows with k faster than a plain
 * F32 sum would), so {@code |gemm − exact| ≤ 2⁻¹²·Σ|p| + 2⁻²²·|residual|} is asserted, a hundred times the F32
 * figure and a thousand times below what a wrong layout or scale gives; with fast accumulation
 * {@link #FAST_ACCUM_BOUND}·Σ|p|; the worst ratio is recorded.
 */
@Tag("gpu")
class CudaFp8GpuTests {
    static final int SAMPLES = 40;
    /**
     * The GEMM bound's factor of {@code Σ|p|} with cuBLASLt's fast FP8 accumulation: the tensor cores' own accumulator
     * keeps fewer bits than F32 (DeepSeek-V3's report measured about 14 on H800), so 2⁻⁸ instead of 2⁻¹² — still
     * far below the O(1) error of a wrong layout or scale; the worst ratio is recorded.
     */
    static final double FAST_ACCUM_BOUND = 0x1p-8;

    record Shape(String name, int outDim, int inDim) {
    }

    static final List<Shape> SHAPES = List.of(
            new Shape("tiny qkv", 128, 64), new Shape("tiny down", 64, 128),
            new Shape("stories15M qkv", 864, 288), new Shape("stories15M gate_up", 1536, 288),
            new Shape("stories15M down", 288, 768),
            new Shape("8B qkv", 6144, 4096), new Shape("8B o", 4096, 4096), new Shape("8B gate_up", 28672, 4096),
            new Shape("8B down", 4096, 14336));

    private static void assumeFp8() {
        Assumptions.assumeTrue(KernelSource.supportsFp8(CudaDevice.query(0).smArch()), "FP8 needs sm_89 or newer");
    }

    /** Runs {@code body} with system property {@code key} set to {@code value}, then clears it. */
    static <T> T withProperty(String key, String value, Supplier<T> body) {
        System.setProperty(key, value);
        try {
            return body.get();
        } finally {
            System.clearProperty(key);
        }
    }

    private static long upload(CudaGemvGpuTests.Device d, MemorySegment host) {
        long dst = d.alloc(host.byteSize());
        check(cudaMemcpy(at(dst), at(host.address()), host.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        return dst;
    }

    private static byte[] bytes(CudaGemvGpuTests.Device d, long src, int n) {
        short[] s = d.shorts(src, (n + 1) / 2);
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            out[i] = (byte) (s[i / 2] >> (8 * (i % 2)));
        }
        return out;
    }

    /**
     * quant_f8 on BF16 rows writes exactly Java's codes and scales: random rows of magnitudes 2⁻²⁰ to 2²⁰, a
     * zero row, and a row of ties and edge values with amax 448 (so that the multiplier is 1 and the hardware's
     * rounding shows: ties to even in the normal and the subnormal range, -0).
     */
    @Test
    void quantF8WritesJavasCodesAndScales() {
        assumeFp8();
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128); Arena arena = Arena.ofShared()) {
            int rows = 64;
            int cols = 4096;
            float[] v = new float[rows * cols];
            for (int r = 2; r < rows; r++) {
                float scale = (float) Math.scalb(1.0, r % 41 - 20);
                for (int c = 0; c < cols; c++) {
                    v[r * cols + c] = bf16(CudaGemvGpuTests.uniform(r, c) * scale);
                }
            }
            float[] edges = {448f, 1.0625f, 1.1875f, 0x1p-10f, 3 * 0x1p-10f, 5 * 0x1p-10f, -0f, 0x1p-6f, 232f, 432f, -300f,
                    -1.0625f, 0x1p-9f, 7 * 0x1p-10f, 17f, 0.1f};
            for (int c = 0; c < cols; c++) {
                v[cols + c] = bf16(edges[c % edges.length]);
            }
            MemorySegment host = arena.allocate((long) rows * cols * Short.BYTES, 64);
            for (int i = 0; i < v.length; i++) {
                host.setAtIndex(ValueLayout.JAVA_SHORT, i, TensorConversion.toBfloat16(v[i]));
            }
            long in = upload(d, host);
            long q = d.alloc((long) rows * cols);
            long scales = d.alloc((long) rows * Float.BYTES);
            CUfunc_st f = kernels.function("quant_f8");
            kernels.args().ptr(in).i32(cols).ptr(q).ptr(scales).launch(f, "quant_f8", rows, 1, 256, d.stream);
            d.sync();
            byte[] codes = bytes(d, q, rows * cols);
            float[] s = d.floats(scales, rows);
            byte[] expected = new byte[rows * cols];
            int wrongCodes = 0;
            int wrongScales = 0;
            for (int r = 0; r < rows; r++) {
                float es = Fp8.quantizeRow(v, r * cols, cols, expected, r * cols);
                if (Float.floatToIntBits(es) != Float.floatToIntBits(s[r])) {
                    wrongScales++;
                }
            }
            for (int i = 0; i < codes.length; i++) {
                if (codes[i] != expected[i]) {
                    wrongCodes++;
                }
            }
            GpuResults.record("quant_f8: %d of %d codes and %d of %d scales differ from Fp8.quantizeRow (edge row: %s)", wrongCodes,
                    codes.length, wrongScales, rows, hex(codes, cols, edges.length));
            assertThat(s[0]).isEqualTo(1f);
            assertThat(wrongScales).isZero();
            assertThat(wrongCodes).isZero();
            d.free(in, q, scales);
        }
    }

    private static float bf16(float v) {
        return Float.intBitsToFloat(TensorConversion.toBfloat16(v) << 16);
    }

    private static String hex(byte[] codes, int from, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(String.format("%02x ", codes[from + i] & 0xff));
        }
        return b.toString().trim();
    }

    /**
     * rmsnorm_f8 and silu_mul_f8 against float64: each decoded value times its row's scale within half an E4M3 step
     * of the exact value (2⁻⁴ relative, 2⁻¹⁰·scale in the subnormal range), plus F32 noise; the scales within 10⁻⁵
     * of amax / 448. Widths: DIM = 64, INTER = 128 (fewer values than threads), stories15M's 288 / 768 (a partial
     * second register of the row) and Llama-3.1-8B's 4,096 / 14,336 (16 and 56 values a thread). And
     * silu_mul_f8_raw on a unit-scale GEMM product equals f8_epilogue followed by silu_mul_f8, codes and scales bit
     * for bit (the runner's gate|up path with and without the folded scales).
     */
    @Test
    void fusedQuantizationKernelsRoundToFp8OfAFloat64Reference() {
        assumeFp8();
        try (var d = new CudaGemvGpuTests.Device()) {
            for (int[] widths : new int[][] {{64, 128, 48}, {288, 768, 24}, {4096, 14336, 12}}) {
                int dim = widths[0];
                int inter = widths[1];
                try (KernelModule kernels = new KernelModule(CudaDevice.query(0).smArch(), List.of("DIM=" + dim, "HEAD_DIM=16",
                        "N_HEADS=4", "N_KV_HEADS=2", "INTER=" + inter, "EPS=1e-5f", "WINDOW=0", "HAS_QKV_BIAS=0",
                        "HAS_QK_NORM=0", "KV_BF16=1"))) {
                    checkFusedKernels(d, kernels, widths[2], dim, inter);
                }
            }
        }
    }

    private static void checkFusedKernels(CudaGemvGpuTests.Device d, KernelModule kernels, int rows, int dim, int inter) {
        long x = d.alloc((long) rows * dim * Float.BYTES);
        long weight = d.alloc((long) dim * Float.BYTES);
        long gateUp = d.alloc((long) rows * 2 * inter * Float.BYTES);
        long q = d.alloc((long) rows * inter);
        long scales = d.alloc((long) rows * Float.BYTES);
        d.uploadF32(x, (long) rows * dim, 5);
        d.uploadF32(weight, dim, 6);
        d.uploadF32(gateUp, (long) rows * 2 * inter, 7);
        float[] xs = d.floats(x, rows * dim);
        float[] ws = d.floats(weight, dim);
        float[] gu = d.floats(gateUp, rows * 2 * inter);

        kernels.args().ptr(x).ptr(weight).ptr(q).ptr(scales).launch(kernels.function("rmsnorm_f8"), "rmsnorm_f8", rows, 1,
                256, d.stream);
        d.sync();
        double[][] ref = new double[rows][dim];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                ss += (double) xs[r * dim + i] * xs[r * dim + i];
            }
            double inv = 1 / Math.sqrt(ss / dim + 1e-5);
            for (int i = 0; i < dim; i++) {
                ref[r][i] = ws[i] * xs[r * dim + i] * inv;
            }
        }
        double worstNorm = checkRows("rmsnorm_f8", ref, bytes(d, q, rows * dim), d.floats(scales, rows));

        kernels.args().ptr(gateUp).ptr(q).ptr(scales).launch(kernels.function("silu_mul_f8"), "silu_mul_f8", rows, 1, 256,
                d.stream);
        d.sync();
        double[][] refH = new double[rows][inter];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < inter; i++) {
                double g = gu[r * 2 * inter + i];
                refH[r][i] = g / (1 + Math.exp(-g)) * gu[r * 2 * inter + inter + i];
            }
        }
        double worstSilu = checkRows("silu_mul_f8", refH, bytes(d, q, rows * inter), d.floats(scales, rows));

        // silu_mul_f8_raw (scales folded, the row scales read from and rewritten to one buffer, as the runner has it)
        // against f8_epilogue into a scratch, then silu_mul_f8.
        long aScales = d.alloc((long) rows * Float.BYTES);
        long wScales = d.alloc(2L * inter * Float.BYTES);
        long scaled = d.alloc((long) rows * 2 * inter * Float.BYTES);
        long q2 = d.alloc((long) rows * inter);
        long scales2 = d.alloc((long) rows * Float.BYTES);
        d.uploadF32(aScales, rows, 8);
        d.uploadF32(wScales, 2L * inter, 9);
        d.copy(scales2, aScales, (long) rows * Float.BYTES);
        kernels.args().ptr(gateUp).ptr(aScales).ptr(wScales).ptr(scaled).i32(2 * inter).i32(0)
                .launch(kernels.function("f8_epilogue"), "f8_epilogue", rows, 1, 256, d.stream);
        kernels.args().ptr(scaled).ptr(q).ptr(scales).launch(kernels.function("silu_mul_f8"), "silu_mul_f8", rows, 1, 256,
                d.stream);
        kernels.args().ptr(gateUp).ptr(scales2).ptr(wScales).ptr(q2).ptr(scales2)
                .launch(kernels.function("silu_mul_f8_raw"), "silu_mul_f8_raw", rows, 1, 256, d.stream);
        d.sync();
        assertThat(bytes(d, q2, rows * inter)).as("silu_mul_f8_raw codes, %d × %d", rows, inter)
                .isEqualTo(bytes(d, q, rows * inter));
        assertThat(d.floats(scales2, rows)).as("silu_mul_f8_raw scales").isEqualTo(d.floats(scales, rows));
        GpuResults.record("rmsnorm_f8 / silu_mul_f8 (DIM %d, INTER %d) vs float64: worst %.2f / %.2f of half an E4M3 step; "
                + "silu_mul_f8_raw = f8_epilogue + silu_mul_f8 bit for bit", dim, inter, worstNorm, worstSilu);
        d.free(x, weight, gateUp, q, scales, aScales, wScales, scaled, q2, scales2);
    }

    private static double checkRows(String what, double[][] ref, byte[] codes, float[] scales) {
        double worst = 0;
        for (int r = 0; r < ref.length; r++) {
            int n = ref[r].length;
            double amax = 0;
            for (double v : ref[r]) {
                amax = Math.max(amax, Math.abs(v));
            }
            assertThat((double) scales[r]).as("%s row %d scale", what, r).isCloseTo(amax / 448, org.assertj.core.data.Offset
                    .offset(amax / 448 * 1e-5));
            for (int i = 0; i < n; i++) {
                double got = (double) Fp8.decode(codes[r * n + i]) * scales[r];
                double tol = Math.max(Math.abs(ref[r][i]) * 0x1p-4, scales[r] * 0x1p-10) + amax * 1e-5;
                double err = Math.abs(got - ref[r][i]);
                worst = Math.max(worst, err / tol);
                assertThat(err).as("%s row %d col %d", what, r, i).isLessThanOrEqualTo(tol);
            }
        }
        return worst;
    }

    /** E4M3 codes of {@code rows × cols} random activations (uniform × 2^(r % 7 − 3) per row) and their row scales. */
    record Activations(long codes, long scales, byte[] hostCodes, float[] hostScales) {
        double get(int r, int c, int cols) {
            return (double) Fp8.decode(hostCodes[r * cols + c]) * hostScales[r];
        }
    }

    private static Activations activations(CudaGemvGpuTests.Device d, Arena arena, int rows, int cols, long seed) {
        float[] v = new float[rows * cols];
        IntStream.range(0, rows).parallel().forEach(r -> {
            float scale = (float) Math.scalb(1.0, r % 7 - 3);
            for (int c = 0; c < cols; c++) {
                v[r * cols + c] = CudaGemvGpuTests.uniform(seed + r, c) * scale;
            }
        });
        byte[] codes = new byte[rows * cols];
        float[] scales = new float[rows];
        for (int r = 0; r < rows; r++) {
            scales[r] = Fp8.quantizeRow(v, r * cols, cols, codes, r * cols);
        }
        MemorySegment hc = arena.allocate(codes.length, 64);
        MemorySegment.copy(codes, 0, hc, ValueLayout.JAVA_BYTE, 0, codes.length);
        MemorySegment hs = arena.allocate(scales.length * 4L, 64);
        MemorySegment.copy(scales, 0, hs, ValueLayout.JAVA_FLOAT, 0, scales.length);
        return new Activations(upload(d, hc), upload(d, hs), codes, scales);
    }

    /**
     * The FP8 GEMM on every shape at 1, 16, 100 and 256 rows, stored and accumulated, with cuBLASLt's outer-vector
     * scales where it has them, else the epilogue kernel, against float64 on 40 sampled output channels of every row.
     */
    @Test
    void fp8GemmMatchesAFloat64ReferenceOnEveryShape() {
        assumeFp8();
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128)) {
            long workspace = d.alloc(32L << 20);
            // With outer-vector scales where cuBLASLt has them (it had none on an H100 with CUDA 13.0: the epilogue then),
            // with cuBLASLt's fast accumulation (the default) on every shape, and with F32 promotion of the partial
            // sums (measured on every shape on an H100 before fast accumulation) on the small ones.
            for (boolean fast : new boolean[] {true, false}) {
                try (var gemm = new Fp8Gemm(kernels, d.stream, workspace, 32L << 20, true, false, fast)) {
                    for (Shape s : fast ? SHAPES : SHAPES.subList(0, 5)) {
                        try (Arena arena = Arena.ofShared()) {
                            checkShape(d, arena, gemm, s);
                        }
                    }
                }
            }
        }
    }

    private static void checkShape(CudaGemvGpuTests.Device d, Arena arena, Fp8Gemm gemm, Shape s) {
        int out = s.outDim();
        int in = s.inDim();
        Quantized w = CudaQuantizedGpuTests.quantize(d, arena, Format.FP8, out, in, (long) out * 17 + in);
        int maxRows = 256;  // rows 0..n-1 of these for n rows
        Activations x = activations(d, arena, maxRows, in, out + 3L * in);
        long residual = d.alloc((long) maxRows * out * Float.BYTES);
        long result = d.alloc((long) maxRows * out * Float.BYTES);
        long raw = d.alloc((long) maxRows * out * Float.BYTES);
        d.uploadF32(residual, (long) maxRows * out, out + 5L);
        float[] res = d.floats(residual, maxRows * out);
        int[] sampled = IntStream.range(0, SAMPLES).map(i -> (int) ((long) i * (out - 1) / (SAMPLES - 1))).distinct().toArray();
        double[][] exact = new double[maxRows][sampled.length];
        double[][] mag = new double[maxRows][sampled.length];
        IntStream.range(0, maxRows).parallel().forEach(r -> {
            for (int i = 0; i < sampled.length; i++) {
                for (int k = 0; k < in; k++) {
                    double p = w.exact(sampled[i], k) * x.get(r, k, in);
                    exact[r][i] += p;
                    mag[r][i] += Math.abs(p);
                }
            }
        });
        for (int rows : new int[] {1, 16, 100, 256}) {
            for (boolean accumulate : new boolean[] {false, true}) {
                d.copy(result, residual, (long) rows * out * Float.BYTES);
                gemm.matmul(w.device(), x.codes(), x.scales(), result, rows, accumulate, accumulate ? raw : result);
                d.sync();
                float[] y = d.floats(result, rows * out);
                double worst = 0;
                double worstRel = 0;
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < sampled.length; i++) {
                        double base = accumulate ? res[r * out + sampled[i]] : 0;
                        double ref = base + exact[r][i];
                        double tol = (gemm.fastAccum() ? FAST_ACCUM_BOUND : 0x1p-12) * mag[r][i] + 0x1p-22 * Math.abs(base)
                                + 1e-30;
                        double err = Math.abs(y[r * out + sampled[i]] - ref);
                        worst = Math.max(worst, err / tol);
                        worstRel = Math.max(worstRel, err / (mag[r][i] + 1e-30));
                        assertThat(err).as("%s %s %d rows%s, row %d, output %d", s.name(),
                                gemm.scaling(out, in, rows, accumulate), rows, accumulate ? " accumulate" : "", r, sampled[i])
                                .isLessThanOrEqualTo(tol);
                    }
                }
                GpuResults.record("fp8 gemm %s %dx%d, %d rows%s, %s%s: worst %.3f of the bound (|err| <= %.2e of sum|p|)",
                        s.name(), out, in, rows, accumulate ? " accumulate" : "", gemm.scaling(out, in, rows, accumulate),
                        gemm.fastAccum() ? ", fast accumulation" : "", worst, worstRel);
            }
        }
        d.free(w.device().weights(), w.device().scales(), x.codes(), x.scales(), residual, result, raw);
    }

    /**
     * Times on Llama-3.1-8B's shapes by row count (a benchmark: recorded, not asserted): each projection as the FP8
     * GEMM (with its scaling), BF16 cuBLAS and, up to 8 rows, the weight-only FP8 GEMV; and one decoder layer's
     * projection chain as the runner enqueues it — BF16: rmsnorm, q|k|v, o (+= x), rmsnorm, gate|up, silu_mul, down
     * (+= x), cuBLAS or, up to 8 rows, the GEMV; FP8 W8A8: rmsnorm_f8, q|k|v, quant_f8, o, rmsnorm_f8, gate|up,
     * silu_mul_f8, down, or up to 8 rows the FP8 GEMV chain — times 32 layers (attention, embedding and LM head
     * excluded: they are the same kernels either way). Weight values are constant (timing does not depend on them).
     */
    @Test
    void recordsFp8TimesOnLlama8bShapes() {
        assumeFp8();
        int[] rowCounts = {1, 8, 16, 32, 64, 128, 256, 512, 2048};
        int dim = 4096;
        int inter = 14336;
        int qkvDim = 6144;
        int maxRows = 2048;
        try (var d = new CudaGemvGpuTests.Device();
             KernelModule kernels = new KernelModule(CudaDevice.query(0).smArch(), List.of("DIM=" + dim, "HEAD_DIM=128",
                     "N_HEADS=32", "N_KV_HEADS=8", "INTER=" + inter, "EPS=1e-5f", "WINDOW=0", "HAS_QKV_BIAS=0", "HAS_QK_NORM=0",
                     "KV_BF16=1"))) {
            long workspace = d.alloc(32L << 20);
            QuantGemv qgemv = new QuantGemv(kernels);
            Gemv gemv = new Gemv(kernels);
            try (var gemm = new Fp8Gemm(kernels, d.stream, workspace, 32L << 20, true, true);
                 var firstPick = new Fp8Gemm(kernels, d.stream, workspace, 32L << 20, true, false)) {
                // [qkv, o, gate_up, down]: FP8 matrices (codes 0x38 = 1, scales uploaded) and BF16 ones
                Shape[] shapes = SHAPES.subList(5, 9).toArray(Shape[]::new);
                DeviceMatrix[] f8 = new DeviceMatrix[4];
                long[] bf = new long[4];
                for (int m = 0; m < 4; m++) {
                    int out = shapes[m].outDim();
                    int in = shapes[m].inDim();
                    long codes = d.alloc((long) out * in);
                    check(org.bytedeco.cuda.global.cudart.cudaMemset(at(codes), 0x38, (long) out * in), "cudaMemset");
                    long scales = d.alloc((long) out * Float.BYTES);
                    d.uploadF32(scales, out, 10 + m);
                    f8[m] = new DeviceMatrix(codes, scales, Format.FP8, out, in, in);
                    bf[m] = d.alloc((long) out * in * Short.BYTES);
                    check(org.bytedeco.cuda.global.cudart.cudaMemset(at(bf[m]), 0x3c, (long) out * in * Short.BYTES),
                            "cudaMemset");
                }
                long x = d.alloc((long) maxRows * dim * Float.BYTES);
                long xn = d.alloc((long) maxRows * dim * Short.BYTES);
                long att = d.alloc((long) maxRows * dim * Short.BYTES);
                long qkv = d.alloc((long) maxRows * qkvDim * Float.BYTES);
                long gateUp = d.alloc((long) maxRows * 2 * inter * Float.BYTES);
                long hidden = d.alloc((long) maxRows * inter * Short.BYTES);
                long q8 = d.alloc((long) maxRows * inter);
                long q8s = d.alloc((long) maxRows * Float.BYTES);
                long norm = d.alloc((long) dim * Float.BYTES);
                d.uploadF32(x, (long) maxRows * dim, 21);
                d.uploadBf16(xn, (long) maxRows * dim, 22);
                d.uploadBf16(att, (long) maxRows * dim, 23);
                d.uploadBf16(hidden, (long) maxRows * inter, 24);
                d.uploadF32(norm, dim, 25);
                check(org.bytedeco.cuda.global.cudart.cudaMemset(at(q8), 0x38, (long) maxRows * inter), "cudaMemset");
                d.uploadF32(q8s, maxRows, 26);
                CUfunc_st rmsnorm = kernels.function("rmsnorm");
                CUfunc_st rmsnormF8 = kernels.function("rmsnorm_f8");
                CUfunc_st siluMul = kernels.function("silu_mul");
                CUfunc_st siluMulF8 = kernels.function("silu_mul_f8");
                CUfunc_st quantF8 = kernels.function("quant_f8");
                for (int rows : rowCounts) {
                    for (int mi = 0; mi < 4; mi++) {
                        int m = mi;
                        int out = shapes[m].outDim();
                        int in = shapes[m].inDim();
                        DeviceMatrix w = f8[m];
                        long wb = bf[m];
                        long input = m == 3 ? hidden : xn;
                        boolean acc = m == 1 || m == 3;  // o and down add to the residual (raw scratch: qkv)
                        double tf8 = d.micros(i -> gemm.matmul(w, q8, q8s, gateUp, rows, acc, acc ? qkv : gateUp));
                        double tbf = d.micros(i -> d.cublas(wb, input, gateUp, out, in, rows, m == 1 || m == 3));
                        double tfirst = d.micros(i -> firstPick.matmul(w, q8, q8s, gateUp, rows, acc, acc ? qkv : gateUp));
                        String gemvNote = "";
                        if (rows <= Gemv.MAX_ROWS) {
                            double g = d.micros(i -> qgemv.launch(w, input, gateUp, out, rows, Gemv.STORE, d.stream));
                            gemvNote = String.format(", FP8 GEMV %.1f us", g);
                        }
                        double flops = 2.0 * rows * out * in;
                        GpuResults.record("fp8 timing 8B %s %dx%d, %d rows: FP8 GEMM (%s) %.1f us (%.0f TFLOP/s), BF16 cuBLAS %.1f us "
                                        + "(%.0f TFLOP/s), x%.2f%s", shapes[m].name(), out, in, rows,
                                gemm.scaling(out, in, rows, m == 1 || m == 3), tf8, flops / tf8 / 1e6, tbf, flops / tbf / 1e6,
                                tbf / tf8, gemvNote + String.format("; FP8 GEMM with the heuristic's first algorithm %.1f us (measured"
                                        + " choice x%.2f)", tfirst, tfirst / tf8));
                    }
                    Runnable bf16Chain = () -> {
                        kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                        d.cublas(bf[0], xn, qkv, qkvDim, dim, rows, false);
                        d.cublas(bf[1], att, x, dim, dim, rows, true);
                        kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                        d.cublas(bf[2], xn, gateUp, 2 * inter, dim, rows, false);
                        kernels.args().ptr(gateUp).ptr(hidden).launch(siluMul, "silu_mul", rows, 1, 256, d.stream);
                        d.cublas(bf[3], hidden, x, dim, inter, rows, true);
                    };
                    Runnable f8Chain = () -> {
                        kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s).launch(rmsnormF8, "rmsnorm_f8", rows, 1, 256, d.stream);
                        gemm.matmul(f8[0], q8, q8s, qkv, rows, false, qkv);
                        kernels.args().ptr(att).i32(dim).ptr(q8).ptr(q8s).launch(quantF8, "quant_f8", rows, 1, 256, d.stream);
                        gemm.matmul(f8[1], q8, q8s, x, rows, true, gateUp);
                        kernels.args().ptr(x).ptr(norm).ptr(q8).ptr(q8s).launch(rmsnormF8, "rmsnorm_f8", rows, 1, 256, d.stream);
                        gemm.matmul(f8[2], q8, q8s, gateUp, rows, false, gateUp);
                        kernels.args().ptr(gateUp).ptr(q8).ptr(q8s).launch(siluMulF8, "silu_mul_f8", rows, 1, 256, d.stream);
                        gemm.matmul(f8[3], q8, q8s, x, rows, true, gateUp);
                    };
                    double tb = d.micros(i -> bf16Chain.run());
                    double tf = d.micros(i -> f8Chain.run());
                    String gemvNote = "";
                    if (rows <= Gemv.MAX_ROWS) {
                        double gb = d.micros(i -> {
                            kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                            gemv.launch(bf[0], xn, qkv, qkvDim, dim, rows, Gemv.STORE, d.stream);
                            gemv.launch(bf[1], att, x, dim, dim, rows, Gemv.ACCUMULATE, d.stream);
                            kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                            gemv.launch(bf[2], xn, hidden, inter, dim, rows, Gemv.SWIGLU, d.stream);
                            gemv.launch(bf[3], hidden, x, dim, inter, rows, Gemv.ACCUMULATE, d.stream);
                        });
                        double gf = d.micros(i -> {
                            kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                            qgemv.launch(f8[0], xn, qkv, qkvDim, rows, Gemv.STORE, d.stream);
                            qgemv.launch(f8[1], att, x, dim, rows, Gemv.ACCUMULATE, d.stream);
                            kernels.args().ptr(x).ptr(0).ptr(norm).ptr(xn).launch(rmsnorm, "rmsnorm", rows, 1, 256, d.stream);
                            qgemv.launch(f8[2], xn, hidden, inter, rows, Gemv.SWIGLU, d.stream);
                            qgemv.launch(f8[3], hidden, x, dim, rows, Gemv.ACCUMULATE, d.stream);
                        });
                        gemvNote = String.format("; GEMV chains: BF16 %.1f us, FP8 %.1f us (x%.2f; x32 layers: %.2f vs %.2f ms)", gb,
                                gf, gb / gf, 32 * gb / 1e3, 32 * gf / 1e3);
                    }
                    GpuResults.record("fp8 timing 8B layer projections, %d rows: BF16 cuBLAS chain %.1f us, FP8 W8A8 chain %.1f us "
                            + "(x%.2f; x32 layers: %.2f vs %.2f ms)%s", rows, tb, tf, tb / tf, 32 * tb / 1e3, 32 * tf / 1e3,
                            gemvNote);
                }
            }
        }
    }

    /**
     * The runner on FP8 W8A8 engines of the tiny fixtures: a prompt's logits in one prefill pass (W8A8) against
     * transformers float32 (bounded at 0.15 rel L2 as the weight-only FP8 engines are, and recorded beside them),
     * and against the same engine weight-only (what quantizing the activations costs); the prompt alone and beside
     * another in one pass (batch invariance, recorded, bounded by the BF16 parity bound); and 12 decode rows (more
     * than the GEMV takes: W8A8) run eagerly and replayed as a CUDA graph, equal bit for bit.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "mistral", "qwen2", "qwen3"})
    void w8a8EnginesStayWithinTheirBoundOfTransformers(String arch, @TempDir Path tmp) throws IOException {
        assumeFp8();
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        int[] prompt = ref.promptIds();
        Path engine = tmp.resolve("cuda");
        new EngineBuilder(BuildConfig.builder(64).quantization(Quantization.FP8).build(), Device.cuda(Device.ANY_ARCH))
                .build(dir, engine);
        try (EngineLease lease = EngineCache.openPrebuilt(engine)) {
            ModelConfig config = lease.config().modelConfig();
            int vocab = config.vocabSize();
            float[] weightOnly;
            try (var runner = withProperty(CudaModelRunner.FP8_GEMM, "false", () -> new CudaModelRunner(config, lease.weights(),
                    (a, p) -> new KvCacheSpec(32, 4), 0, DType.BF16, null))) {
                weightOnly = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL))).logits(0);
            }
            try (var runner = withProperty(CudaModelRunner.FP8_GEMM, "true", () -> new CudaModelRunner(config, lease.weights(),
                    (a, p) -> new KvCacheSpec(32, 4), 0, DType.BF16, null))) {
                assertThat(runner.description()).contains("W8A8");
                long before = runner.fp8GemmCalls();
                float[] prefill = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL)))
                        .logits(0);
                assertThat(runner.fp8GemmCalls()).as("the prefill pass took the FP8 GEMM").isGreaterThan(before);
                int[] other = IntStream.range(0, 11).map(i -> (i * 37 + 5) % vocab).toArray();
                int[] otherTable = {24, 25, 26, 27, 28};
                var batched = runner.forward(Batch.of(new SequenceChunk(other, 0, otherTable, LogitsMode.ALL),
                        new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL)));
                float[] inBatch = batched.logits(1);

                float[][] wo = rows(weightOnly, vocab);
                Diff vsHf = CudaArchitectureParityGpuTests.diff(prefill, ref.logits(), vocab, 0);
                Diff weightOnlyVsHf = CudaArchitectureParityGpuTests.diff(weightOnly, ref.logits(), vocab, 0);
                Diff vsWeightOnly = CudaArchitectureParityGpuTests.diff(prefill, wo, vocab, 0);
                Diff batchVsAlone = CudaArchitectureParityGpuTests.diff(inBatch, rows(prefill, vocab), vocab, 0);

                // 12 one-token rows at position 0 (blocks 0..11): eager once, then captured and replayed.
                SequenceChunk[] decode = new SequenceChunk[12];
                for (int i = 0; i < decode.length; i++) {
                    decode[i] = new SequenceChunk(new int[] {(i * 53 + 1) % vocab}, 0, new int[] {i}, LogitsMode.LAST);
                }
                long beforeDecode = runner.fp8GemmCalls();
                float[][] eager = decodeLogits(runner, decode);
                assertThat(runner.fp8GemmCalls()).as("12 decode rows took the FP8 GEMM").isGreaterThan(beforeDecode);
                decodeLogits(runner, decode);
                float[][] replayed = decodeLogits(runner, decode);
                GpuResults.record("fp8 W8A8 %s [%s]: vs transformers float32 rel L2 %.2e (top-1 %d/%d; weight-only FP8 %.2e, top-1 "
                                + "%d); W8A8 vs weight-only %.2e; alone vs batched rel L2 %.2e (max |diff| %.2e); 12 decode rows eager "
                                + "vs graph equal: %s", arch, runner.description(), vsHf.relL2(), vsHf.argmaxEqual(), vsHf.rows(),
                        weightOnlyVsHf.relL2(), weightOnlyVsHf.argmaxEqual(), vsWeightOnly.relL2(), batchVsAlone.relL2(),
                        batchVsAlone.maxAbs(), Arrays.deepEquals(eager, replayed));
                assertThat(vsHf.relL2()).isLessThan(0.15);
                assertThat(batchVsAlone.relL2()).isLessThan(CudaArchitectureParityGpuTests.REL_L2_TOL);
                assertThat(replayed).isEqualTo(eager);
            }
        }
    }

    /**
     * The FP8 KV cache (E4M3, scale 1) against a BF16 cache on the same BF16 engine of each tiny fixture: every
     * prompt position's logits in one prefill pass and fed one token a pass (attention reading back what earlier
     * passes stored). Bound: each cached value is rounded to 3 mantissa bits (≤ 2⁻⁴ relative, 2⁻¹⁰ absolute below
     * 2⁻⁶), which attention averages over positions: rel L2 to the BF16 cache below 0.05, top-1 equal at ≥ 90%;
     * both caches' distance to transformers float32 recorded.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "mistral", "qwen2", "qwen3"})
    void fp8KvCacheStaysWithinItsBoundOfABf16Cache(String arch, @TempDir Path tmp) throws IOException {
        assumeFp8();
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        int[] prompt = ref.promptIds();
        Path engine = tmp.resolve("cuda");
        new EngineBuilder(BuildConfig.builder(64).build(), Device.cuda(Device.ANY_ARCH)).build(dir, engine);
        try (EngineLease lease = EngineCache.openPrebuilt(engine)) {
            ModelConfig config = lease.config().modelConfig();
            int vocab = config.vocabSize();
            float[][] prefill = new float[2][];
            float[][] stepwise = new float[2][];
            DType[] kvTypes = {DType.BF16, DType.F8_E4M3};
            for (int k = 0; k < 2; k++) {
                try (var runner = new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(32, 4), 0, DType.BF16,
                        kvTypes[k], null, io.trtllm.api.config.RuntimeConfig.fromSystemProperties())) {
                    if (k == 1) {
                        assertThat(runner.description()).contains("FP8 E4M3 KV cache");
                        assertThat(runner.kvCache().numBlocks()).isEqualTo(32);
                    }
                    prefill[k] = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL)))
                            .logits(0);
                    int[] table = {20, 3, 17, 9, 25, 1, 30, 11};
                    stepwise[k] = new float[prompt.length * vocab];
                    for (int p = 0; p < prompt.length; p++) {
                        float[] row = runner.forward(Batch.of(new SequenceChunk(new int[] {prompt[p]}, p, table,
                                LogitsMode.LAST))).logits(0);
                        System.arraycopy(row, 0, stepwise[k], p * vocab, vocab);
                    }
                }
            }
            Diff prefillVsBf16 = CudaArchitectureParityGpuTests.diff(prefill[1], rows(prefill[0], vocab), vocab, 0);
            Diff stepwiseVsBf16 = CudaArchitectureParityGpuTests.diff(stepwise[1], rows(stepwise[0], vocab), vocab, 0);
            Diff fp8VsHf = CudaArchitectureParityGpuTests.diff(stepwise[1], ref.logits(), vocab, 0);
            Diff bf16VsHf = CudaArchitectureParityGpuTests.diff(stepwise[0], ref.logits(), vocab, 0);
            GpuResults.record("fp8 KV cache %s: vs BF16 cache rel L2 %.2e prefill, %.2e one token a pass (top-1 %d/%d); vs "
                            + "transformers float32 %.2e (BF16 cache %.2e)", arch, prefillVsBf16.relL2(), stepwiseVsBf16.relL2(),
                    stepwiseVsBf16.argmaxEqual(), stepwiseVsBf16.rows(), fp8VsHf.relL2(), bf16VsHf.relL2());
            for (Diff d : List.of(prefillVsBf16, stepwiseVsBf16)) {
                assertThat(d.relL2()).isLessThan(0.05);
                assertThat(d.argmaxEqual()).isGreaterThanOrEqualTo((int) Math.ceil(0.9 * d.rows()));
            }
        }
    }

    private static float[][] decodeLogits(CudaModelRunner runner, SequenceChunk[] chunks) {
        var result = runner.forward(Batch.of(chunks));
        float[][] out = new float[chunks.length][];
        for (int i = 0; i < chunks.length; i++) {
            out[i] = result.logits(i);
        }
        return out;
    }

    private static float[][] rows(float[] flat, int vocab) {
        float[][] out = new float[flat.length / vocab][];
        for (int r = 0; r < out.length; r++) {
            out[r] = Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
        }
        return out;
    }
}
