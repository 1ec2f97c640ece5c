package io.trtllm.runtime.cuda;

import io.trtllm.model.Fp8;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The CUDA backend's layout of quantized linear weights (TensorRT-LLM's W8A16 / W4A16, and FP8 weights), as
 * the engine builder writes it and {@link CudaWeights} uploads it. A linear weight {@code (rows, cols)}
 * (PyTorch's {@code nn.Linear.weight}: rows are output features) stays row-major, so that a GEMV thread
 * streams consecutive input features of a row in 16-byte loads and a dequantizing kernel writes a
 * row-major 16-bit matrix that cuBLAS takes as it takes the float weights. Engine tensors of module
 * {@code m}:
 *
 * <pre>
 * m.qweight  I8   [rows, cols]            int8: w(r, c) ≈ q(r, c) · s(r)
 * m.scales   F32  [rows]
 * m.qweight  U8   [rows, cols / 2]        int4: byte (r, c / 2) holds q(r, c) of even c in its low nibble and
 *                                         q(r, c + 1) in its high nibble, two's complement
 * m.scales   F32  [rows, cols / group]    int4: w(r, c) ≈ q(r, c) · s(r, c / group)
 * m.qweight  F8_E4M3 [rows, cols]         fp8: w(r, c) ≈ e4m3(r, c) · s(r); the builder writes one scale for the
 * m.scales   F32  [rows]                  whole source tensor, s(r) = max|w| / 448, in every row ({@link #fp8Scales})
 * </pre>
 *
 * <p>The numbers are those of the CPU backend's {@code PanelLayout} (only the arrangement differs):
 * symmetric, round to nearest even, int8 {@code s(r) = max|w(r, ·)| / 127} and {@code q ∈ [-127, 127]};
 * int4 {@code s = max|w| / 7} over each row's group of {@link #int4GroupSize} columns, {@code q ∈ [-7, 7]}.
 * So an INT8 engine computes the same products on either backend. Writers are deterministic. Pure Java
 * (no CUDA natives): engine builds run it on machines without a GPU.
 */
public final class QuantizedLayout {
    /** Suffix of a module's quantized values. */
    public static final String QWEIGHT = ".qweight";
    /** Suffix of a module's scales. */
    public static final String SCALES = ".scales";
    /** Columns per int4 scale, unless the input dimension asks for fewer. */
    public static final int INT4_GROUP_SIZE = 128;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private QuantizedLayout() {
    }

    /**
     * The int4 group size for {@code cols} input features: {@value #INT4_GROUP_SIZE} when it divides them,
     * else the largest divisor below it that is a multiple of 8 (the CPU layout's rule, so both backends
     * quantize alike).
     *
     * @throws IllegalArgumentException naming the tensor when there is none (cols not a multiple of 8)
     */
    public static int int4GroupSize(String tensor, long cols) {
        for (int g = INT4_GROUP_SIZE; g >= 8; g -= 8) {
            if (cols % g == 0) {
                return g;
            }
        }
        throw new IllegalArgumentException("int4 quantization of tensor '" + tensor + "': its input dimension " + cols
                + " is not a multiple of 8, so it has no group size (a multiple of 8 up to " + INT4_GROUP_SIZE
                + " that divides it); build it with quantization int8 or none");
    }

    /** Shape of int8 {@code m.qweight}: {@code [rows, cols]}. */
    public static long[] int8Shape(long rows, long cols) {
        return new long[] {rows, cols};
    }

    /** Shape of int8 {@code m.scales}: {@code [rows]}. */
    public static long[] int8ScalesShape(long rows) {
        return new long[] {rows};
    }

    /** Shape of int4 {@code m.qweight}: {@code [rows, cols / 2]}. */
    public static long[] int4Shape(long rows, long cols) {
        return new long[] {rows, cols / 2};
    }

    /** Shape of int4 {@code m.scales}: {@code [rows, cols / groupSize]}. */
    public static long[] int4ScalesShape(long rows, long cols, int groupSize) {
        return new long[] {rows, cols / groupSize};
    }

    // ---- writers: source is a row-major floating-point matrix; targets are exactly the shapes' bytes ----

    /** The int8 scales of {@code source}, one per row: {@code max|w(r, ·)| / 127}. */
    public static float[] int8Scales(Tensor source) {
        Matrix m = Matrix.of(source);
        float[] s = new float[m.rows];
        for (int r = 0; r < m.rows; r++) {
            s[r] = m.maxAbs(r, 0, m.cols) / 127;
        }
        return s;
    }

    /** Writes the int8 values of {@code source} ({@code [rows, cols]}, I8) with its {@link #int8Scales}. */
    public static void writeInt8(Tensor source, float[] scales, MemorySegment target) {
        Matrix m = Matrix.of(source);
        checkScales(source, scales, m.rows);
        check(source, target, (long) m.rows * m.cols);
        for (int r = 0; r < m.rows; r++) {
            long base = (long) r * m.cols;
            for (int c = 0; c < m.cols; c++) {
                target.set(ValueLayout.JAVA_BYTE, base + c, (byte) quantize(m.get(r, c), scales[r], 127));
            }
        }
    }

    /**
     * The FP8 scales of {@code source}, one per row as the layout stores them, all equal to the tensor's
     * {@code max|w| / 448} (E4M3's largest value): NVIDIA ModelOpt's {@code FP8_DEFAULT_CFG} weight quantizer
     * ({@code axis None}, max calibration), which TensorRT-LLM's FP8 checkpoints carry. E4M3 is a floating-point
     * format, so a row's relative rounding error does not depend on its scale (only values below 2⁻⁶ of the scale,
     * subnormal, lose bits): on stories15M per-row scales were no more accurate (docs/PERFORMANCE.md, "FP8 recipe").
     * A stacked projection (q|k|v) keeps one scale per source tensor. The CUDA kernels read a scale per row, so
     * engines of per-row scales (FP8 recipe 1) still run.
     */
    public static float[] fp8Scales(Tensor source) {
        Matrix m = Matrix.of(source);
        float max = 0;
        for (int r = 0; r < m.rows; r++) {
            max = Math.max(max, m.maxAbs(r, 0, m.cols));
        }
        float[] s = new float[m.rows];
        Arrays.fill(s, max / Fp8.MAX);
        return s;
    }

    /** Writes the FP8 E4M3 codes of {@code w / s(r)} ({@code [rows, cols]}, F8_E4M3) with its {@link #fp8Scales}. */
    public static void writeFp8(Tensor source, float[] scales, MemorySegment target) {
        Matrix m = Matrix.of(source);
        checkScales(source, scales, m.rows);
        check(source, target, (long) m.rows * m.cols);
        for (int r = 0; r < m.rows; r++) {
            long base = (long) r * m.cols;
            float s = scales[r];
            for (int c = 0; c < m.cols; c++) {
                target.set(ValueLayout.JAVA_BYTE, base + c, (byte) (s == 0f ? 0 : Fp8.encode(m.get(r, c) / s)));
            }
        }
    }

    /**
     * The int4 scales of {@code source}, {@code [rows][cols / groupSize]} flattened: {@code max|w| / 7}
     * of every row's groups.
     */
    public static float[] int4Scales(Tensor source, int groupSize) {
        Matrix m = Matrix.of(source);
        checkGroups(source, m.cols, groupSize);
        int groups = m.cols / groupSize;
        float[] s = new float[m.rows * groups];
        for (int r = 0; r < m.rows; r++) {
            for (int g = 0; g < groups; g++) {
                s[r * groups + g] = m.maxAbs(r, g * groupSize, (g + 1) * groupSize) / 7;
            }
        }
        return s;
    }

    /** Writes the int4 values of {@code source} ({@code [rows, cols / 2]}, U8) with its {@link #int4Scales}. */
    public static void writeInt4(Tensor source, int groupSize, float[] scales, MemorySegment target) {
        Matrix m = Matrix.of(source);
        checkGroups(source, m.cols, groupSize);
        int groups = m.cols / groupSize;
        checkScales(source, scales, m.rows * groups);
        check(source, target, (long) m.rows * (m.cols / 2));
        for (int r = 0; r < m.rows; r++) {
            long base = (long) r * (m.cols / 2);
            for (int c = 0; c < m.cols; c += 2) {
                int lo = quantize(m.get(r, c), scales[r * groups + c / groupSize], 7) & 0xf;
                int hi = quantize(m.get(r, c + 1), scales[r * groups + (c + 1) / groupSize], 7) & 0xf;
                target.set(ValueLayout.JAVA_BYTE, base + c / 2, (byte) (lo | hi << 4));
            }
        }
    }

    /** Writes {@code scales} (F32, little-endian) into {@code target}, which holds exactly them. */
    public static void writeScales(float[] scales, MemorySegment target) {
        if (target.byteSize() != (long) scales.length * Float.BYTES) {
            throw new IllegalArgumentException("target of " + target.byteSize() + " bytes for " + scales.length + " scales");
        }
        for (int i = 0; i < scales.length; i++) {
            target.set(F32, 4L * i, scales[i]);
        }
    }

    /** {@code round(v / s)} to nearest even, clamped to {@code [-limit, limit]}; 0 when the scale is 0. */
    static int quantize(float v, float s, int limit) {
        if (s == 0f) {
            return 0;
        }
        int q = (int) Math.rint(v / s);
        return Math.max(-limit, Math.min(limit, q));
    }

    /** The signed value of a 4-bit two's complement nibble. */
    static int nibble(int bits) {
        return (bits & 0x8) != 0 ? (bits & 0xf) - 16 : bits & 0xf;
    }

    private static void check(Tensor source, MemorySegment target, long bytes) {
        if (target.byteSize() != bytes) {
            throw new IllegalArgumentException("tensor '" + source.name() + "': target of " + target.byteSize()
                    + " bytes, its layout needs " + bytes);
        }
    }

    private static void checkScales(Tensor source, float[] scales, int expected) {
        if (scales.length != expected) {
            throw new IllegalArgumentException("tensor '" + source.name() + "': " + scales.length + " scales, expected "
                    + expected);
        }
    }

    private static void checkGroups(Tensor source, int cols, int groupSize) {
        if (groupSize <= 0 || groupSize % 2 != 0 || cols % groupSize != 0) {
            throw new IllegalArgumentException("tensor '" + source.name() + "': group size " + groupSize
                    + " does not divide its " + cols + " columns in even groups");
        }
    }

    /** A row-major floating-point source matrix. */
    private record Matrix(Tensor tensor, int rows, int cols) {
        static Matrix of(Tensor t) {
            long[] shape = t.shape();
            if (shape.length != 2 || shape[0] > Integer.MAX_VALUE || shape[1] > Integer.MAX_VALUE) {
                throw new ModelFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(shape)
                        + ", expected a matrix [out_features, in_features]");
            }
            if (!t.dtype().isFloatingPoint()) {
                throw new ModelFormatException("tensor '" + t.name() + "' has dtype " + t.dtype()
                        + ", expected F32, BF16 or F16 (pre-quantized checkpoints are not supported)");
            }
            return new Matrix(t, (int) shape[0], (int) shape[1]);
        }

        float get(int r, int c) {
            long i = (long) r * cols + c;
            MemorySegment d = tensor.data();
            return switch (tensor.dtype()) {
                case F32 -> d.get(F32, i * 4);
                case BF16 -> Float.intBitsToFloat((d.get(U16, i * 2) & 0xffff) << 16);
                case F16 -> Float.float16ToFloat(d.get(U16, i * 2));
                case I8, U8, F8_E4M3 -> throw new IllegalStateException("not floating-point: " + tensor.dtype());
            };
        }

        float maxAbs(int r, int from, int to) {
            float max = 0;
            for (int c = from; c < to; c++) {
                float v = get(r, c);
                if (!Float.isFinite(v)) {
                    throw new ModelFormatException("tensor '" + tensor.name() + "' holds " + v + " at [" + r + ", " + c
                            + "]; it cannot be quantized");
                }
                max = Math.max(max, Math.abs(v));
            }
            return max;
        }
    }
}
