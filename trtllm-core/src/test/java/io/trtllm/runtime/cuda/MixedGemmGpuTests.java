package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.assertj.core.api.Assertions.assertThat;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.model.DType;
import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The mixed-input GEMM ({@link MixedGemm}, kernels.cu's {@code mixgemm_*}) against the scratch path it replaces
 * (dequant_i8 / dequant_i4 into the scratch, then cuBLAS: {@link Projections} with {@value MixedGemm#PROPERTY} off)
 * on Llama-3.1-8B's layer shapes at 16, 128 and 2,048 rows, INT8 and INT4; rows the same bit for bit at any row
 * count on either side of {@link MixedGemm#SPLIT_MAX_ROWS} and with either tile; and µs per GEMM of both paths and of
 * BF16 cuBLAS. Needs an NVIDIA GPU (tag {@code gpu}).
 *
 * <p>Bound. Both paths multiply the same numbers, {@code wt((float) q · s)} by the BF16 activations, exactly in F32, and
 * sum them (plus the residual when accumulating) in F32 in different orders, so each is within {@code (K + 1)·2⁻²⁴·
 * (Σ|w·x| + |residual|)} of the exact sum and they are within twice that of each other; asserted on every output,
 * {@code Σ|w·x|} computed by the scratch path on |W| and |x|. Against a float64 reference on 256 sampled outputs a
 * case.
 */
@Tag("gpu")
class MixedGemmGpuTests {
    /** One of the 8B's projections: {@code outDim × inDim}, accumulating into the residual or not. */
    record Shape(String name, int outDim, int inDim, boolean accumulate) {
    }

    static final List<Shape> SHAPES = List.of(new Shape("qkv", 6144, 4096, false), new Shape("o", 4096, 4096, true),
            new Shape("gate_up", 28672, 4096, false), new Shape("down", 4096, 14336, true));
    static final int[] ROWS = {16, 128, 2048};
    static final int MAX_ROWS = 2048;
    static final int SAMPLES = 256;

    /** Random quantized weights on the host (q in [-127, 127] or [-7, 7], positive scales) and their |q| twin. */
    record Host(MemorySegment values, MemorySegment absValues, float[] scales, int group) {
        int q(Format f, int cols, int r, int c) {
            if (f == Format.INT8) {
                return values.get(ValueLayout.JAVA_BYTE, (long) r * cols + c);
            }
            int b = values.get(ValueLayout.JAVA_BYTE, ((long) r * cols + c) / 2) >> (c % 2 * 4);
            return QuantizedLayout.nibble(b & 0xf);
        }

        /** bf16((float) q · s): what dequant_i8 / dequant_i4 write and mixgemm multiplies. */
        float w(Format f, int cols, int r, int c) {
            float s = f == Format.INT8 ? scales[r] : scales[r * (cols / group) + c / group];
            return bf16((float) q(f, cols, r, c) * s);
        }
    }

    static float bf16(float v) {
        return Float.intBitsToFloat(io.trtllm.model.TensorConversion.toBfloat16(v) << 16);
    }

    static long mix(long seed, long i) {
        long z = seed * 0x632BE59BD9B4E019L + i * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static Host host(Arena arena, Format f, int rows, int cols, long seed) {
        boolean int4 = f == Format.INT4;
        int group = int4 ? QuantizedLayout.int4GroupSize("w", cols) : cols;
        long bytes = int4 ? (long) rows * cols / 2 : (long) rows * cols;
        MemorySegment v = arena.allocate(bytes, 64);
        MemorySegment a = arena.allocate(bytes, 64);
        IntStream.range(0, 64).parallel().forEach(part -> {
            for (long i = bytes * part / 64; i < bytes * (part + 1) / 64; i++) {
                long z = mix(seed, i);
                int b;
                int ab;
                if (int4) {
                    int lo = (int) Math.floorMod(z, 15L) - 7;
                    int hi = (int) Math.floorMod(z >>> 20, 15L) - 7;
                    b = (lo & 0xf) | (hi & 0xf) << 4;
                    ab = Math.abs(lo) | Math.abs(hi) << 4;
                } else {
                    b = (int) Math.floorMod(z, 255L) - 127;
                    ab = Math.abs(b);
                }
                v.set(ValueLayout.JAVA_BYTE, i, (byte) b);
                a.set(ValueLayout.JAVA_BYTE, i, (byte) ab);
            }
        });
        float[] s = new float[int4 ? rows * (cols / group) : rows];
        for (int i = 0; i < s.length; i++) {
            s[i] = (1 + (mix(seed + 1, i) >>> 40) * 0x1p-24f) * (int4 ? 0.02f : 0.001f);
        }
        return new Host(v, a, s, group);
    }

    static long upload(CudaGemvGpuTests.Device d, MemorySegment src) {
        long p = d.alloc(src.byteSize());
        check(cudaMemcpy(at(p), at(src.address()), src.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
        return p;
    }

    static long uploadScales(CudaGemvGpuTests.Device d, Arena arena, float[] scales) {
        MemorySegment s = arena.allocate(scales.length * 4L, 64);
        QuantizedLayout.writeScales(scales, s);
        return upload(d, s);
    }

    @Test
    void matchesTheScratchPathOnLlama8bShapesAndRowsAreBatchInvariant() {
        assertThat(MixedGemm.enabledByProperty()).as("the reference is the scratch path").isFalse();
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128); Arena arena = Arena.ofShared();
             var memory = new DeviceMemory(CudaDevice.query(0));
             var projections = new Projections(DType.BF16, kernels, d.stream, memory, true)) {
            MixedGemm mixed = new MixedGemm(kernels, d.alloc(MixedGemm.WORKSPACE_BYTES));
            projections.reserveScratch(28672L * 4096, 14336);
            projections.gemvPass(false);
            int maxIn = 14336;
            int maxOut = 28672;
            long x = d.alloc((long) MAX_ROWS * maxIn * Short.BYTES);
            long xAbs = d.alloc((long) MAX_ROWS * maxIn * Short.BYTES);
            d.uploadBf16(x, (long) MAX_ROWS * maxIn, 3);
            float[] xs = d.floatsOfBf16(x, MAX_ROWS * maxIn);
            MemorySegment abs = arena.allocate((long) MAX_ROWS * maxIn * Short.BYTES, 64);
            for (int i = 0; i < xs.length; i++) {
                abs.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (io.trtllm.model.TensorConversion.toBfloat16(xs[i]) & 0x7fff));
            }
            check(cudaMemcpy(at(xAbs), at(abs.address()), abs.byteSize(), cudaMemcpyHostToDevice), "cudaMemcpy");
            long outBytes = (long) MAX_ROWS * maxOut * Float.BYTES;
            long residual = d.alloc(outBytes);
            long outMixed = d.alloc(outBytes);
            long outScratch = d.alloc(outBytes);
            long outMag = d.alloc(outBytes);
            long outOther = d.alloc(outBytes);
            d.uploadF32(residual, (long) MAX_ROWS * maxOut, 4);
            List<String> failures = new java.util.ArrayList<>();  // every case runs and is recorded before the verdict
            for (Format f : List.of(Format.INT8, Format.INT4)) {
                for (int si = 0; si < SHAPES.size(); si++) {
                    Shape s = SHAPES.get(si);
                    int n = s.outDim();
                    int k = s.inDim();
                    Host h = host(arena, f, n, k, 100 + 10 * si + f.ordinal());
                    long scales = uploadScales(d, arena, h.scales());
                    DeviceMatrix w = new DeviceMatrix(upload(d, h.values()), scales, f, n, k, h.group());
                    DeviceMatrix wAbs = new DeviceMatrix(upload(d, h.absValues()), scales, f, n, k, h.group());
                    float[] res = s.accumulate() ? d.floats(residual, MAX_ROWS * n) : null;
                    float[] big = null;
                    float[] first16 = null;
                    float[] mid = null;
                    for (int rows : ROWS) {
                        long count = (long) rows * n;
                        reset(d, s, residual, count, outMixed, outScratch);
                        mixed.launch(w, x, outMixed, rows, s.accumulate(), d.stream);
                        projections.gemm(w, x, outScratch, n, k, rows, s.accumulate());
                        projections.gemm(wAbs, xAbs, outMag, n, k, rows, false);
                        d.sync();
                        float[] got = d.floats(outMixed, (int) count);
                        float[] ref = d.floats(outScratch, (int) count);
                        float[] mag = d.floats(outMag, (int) count);
                        double worst = 0;
                        double worstRel = 0;
                        int over = 0;
                        for (int i = 0; i < count; i++) {
                            double m = mag[i] + (res != null ? Math.abs(res[i]) : 0);
                            double tol = 2 * (k + 1) * 0x1p-24 * m;
                            double err = Math.abs((double) got[i] - ref[i]);
                            worst = Math.max(worst, tol > 0 ? err / tol : err);
                            worstRel = Math.max(worstRel, m > 0 ? err / m : err);
                            if (!(err <= tol)) {
                                over++;
                            }
                        }
                        double worstExact = sampledAgainstFloat64(f, s, h, xs, res, got, rows, mag);
                        GpuResults.record("mixgemm vs scratch 8B %s %s %dx%d, %d rows (%s tile, %d splits): worst |mixed - scratch| %.3f of "
                                        + "the bound 2(K+1)2^-24(sum|wx| + |res|) (%.2e of sum|wx|), %d over; vs float64 on %d "
                                        + "samples: %.3f of (K+1)2^-24(...)", f, s.name(), n, k, rows, MixedGemm.tile(rows),
                                MixedGemm.splits(n, k, rows), worst, worstRel, over, SAMPLES, worstExact);
                        if (over > 0 || !(worstExact <= 1.0)) {
                            failures.add(String.format("%s %s %d rows: %d outputs past the bound vs scratch, %.3f of the "
                                    + "float64 bound", f, s.name(), rows, over, worstExact));
                        }
                        if (rows == MAX_ROWS) {
                            big = got;
                        } else if (rows == 128) {
                            mid = got;
                        } else if (rows == 16) {
                            first16 = got;
                        }
                    }
                    // batch invariance: rows 0..15 of 16 and of 128 (both split the same way); 128 rows with either tile;
                    // rows 0..511 of 512 and of 2,048 (unsplit, large tile); 16 (split) vs 2,048 (unsplit) recorded only
                    int differ16 = differ(first16, mid, 16 * n);
                    int differSplit = differ(first16, big, 16 * n);
                    reset(d, s, residual, 512L * n, outMixed, outMixed);
                    mixed.launch(w, x, outMixed, 512, s.accumulate(), d.stream);
                    d.sync();
                    int differ512 = differ(d.floats(outMixed, 512 * n), big, 512 * n);
                    reset(d, s, residual, 128L * n, outMixed, outOther);
                    mixed.launch(w, x, outMixed, 128, s.accumulate(), MixedGemm.Tile.SMALL, d.stream);
                    mixed.launch(w, x, outOther, 128, s.accumulate(), MixedGemm.Tile.LARGE, d.stream);
                    d.sync();
                    float[] a = d.floats(outMixed, 128 * n);
                    float[] b = d.floats(outOther, 128 * n);
                    int differ128 = differ(a, b, 128 * n);
                    GpuResults.record("mixgemm batch invariance 8B %s %s (splits %d up to %d rows): rows 0-15 of 16 vs of 128 rows:"
                                    + " %d of %d outputs differ; 128 rows small vs large tile: %d of %d; rows 0-511 of 512 vs of 2048:"
                                    + " %d of %d; (not asserted: 16 split vs 2048 unsplit rows: %d of %d differ)", f, s.name(),
                            MixedGemm.splits(n, k, 16), MixedGemm.SPLIT_MAX_ROWS, differ16, 16 * n, differ128, 128 * n,
                            differ512, 512 * n, differSplit, 16 * n);
                    if (differ16 != 0 || differ128 != 0 || differ512 != 0) {
                        failures.add(String.format("%s %s: batch invariance, %d (16 vs 128 rows), %d (128 rows, tiles), %d"
                                + " (512 vs 2048 rows) outputs differ", f, s.name(), differ16, differ128, differ512));
                    }
                    d.free(w.weights(), wAbs.weights(), scales);
                }
            }
            d.free(x, xAbs, residual, outMixed, outScratch, outMag, outOther);
            assertThat(failures).isEmpty();
        }
    }

    private static int differ(float[] a, float[] b, int count) {
        int d = 0;
        for (int i = 0; i < count; i++) {
            d += Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i]) ? 1 : 0;
        }
        return d;
    }

    /** Both outputs set to the residual (accumulating shapes), or left as they are (stored ones). */
    private static void reset(CudaGemvGpuTests.Device d, Shape s, long residual, long count, long out1, long out2) {
        if (s.accumulate()) {
            d.copy(out1, residual, count * Float.BYTES);
            d.copy(out2, residual, count * Float.BYTES);
        }
    }

    /** Worst |mixed − exact| over SAMPLES outputs, as a fraction of (K + 1)·2⁻²⁴·(Σ|w·x| + |residual|). */
    private static double sampledAgainstFloat64(Format f, Shape s, Host h, float[] xs, float[] res, float[] got, int rows,
                                                float[] mag) {
        int n = s.outDim();
        int k = s.inDim();
        double worst = 0;
        for (int i = 0; i < SAMPLES; i++) {
            int r = (int) Math.floorMod(mix(7, i), (long) rows);
            int c = (int) Math.floorMod(mix(8, i), (long) n);
            if (i < 4) {  // the corners of the tiles' edges
                r = i % 2 == 0 ? 0 : rows - 1;
                c = i / 2 == 0 ? 0 : n - 1;
            }
            double exact = res != null ? res[r * n + c] : 0;
            double m = res != null ? Math.abs(res[r * n + c]) : 0;
            for (int j = 0; j < k; j++) {
                double p = (double) h.w(f, k, c, j) * xs[r * k + j];  // the kernels read row r at r · K
                exact += p;
                m += Math.abs(p);
            }
            double tol = (k + 1) * 0x1p-24 * m;
            worst = Math.max(worst, Math.abs(got[r * n + c] - exact) / tol);
        }
        return worst;
    }

    @Test
    void recordsMicrosPerGemmOnLlama8bShapes() {
        assertThat(MixedGemm.enabledByProperty()).as("the reference is the scratch path").isFalse();
        try (var d = new CudaGemvGpuTests.Device(); KernelModule kernels = d.module(128); Arena arena = Arena.ofShared();
             var memory = new DeviceMemory(CudaDevice.query(0));
             var projections = new Projections(DType.BF16, kernels, d.stream, memory, true)) {
            MixedGemm mixed = new MixedGemm(kernels, d.alloc(MixedGemm.WORKSPACE_BYTES));
            projections.reserveScratch(28672L * 4096, 14336);
            projections.gemvPass(false);
            long x = d.alloc((long) MAX_ROWS * 14336 * Short.BYTES);
            long out = d.alloc((long) MAX_ROWS * 28672 * Float.BYTES);
            d.uploadBf16(x, (long) MAX_ROWS * 14336, 5);
            // [rows][path]: layer sums (qkv + o + gate_up + down) of BF16, INT8 scratch, INT8 mixed, INT4 scratch, INT4 mixed
            double[][] layer = new double[ROWS.length][5];
            for (int si = 0; si < SHAPES.size(); si++) {
                Shape s = SHAPES.get(si);
                int n = s.outDim();
                int k = s.inDim();
                long bf16Bytes = (long) n * k * Short.BYTES;
                int bfCopies = (int) Math.max(1, (CudaGemvGpuTests.TIMING_BYTES + bf16Bytes - 1) / bf16Bytes);
                long[] bf = new long[bfCopies];
                for (int c = 0; c < bfCopies; c++) {
                    bf[c] = d.alloc(bf16Bytes);
                    d.uploadBf16(bf[c], (long) n * k, 50 + c);
                }
                for (int ri = 0; ri < ROWS.length; ri++) {
                    int rows = ROWS[ri];
                    double t = d.micros(i -> d.cublas(bf[i % bfCopies], x, out, n, k, rows, s.accumulate()));
                    layer[ri][0] += t;
                    GpuResults.record("mixgemm timing 8B %s %dx%d, %d rows: BF16 cuBLAS %.1f us (%.0f TFLOPS)", s.name(), n, k,
                            rows, t, 2.0 * rows * n * k / t / 1e6);
                }
                d.free(bf);
                for (Format f : List.of(Format.INT8, Format.INT4)) {
                    Host h = host(arena, f, n, k, 200 + si);
                    long valueBytes = h.values().byteSize();
                    int copies = (int) Math.max(1, (CudaGemvGpuTests.TIMING_BYTES + valueBytes - 1) / valueBytes);
                    DeviceMatrix[] w = new DeviceMatrix[copies];
                    for (int c = 0; c < copies; c++) {
                        w[c] = new DeviceMatrix(upload(d, h.values()), uploadScales(d, arena, h.scales()), f, n, k, h.group());
                    }
                    int path = f == Format.INT8 ? 1 : 3;
                    for (int ri = 0; ri < ROWS.length; ri++) {
                        int rows = ROWS[ri];
                        double scratch = d.micros(i -> projections.gemm(w[i % copies], x, out, n, k, rows, s.accumulate()));
                        double large = d.micros(i -> mixed.launch(w[i % copies], x, out, rows, s.accumulate(),
                                MixedGemm.Tile.LARGE, d.stream));
                        double small = d.micros(i -> mixed.launch(w[i % copies], x, out, rows, s.accumulate(),
                                MixedGemm.Tile.SMALL, d.stream));
                        double auto = MixedGemm.tile(rows) == MixedGemm.Tile.LARGE ? large : small;
                        layer[ri][path] += scratch;
                        layer[ri][path + 1] += auto;
                        GpuResults.record("mixgemm timing 8B %s %s %dx%d, %d rows: scratch path %.1f us, mixed large tile %.1f us,"
                                        + " small tile %.1f us (picked: %s, %d splits, x%.2f vs scratch, %.0f TFLOPS, weights %.0f GB/s)", f,
                                s.name(), n, k, rows, scratch, large, small, MixedGemm.tile(rows), MixedGemm.splits(n, k, rows),
                                scratch / auto,
                                2.0 * rows * n * k / auto / 1e6, (valueBytes + h.scales().length * 4.0) / auto / 1e3);
                    }
                    for (DeviceMatrix m : w) {
                        d.free(m.weights(), m.scales());
                    }
                }
            }
            for (int ri = 0; ri < ROWS.length; ri++) {
                double[] l = layer[ri];
                GpuResults.record("mixgemm timing 8B layer projections (qkv + o + gate_up + down), %d rows: BF16 cuBLAS %.1f us; "
                                + "INT8 scratch %.1f, mixed %.1f (x%.2f); INT4 scratch %.1f, mixed %.1f (x%.2f); x32 layers: "
                                + "BF16 %.2f ms, INT8 %.2f -> %.2f ms, INT4 %.2f -> %.2f ms", ROWS[ri], l[0], l[1], l[2],
                        l[1] / l[2], l[3], l[4], l[3] / l[4], 32 * l[0] / 1e3, 32 * l[1] / 1e3, 32 * l[2] / 1e3,
                        32 * l[3] / 1e3, 32 * l[4] / 1e3);
            }
            d.free(x, out);
        }
    }
}
