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
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.runtime.cpu.ArchitectureParityTests.Reference;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.runtime.cuda.CudaArchitectureParityGpuTests.Diff;
import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import io.trtllm.model.Checkpoint;
import java.io.IOException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.provider.ValueSource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Weight-only INT8 / INT4 and FP8 weights on the GPU: the quantized GEMV ({@link QuantGemv}: {@code qgemv8_R},
 * {@code qgemv4_R}, {@code qgemvf8_R}) against a float64 reference of the dequantized weights on the shapes it runs on
 * (the tiny fixtures', stories15M's, Llama-3.1-8B's q|k|v and down, odd ones), 1 to 8 rows, stored,
 * accumulated and as the fused SwiGLU; the dequantization kernels bit for bit against Java; the
 * dequantize-then-cuBLAS path in slices; and the runner on INT8 / INT4 engines of the tiny Llama-3,
 * Mistral, Qwen2 and Qwen3 fixtures against the CPU backend on the CPU's INT8 / INT4 engines of the same
 * checkpoints; FP8 engines against the CPU backend on their dequantized weights. Needs an NVIDIA GPU
 * (tag {@code gpu}).
 *
 * <p>Tolerances. GEMV: the products q·x are exact in F32 and a result is rounded along
 * {@code n = V·⌈vectors/threads⌉ + 5 + warps + 3} additions and multiplications (V = 16 or 32 values a
 * vector), so {@code |gemv − exact| ≤ n·2⁻²⁴·(|residual| + Σ|w·x|)}, asserted on 40 sampled outputs of
 * every row. Runner vs CPU: both backends hold the same quantized numbers (QuantizedLayoutTests), the
 * CUDA runner rounds the GEMMs' inputs (and, in prefill, the dequantized weights) to BF16 where the CPU
 * keeps F32: the BF16 parity bound, {@code ‖cuda − cpu‖₂/‖cpu‖₂ ≤ 2e-2}, top token equal at ≥ 90%.
 */
@Tag("gpu")
class CudaQuantizedGpuTests {
    static final int SAMPLES = 40;

    /** One projection: {@code outDim × inDim} (for SwiGLU: {@code outDim} gate rows and as many up rows). */
    record Shape(String name, int outDim, int inDim, int mode) {
        int matrixRows() {
            return mode == Gemv.SWIGLU ? 2 * outDim : outDim;
        }
    }

    static final List<Shape> SHAPES = List.of(
            new Shape("tiny qkv", 128, 64, Gemv.STORE), new Shape("tiny down", 64, 128, Gemv.ACCUMULATE),
            new Shape("tiny gate_up", 128, 64, Gemv.SWIGLU), new Shape("tiny lm head", 256, 64, Gemv.STORE),
            new Shape("stories15M qkv", 864, 288, Gemv.STORE), new Shape("stories15M down", 288, 768, Gemv.ACCUMULATE),
            new Shape("stories15M gate_up", 768, 288, Gemv.SWIGLU),
            new Shape("8B qkv", 6144, 4096, Gemv.STORE), new Shape("8B down", 4096, 14336, Gemv.ACCUMULATE),
            new Shape("odd 37x4128", 37, 4128, Gemv.ACCUMULATE), new Shape("odd 1001x96", 1001, 96, Gemv.STORE),
            new Shape("odd gate_up 5x64", 5, 64, Gemv.SWIGLU),
            // qgemv4_mma's tails: 37 rows (2 tiles + 5), 9 steps over 8 warps; 1000 SwiGLU pairs, 18 steps
            new Shape("mma tails 37x1152", 37, 1152, Gemv.ACCUMULATE),
            new Shape("mma gate_up 1000x2304", 1000, 2304, Gemv.SWIGLU));

    /** A quantized matrix on the host (as the engine stores it) and on the device. */
    record Quantized(DeviceMatrix device, MemorySegment values, float[] scales) {
        /** Element (r, c) dequantized as the dequantization kernels compute it: {@code (float) q · s}, rounded to F32. */
        float get(int r, int c) {
            return (float) exact(r, c);
        }

        /** Element (r, c) dequantized exactly: {@code q · s} (the GEMV multiplies sums of q·x by s). */
        double exact(int r, int c) {
            boolean int4 = device.format() == Format.INT4;
            int cols = device.cols();
            if (device.format() == Format.FP8) {
                return (double) QuantizedLayoutTests.fp8(values, cols, r, c) * scales[r];
            }
            int q = QuantizedLayoutTests.q(values, int4, cols, r, c);
            float s = int4 ? scales[r * (cols / device.groupSize()) + c / device.groupSize()] : scales[r];
            return (double) q * s;
        }
    }

    static Quantized quantize(CudaGemvGpuTests.Device d, Arena arena, Format format, int rows, int cols, long seed) {
        MemorySegment source = arena.allocate((long) rows * cols * Float.BYTES, 64);
        IntStream.range(0, 64).parallel().forEach(part -> {
            for (long i = (long) rows * cols * part / 64; i < (long) rows * cols * (part + 1) / 64; i++) {
                source.setAtIndex(ValueLayout.JAVA_FLOAT, i, CudaGemvGpuTests.uniform(seed, i));
            }
        });
        Tensor t = new Tensor("w", DType.F32, new long[] {rows, cols}, source);
        boolean int4 = format == Format.INT4;
        int group = int4 ? QuantizedLayout.int4GroupSize("w", cols) : cols;
        float[] scales = switch (format) {
            case INT4 -> QuantizedLayout.int4Scales(t, group);
            case INT8 -> QuantizedLayout.int8Scales(t);
            case FP8 -> QuantizedLayoutTests.fp8RowScales(t);  // per row: a kernel reading another row's scale fails
            case FLOAT -> throw new IllegalArgumentException("not quantized");
        };
        MemorySegment values = arena.allocate(int4 ? (long) rows * cols / 2 : (long) rows * cols, 64);
        switch (format) {
            case INT4 -> QuantizedLayout.writeInt4(t, group, scales, values);
            case INT8 -> QuantizedLayout.writeInt8(t, scales, values);
            default -> QuantizedLayout.writeFp8(t, scales, values);
        }
        MemorySegment scaleBytes = arena.allocate(scales.length * 4L, 64);
        QuantizedLayout.writeScales(scales, scaleBytes);
        long v = d.alloc(values.byteSize());
        long s = d.alloc(scaleBytes.byteSize());
        check(cudaMemcpy(at(v), at(values.address()), values.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        check(cudaMemcpy(at(s), at(scaleBytes.address()), scaleBytes.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        return new Quantized(new DeviceMatrix(v, s, format, rows, cols, group), values, scales);
    }

    @Test
    void quantizedGemvMatchesAFloat64ReferenceOnEveryShape() {
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128)) {
            QuantGemv gemv = new QuantGemv(kernels, true);
            QuantGemv fma = new QuantGemv(kernels, false);
            for (Format format : List.of(Format.INT8, Format.INT4, Format.FP8)) {
                for (Shape s : SHAPES) {
                    try (Arena arena = Arena.ofShared()) {  // the 8B shapes' host copies: freed shape by shape
                        checkShape(d, arena, gemv, format, s);
                        if (format == Format.INT4 && s.inDim() % QuantGemv.MMA_STEP == 0) {
                            checkShape(d, arena, fma, format, s);  // qgemv4_R where qgemv4_mma took it
                        }
                    }
                }
            }
        }
    }

    /**
     * The F32 bound's number of roundings {@code n} ({@code |gemv − exact| ≤ n·u·Σ|w·x|}) of the kernel that takes
     * {@code w}, and its unit roundoff u. {@code qgemv4_R}: V values a vector in each thread's sum, then the group scale,
     * the warp's 5 shuffles, the warps and 3 more (u = 2⁻²⁴). {@code qgemv4_mma}: per step two chains of 4 mma of 16
     * products plus the running sum each, their sum and the scale's FMA, then the warp's steps and the warps' tiles
     * (u = 2⁻²³ throughout, and each of the mma's additions counted twice: the tensor cores align their terms to the
     * largest and truncate, as published measurements of their F32 accumulation found, not round to nearest).
     */
    static double gemvBound(QuantGemv gemv, DeviceMatrix w, long in) {
        int cols = w.cols();
        if (gemv.kernelName(1, w, in).equals("qgemv4_mma")) {
            int steps = cols / QuantGemv.MMA_STEP;
            int warps = QuantGemv.mmaThreads(cols) / 32;
            return (2 * 4 * 17 + 2 + (steps + warps - 1) / warps + warps + 1) * 0x1p-23;
        }
        int threads = QuantGemv.threads(w.format(), cols);
        int vals = QuantGemv.valuesPerVector(w.format());
        int vectors = cols / vals;
        return (vals * ((vectors + threads - 1) / threads) + 5 + threads / 32 + 3) * 0x1p-24;
    }

    /** The raw bits of {@code n} results: F32, or BF16 (SwiGLU's output). */
    private static int[] resultBits(CudaGemvGpuTests.Device d, long at, int n, boolean bf16) {
        int[] bits = new int[n];
        if (bf16) {
            short[] h = d.shorts(at, n);
            for (int i = 0; i < n; i++) {
                bits[i] = h[i] & 0xffff;
            }
        } else {
            float[] f = d.floats(at, n);
            for (int i = 0; i < n; i++) {
                bits[i] = Float.floatToRawIntBits(f[i]);
            }
        }
        return bits;
    }

    private static void checkShape(CudaGemvGpuTests.Device d, Arena arena, QuantGemv gemv, Format format, Shape s) {
        int out = s.outDim();
        int in = s.inDim();
        int maxRows = Gemv.MAX_ROWS;
        long seed = (long) out * 31 + in + format.ordinal();
        Quantized w = quantize(d, arena, format, s.matrixRows(), in, seed);
        assertThat(QuantGemv.applies(1, w.device(), 0)).as("%s %s takes the GEMV", format, s.name()).isTrue();
        long x = d.alloc((long) maxRows * in * Short.BYTES);
        long residual = d.alloc((long) maxRows * out * Float.BYTES);
        long result = d.alloc((long) (maxRows + 1) * out * Float.BYTES);
        d.uploadBf16(x, (long) maxRows * in, seed + 1);
        d.uploadF32(residual, (long) maxRows * out, seed + 2);
        float[] xs = d.floatsOfBf16(x, maxRows * in);
        float[] res = d.floats(residual, maxRows * out);

        int[] sampled = IntStream.range(0, SAMPLES).map(i -> (int) ((long) i * (out - 1) / (SAMPLES - 1))).distinct().toArray();
        boolean swiglu = s.mode() == Gemv.SWIGLU;
        // exact[half][r][i]: the float64 sum of sampled output i (half 1: its up row for SwiGLU); scale: Σ|w·x|
        double[][][] exact = new double[2][maxRows][sampled.length];
        double[][][] scale = new double[2][maxRows][sampled.length];
        for (int half = 0; half < (swiglu ? 2 : 1); half++) {
            for (int i = 0; i < sampled.length; i++) {
                int n = sampled[i] + half * out;
                for (int k = 0; k < in; k++) {
                    double wk = w.exact(n, k);
                    for (int r = 0; r < maxRows; r++) {
                        double p = wk * xs[r * in + k];
                        exact[half][r][i] += p;
                        scale[half][r][i] += Math.abs(p);
                    }
                }
            }
        }
        double bound = gemvBound(gemv, w.device(), x);
        String kernel = gemv.kernelName(1, w.device(), x);
        boolean mma = kernel.equals("qgemv4_mma");

        double worst = 0;
        // qgemv4_mma runs every row count through one kernel, whose 8 columns are computed apart: a row's bits are
        // those of the same row in an 8-row pass (the FMA kernels promise this per compiled row count only)
        int[] eightRows = null;
        for (int rows = maxRows; rows >= 1; rows--) {
            d.copy(result, residual, (long) rows * out * Float.BYTES);
            gemv.launch(w.device(), x, result, out, rows, s.mode(), d.stream);
            d.sync();
            String what = String.format("%s %s %dx%d, %d rows (%s)", format, s.name(), out, in, rows, kernel);
            if (mma) {
                boolean swigluOut = s.mode() == Gemv.SWIGLU;
                int[] bits = resultBits(d, result, rows * out, swigluOut);
                if (eightRows == null) {
                    eightRows = bits;
                } else {
                    assertThat(bits).as("%s: the first rows of the 8-row pass, bit for bit", what)
                            .isEqualTo(Arrays.copyOf(eightRows, rows * out));
                }
            }
            if (swiglu) {
                float[] h = d.floatsOfBf16(result, rows * out);
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < sampled.length; i++) {
                        double g = exact[0][r][i];
                        double u = exact[1][r][i];
                        double sig = 1 / (1 + Math.exp(-g));
                        double ref = g * sig * u;
                        // bf16 output rounding, plus the gate's and the up row's own error carried through silu(g)·u
                        double tol = Math.abs(ref) * 0x1p-8 + 1.1 * Math.abs(u) * bound * scale[0][r][i]
                                + Math.abs(g * sig) * bound * scale[1][r][i] + 1e-30;
                        double err = Math.abs(h[r * out + sampled[i]] - ref);
                        worst = Math.max(worst, err / tol);
                        assertThat(err).as("%s, row %d, output %d", what, r, sampled[i]).isLessThanOrEqualTo(tol);
                    }
                }
            } else {
                float[] y = d.floats(result, rows * out);
                boolean accumulate = s.mode() == Gemv.ACCUMULATE;
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < sampled.length; i++) {
                        double base = accumulate ? res[r * out + sampled[i]] : 0;
                        double ref = base + exact[0][r][i];
                        double tol = bound * (Math.abs(base) + scale[0][r][i]) + 1e-30;
                        double err = Math.abs(y[r * out + sampled[i]] - ref);
                        worst = Math.max(worst, err / tol);
                        assertThat(err).as("%s, row %d, output %d", what, r, sampled[i]).isLessThanOrEqualTo(tol);
                    }
                }
            }
        }
        GpuResults.record("quantized GEMV %s %s %dx%d (%s, %s): 1-8 rows within the F32 bound (%.2e of Σ|w·x|), worst %.2f of"
                        + " it%s", format, s.name(), out, in,
                s.mode() == Gemv.STORE ? "store" : s.mode() == Gemv.ACCUMULATE ? "accumulate" : "swiglu", kernel, bound, worst,
                mma ? "; rows bit-equal to the 8-row pass" : "");
        d.free(w.device().weights(), w.device().scales(), x, residual, result);
    }

    /**
     * µs per call and GB/s of every decode GEMV kind — BF16 ({@link Gemv}), FP8, INT8 and INT4 ({@link QuantGemv}; INT4
     * both through {@code qgemv4_mma}, the default, and through the FMA kernel {@code qgemv4_R}, "INT4 FMA") —
     * on Llama-3.1-8B's projections (q|k|v stored, o and down accumulating, gate|up as the fused SwiGLU) at 1, 2, 4
     * and 8 rows, weight copies cycled through {@link CudaGemvGpuTests#TIMING_BYTES} so that L2 holds none of them;
     * and the per-layer chain (the four projections added up) with its ratio to BF16 and, times 32 layers, the
     * projections' share of a decode step (attention, norms, embedding and LM head excluded). A benchmark: recorded,
     * not asserted (weight values do not change the time; scales are real). GB/s counts the weights, their scales,
     * the activations read and the outputs written.
     */
    @Test
    void recordsGemvTimesOfEveryKindOnLlama8bShapes() {
        List<Shape> shapes = List.of(new Shape("qkv", 6144, 4096, Gemv.STORE), new Shape("o", 4096, 4096, Gemv.ACCUMULATE),
                new Shape("gate_up", 14336, 4096, Gemv.SWIGLU), new Shape("down", 4096, 14336, Gemv.ACCUMULATE),
                new Shape("lm head", 128256, 4096, Gemv.STORE));
        int layerShapes = 4;  // the LM head runs once a step, not in the layer chain
        int[] rowCounts = {1, 2, 4, 8};
        List<Format> formats = List.of(Format.FLOAT, Format.FP8, Format.INT8, Format.INT4, Format.INT4);
        List<String> labels = List.of("BF16", "FP8", "INT8", "INT4", "INT4 FMA");
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(14336)) {
            Gemv gemv = new Gemv(kernels);
            QuantGemv mma = new QuantGemv(kernels, true);
            QuantGemv fma = new QuantGemv(kernels, false);
            long x = d.alloc(8L * 14336 * Short.BYTES);
            long outCapacity = 8L * 128256 * Float.BYTES;
            long out = d.alloc(outCapacity);
            d.uploadBf16(x, 8L * 14336, 5);
            check(org.bytedeco.cuda.global.cudart.cudaMemset(at(out), 0, outCapacity), "cudaMemset");
            // µs per call by format, shape and row count
            double[][][] micros = new double[formats.size()][shapes.size()][rowCounts.length];
            for (int f = 0; f < formats.size(); f++) {
                Format format = formats.get(f);
                QuantGemv qgemv = labels.get(f).equals("INT4 FMA") ? fma : mma;
                for (int si = 0; si < shapes.size(); si++) {
                    Shape s = shapes.get(si);
                    int rowsW = s.matrixRows();
                    int in = s.inDim();
                    int group = format == Format.INT4 ? QuantizedLayout.int4GroupSize("w", in) : in;
                    long valueBytes = switch (format) {
                        case FLOAT -> (long) rowsW * in * Short.BYTES;
                        case INT4 -> (long) rowsW * in / 2;
                        case INT8, FP8 -> (long) rowsW * in;
                    };
                    long scaleBytes = format == Format.FLOAT ? 0 : (long) rowsW * (in / group) * Float.BYTES;
                    int copies = (int) Math.max(1, (CudaGemvGpuTests.TIMING_BYTES + valueBytes - 1) / valueBytes);
                    DeviceMatrix[] w = new DeviceMatrix[copies];
                    long values0 = d.alloc(valueBytes);
                    // codes 0x38: int8 56, int4 3 / 3, FP8 1.0, BF16 0x3838 ≈ 4.4e-5 (the time does not depend on them)
                    check(org.bytedeco.cuda.global.cudart.cudaMemset(at(values0), 0x38, valueBytes), "cudaMemset");
                    long scales0 = 0;
                    if (scaleBytes > 0) {
                        scales0 = d.alloc(scaleBytes);
                        d.uploadF32(scales0, scaleBytes / Float.BYTES, 40 + si);
                    }
                    for (int c = 0; c < copies; c++) {
                        long v = values0;
                        long sc = scales0;
                        if (c > 0) {
                            v = d.alloc(valueBytes);
                            d.copy(v, values0, valueBytes);
                            if (scaleBytes > 0) {
                                sc = d.alloc(scaleBytes);
                                d.copy(sc, scales0, scaleBytes);
                            }
                        }
                        w[c] = new DeviceMatrix(v, sc, format, rowsW, in, group);
                    }
                    for (int ri = 0; ri < rowCounts.length; ri++) {
                        int rows = rowCounts[ri];
                        double t = format == Format.FLOAT
                                ? d.micros(i -> gemv.launch(w[i % copies].weights(), x, out, s.outDim(), in, rows, s.mode(),
                                        d.stream))
                                : d.micros(i -> qgemv.launch(w[i % copies], x, out, s.outDim(), rows, s.mode(), d.stream));
                        micros[f][si][ri] = t;
                        long outBytes = s.mode() == Gemv.SWIGLU ? (long) rows * s.outDim() * Short.BYTES
                                : (long) rows * s.outDim() * Float.BYTES * (s.mode() == Gemv.ACCUMULATE ? 2 : 1);
                        long bytes = valueBytes + scaleBytes + (long) rows * in * Short.BYTES + outBytes;
                        double bf16 = micros[0][si][ri];
                        GpuResults.record("gemv kinds timing 8B %s %dx%d, %d rows: %s %.1f us (%.0f GB/s, weights %.1f MB), x%.2f vs"
                                        + " BF16 GEMV%s", s.name(), rowsW, in, rows, labels.get(f), t,
                                bytes / t / 1e3, (valueBytes + scaleBytes) / 1e6, bf16 / t,
                                format == Format.FLOAT ? "" : " (" + qgemv.kernelName(rows, w[0], x) + ")");
                    }
                    for (DeviceMatrix m : w) {
                        d.free(m.weights());
                        if (m.scales() != 0) {
                            d.free(m.scales());
                        }
                    }
                }
            }
            for (int ri = 0; ri < rowCounts.length; ri++) {
                StringBuilder line = new StringBuilder();
                double bf16 = 0;
                for (int f = 0; f < formats.size(); f++) {
                    double layer = 0;
                    for (int si = 0; si < layerShapes; si++) {
                        layer += micros[f][si][ri];
                    }
                    if (f == 0) {
                        bf16 = layer;
                    }
                    line.append(String.format("%s%s %.1f us (x%.2f; x32 layers %.2f ms)", f == 0 ? "" : ", ",
                            labels.get(f), layer, bf16 / layer, 32 * layer / 1e3));
                }
                GpuResults.record("gemv kinds timing 8B layer projections (qkv + o + gate_up/silu + down), %d rows: %s",
                        rowCounts[ri], line);
            }
            d.free(x, out);
        }
    }

    /** dequant_i8 / dequant_i4 write {@code bf16((float) q · s)} exactly, from any first row. */
    @Test
    void dequantizationKernelsAreExact() {
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128); Arena arena = Arena.ofShared()) {
            for (Format format : List.of(Format.INT8, Format.INT4, Format.FP8)) {
                int rows = 300;
                int cols = 288;  // int4 groups of 96
                Quantized w = quantize(d, arena, format, rows, cols, 99 + format.ordinal());
                int first = 17;
                int n = rows - first;
                long out = d.alloc((long) n * cols * Short.BYTES);
                boolean int4 = format == Format.INT4;
                String name = switch (format) {
                    case INT4 -> "dequant_i4";
                    case INT8 -> "dequant_i8";
                    default -> "dequant_f8";
                };
                CUfunc_st f = kernels.function(name);
                kernels.args().ptr(w.device().weights()).ptr(w.device().scales()).ptr(out).i64(first).i32(cols);
                if (int4) {
                    kernels.i32(w.device().groupSize());
                }
                kernels.launch(f, name, n, 1, 256, d.stream);
                d.sync();
                short[] got = d.shorts(out, n * cols);
                int wrong = 0;
                for (int r = 0; r < n; r++) {
                    for (int c = 0; c < cols; c++) {
                        if (got[r * cols + c] != TensorConversion.toBfloat16(w.get(first + r, c))) {
                            wrong++;
                        }
                    }
                }
                GpuResults.record("dequant %s: %d of %d values differ from Java's bf16(q·s)", format, wrong, n * cols);
                assertThat(wrong).isZero();
                d.free(w.device().weights(), w.device().scales(), out);
            }
        }
    }

    /**
     * The prefill path: a quantized projection of 13 rows dequantized into a scratch of 3 rows at a
     * time (so that it runs in slices, the last one short) and multiplied by cuBLAS, against float64.
     * Bound: the weights and inputs rounded to BF16 (2⁻⁸ relative each) plus F32 sums.
     */
    @Test
    void dequantizedGemmInSlicesMatchesAFloat64Reference() {
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128); Arena arena = Arena.ofShared();
             var memory = new DeviceMemory(CudaDevice.query(0));
             var projections = new Projections(DType.BF16, kernels, d.stream, memory, true)) {
            for (Format format : List.of(Format.INT8, Format.INT4, Format.FP8)) {
                int outDim = 1001;
                int inDim = 288;
                int rows = 13;
                Quantized w = quantize(d, arena, format, outDim, inDim, 7 + format.ordinal());
                projections.reserveScratch(3L * inDim, inDim);
                long x = d.alloc((long) rows * inDim * Short.BYTES);
                long y = d.alloc((long) rows * outDim * Float.BYTES);
                d.uploadBf16(x, (long) rows * inDim, 11);
                d.uploadF32(y, (long) rows * outDim, 12);
                float[] xs = d.floatsOfBf16(x, rows * inDim);
                float[] res = d.floats(y, rows * outDim);
                projections.gemvPass(false);
                projections.gemm(w.device(), x, y, outDim, inDim, rows, true);
                d.sync();
                float[] got = d.floats(y, rows * outDim);
                double worst = 0;
                for (int r = 0; r < rows; r++) {
                    for (int n = 0; n < outDim; n++) {
                        double exact = res[r * outDim + n];
                        double mag = Math.abs(exact);
                        for (int k = 0; k < inDim; k++) {
                            double p = w.exact(n, k) * xs[r * inDim + k];
                            exact += p;
                            mag += Math.abs(p);
                        }
                        double tol = mag * (0x1p-8 + inDim * 0x1p-24);
                        double err = Math.abs(got[r * outDim + n] - exact);
                        worst = Math.max(worst, err / tol);
                        assertThat(err).as("%s row %d output %d", format, r, n).isLessThanOrEqualTo(tol);
                    }
                }
                GpuResults.record("dequantized GEMM %s %dx%d, %d rows in slices of 3: worst %.2f of the BF16 bound", format,
                        outDim, inDim, rows, worst);
                d.free(w.device().weights(), w.device().scales(), x, y);
            }
        }
    }

    /**
     * The runner on FP8 engines of the tiny fixtures (sm_89 or newer), weight-only ({@code trtllm.cuda.fp8Gemm=false}), against the CPU backend on a float32
     * checkpoint of the very numbers the engine holds ({@link DequantizedCheckpoint}: each FP8 value times its row's
     * scale; the LM head, not quantized since FP8 recipe 2, the float embedding): prefill and one token a pass within
     * the BF16 bound; the distance to transformers float32 (what FP8 weights cost) recorded, and bounded
     * loosely at 0.15 rel L2 to catch a wrong decoding.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3", "mistral", "qwen2", "qwen3"})
    void fp8EnginesComputeTheirDequantizedWeightsWithinTheBf16Bound(String arch, @TempDir Path tmp) throws IOException {
        Assumptions.assumeTrue(KernelSource.supportsFp8(CudaDevice.query(0).smArch()), "FP8 needs sm_89 or newer");
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        int[] prompt = ref.promptIds();
        Path cudaEngine = tmp.resolve("cuda");
        new EngineBuilder(BuildConfig.builder(64).quantization(Quantization.FP8).build(), Device.cuda(Device.ANY_ARCH))
                .build(dir, cudaEngine);
        try (EngineLease lease = EngineCache.openPrebuilt(cudaEngine)) {
            ModelConfig config = lease.config().modelConfig();
            int vocab = config.vocabSize();
            Path dequantized = DequantizedCheckpoint.write(lease.weights(), dir, tmp.resolve("dequantized"));
            float[][] cpu = new float[prompt.length][];
            try (var weights = Checkpoint.open(dequantized);
                 var runner = new CpuModelRunner(ModelConfig.load(dequantized), weights, new KvCacheSpec(32, 4), DType.F32, 4)) {
                float[] all = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL))).logits(0);
                for (int p = 0; p < prompt.length; p++) {
                    cpu[p] = Arrays.copyOfRange(all, p * vocab, (p + 1) * vocab);
                }
            }
            // Weight-only: the W8A8 path (FP8 activations) is CudaFp8GpuTests'.
            try (var runner = CudaFp8GpuTests.withProperty(CudaModelRunner.FP8_GEMM, "false", () -> new CudaModelRunner(config,
                    lease.weights(), (a, p) -> new KvCacheSpec(32, 4), 0, DType.BF16, null))) {
                assertThat(runner.description()).contains("FP8 E4M3 weights").doesNotContain("W8A8");
                float[] prefill = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL)))
                        .logits(0);
                int[] table = {20, 3, 17, 9, 25, 1, 30, 11};
                float[] stepwise = new float[prompt.length * vocab];
                for (int p = 0; p < prompt.length; p++) {
                    float[] row = runner.forward(Batch.of(new SequenceChunk(new int[] {prompt[p]}, p, table, LogitsMode.LAST)))
                            .logits(0);
                    System.arraycopy(row, 0, stepwise, p * vocab, vocab);
                }
                Diff prefillVsCpu = CudaArchitectureParityGpuTests.diff(prefill, cpu, vocab, 0);
                Diff stepwiseVsCpu = CudaArchitectureParityGpuTests.diff(stepwise, cpu, vocab, 0);
                Diff vsHf = CudaArchitectureParityGpuTests.diff(prefill, ref.logits(), vocab, 0);
                GpuResults.record("fp8 %s: cuda vs cpu on the dequantized weights rel L2 %.2e prefill, %.2e one token a pass "
                                + "(GEMV); vs transformers float32 rel L2 %.2e, max |diff| %.3f, top-1 %d/%d", arch,
                        prefillVsCpu.relL2(), stepwiseVsCpu.relL2(), vsHf.relL2(), vsHf.maxAbs(), vsHf.argmaxEqual(), vsHf.rows());
                CudaArchitectureParityGpuTests.assertWithinTolerance(prefillVsCpu);
                CudaArchitectureParityGpuTests.assertWithinTolerance(stepwiseVsCpu);
                assertThat(vsHf.relL2()).isLessThan(0.15);
            }
        }
    }

    /**
     * The runner on INT8 / INT4 engines of the tiny fixtures against the CPU backend on its own INT8 / INT4
     * engines of the same checkpoint: every prompt position's logits in one prefill pass (dequantize +
     * cuBLAS) and fed one token a pass (the quantized GEMV), and both recorded against transformers.
     */
    @ParameterizedTest
    @CsvSource({"llama3, INT8", "mistral, INT8", "qwen2, INT8", "qwen3, INT8",
                "llama3, INT4", "mistral, INT4", "qwen2, INT4", "qwen3, INT4"})
    void quantizedEnginesMatchTheCpuBackendsWithinTheBf16Bound(String arch, Quantization q, @TempDir Path tmp)
            throws IOException {
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        int[] prompt = ref.promptIds();
        BuildConfig build = BuildConfig.builder(64).quantization(q).build();
        Path cpuEngine = tmp.resolve("cpu");
        Path cudaEngine = tmp.resolve("cuda");
        new EngineBuilder(build, Device.cpu()).build(dir, cpuEngine);
        new EngineBuilder(build, Device.cuda(Device.ANY_ARCH)).build(dir, cudaEngine);
        try (EngineLease cpuLease = EngineCache.openPrebuilt(cpuEngine); EngineLease cudaLease = EngineCache.openPrebuilt(cudaEngine)) {
            ModelConfig config = cudaLease.config().modelConfig();
            int vocab = config.vocabSize();
            float[][] cpu = new float[prompt.length][];
            try (var runner = new CpuModelRunner(config, cpuLease.weights(), new KvCacheSpec(32, 4), DType.F32, 4)) {
                float[] all = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL))).logits(0);
                for (int p = 0; p < prompt.length; p++) {
                    cpu[p] = Arrays.copyOfRange(all, p * vocab, (p + 1) * vocab);
                }
            }
            try (var runner = new CudaModelRunner(config, cudaLease.weights(), (a, p) -> new KvCacheSpec(32, 4), 0, DType.BF16,
                    null)) {
                assertThat(runner.description()).contains("weight-only " + q.name());
                float[] prefill = runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL)))
                        .logits(0);
                int[] table = {20, 3, 17, 9, 25, 1, 30, 11};
                float[] stepwise = new float[prompt.length * vocab];
                for (int p = 0; p < prompt.length; p++) {
                    float[] row = runner.forward(Batch.of(new SequenceChunk(new int[] {prompt[p]}, p, table, LogitsMode.LAST)))
                            .logits(0);
                    System.arraycopy(row, 0, stepwise, p * vocab, vocab);
                }
                Diff prefillVsCpu = CudaArchitectureParityGpuTests.diff(prefill, cpu, vocab, 0);
                Diff stepwiseVsCpu = CudaArchitectureParityGpuTests.diff(stepwise, cpu, vocab, 0);
                Diff cudaVsHf = CudaArchitectureParityGpuTests.diff(prefill, ref.logits(), vocab, 0);
                float[] cpuFlat = new float[prompt.length * vocab];
                for (int p = 0; p < prompt.length; p++) {
                    System.arraycopy(cpu[p], 0, cpuFlat, p * vocab, vocab);
                }
                Diff cpuVsHf = CudaArchitectureParityGpuTests.diff(cpuFlat, ref.logits(), vocab, 0);
                GpuResults.record("quantized %s %s: cuda vs cpu (same quantized weights) rel L2 %.2e prefill, %.2e one token a pass "
                                + "(GEMV), top-1 %d/%d; vs transformers float32: cuda %.2e, cpu %.2e (top-1 %d / %d of %d)", arch, q.id(),
                        prefillVsCpu.relL2(), stepwiseVsCpu.relL2(), prefillVsCpu.argmaxEqual(), prefillVsCpu.rows(),
                        cudaVsHf.relL2(), cpuVsHf.relL2(), cudaVsHf.argmaxEqual(), cpuVsHf.argmaxEqual(), cudaVsHf.rows());
                CudaArchitectureParityGpuTests.assertWithinTolerance(prefillVsCpu);
                CudaArchitectureParityGpuTests.assertWithinTolerance(stepwiseVsCpu);
            }
        }
    }
}
