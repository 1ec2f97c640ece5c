package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The CPU runner's weight layout, as the engine builder writes it and the runner maps it in place.
 * A linear weight {@code (rows, cols)} (PyTorch's {@code nn.Linear.weight}: rows are output
 * features) is stored in panels of {@code P = panelRows} rows, the last one zero-padded; inside a
 * panel column-major, so a kernel multiplies a vector of output rows by one input value per step
 * (see {@link PackedMatrix}). Engine tensors of a module {@code m} (e.g.
 * {@code model.layers.0.self_attn.q_proj}):
 *
 * <pre>
 * m.panels   F32|BF16|F16  [panels, cols, P]       float weights: element (r, c) at [r / P, c, r % P]
 * m.qweight  I8            [panels, cols, P]       int8: q(r, c) at [r / P, c, r % P]
 * m.scales   F32           [panels, P]             int8: w(r, c) ≈ q(r, c) · s(r), one scale per row
 * m.qweight  U8            [panels, cols, P / 2]   int4: byte [r / P, c, i] holds q of row i (low nibble) and
 *                                                  row i + P/2 (high nibble) of the panel, two's complement
 * m.scales   F32           [panels, groups, P]     int4: w(r, c) ≈ q(r, c) · s(r, c / groupSize)
 * </pre>
 *
 * <p>Quantization is symmetric, with round to nearest even: int8 {@code s(r) = max|w(r, ·)| / 127},
 * {@code q ∈ [-127, 127]}; int4 {@code s = max|w| / 7} over each row's group of {@code groupSize}
 * columns, {@code q ∈ [-7, 7]}. (Choosing each int4 group's scale for the least squared weight
 * error instead, clipping its largest values, lowered the weights' error by a tenth but raised
 * stories15M's logit error from about 17% to 21%: large weights matter more than their share.) The group size is {@value #INT4_GROUP_SIZE}, or for an input
 * dimension that it does not divide the largest divisor below it that is a multiple of 8.
 * Padding rows hold zeros and scale 0.
 *
 * <p>Every writer is deterministic (the same source bytes give the same engine bytes).
 */
public final class PanelLayout {
    /** Suffix of a module's float weights in panels. */
    public static final String PANELS = ".panels";
    /** Suffix of a module's quantized weights in panels. */
    public static final String QWEIGHT = ".qweight";
    /** Suffix of a module's quantization scales. */
    public static final String SCALES = ".scales";
    /** Suffix of a checkpoint's row-major linear weight (replaced by the above in an engine). */
    public static final String WEIGHT = ".weight";
    /** Columns per int4 scale, unless the input dimension asks for fewer (see the class comment). */
    public static final int INT4_GROUP_SIZE = 128;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private PanelLayout() {
    }

    /** Rows per panel of the kernels this JVM runs (two SIMD vectors of floats; 16 for the scalar kernels). */
    public static int nativePanelRows() {
        return CpuKernels.best().panelRows();
    }

    /** Panels of {@code rows} rows, the last one padded. */
    public static int panels(int rows, int panelRows) {
        return (rows + panelRows - 1) / panelRows;
    }

    /**
     * The int4 group size for {@code cols} input features: {@value #INT4_GROUP_SIZE} when it divides
     * them, else the largest divisor of {@code cols} below it that is a multiple of 8.
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

    // ---- shapes ----

    /** Shape of {@code m.panels} and of int8 {@code m.qweight}: {@code [panels, cols, P]}. */
    public static long[] panelsShape(int rows, int cols, int panelRows) {
        return new long[] {panels(rows, panelRows), cols, panelRows};
    }

    /** Shape of int4 {@code m.qweight}: {@code [panels, cols, P / 2]}. */
    public static long[] int4Shape(int rows, int cols, int panelRows) {
        return new long[] {panels(rows, panelRows), cols, panelRows / 2};
    }

    /** Shape of int8 {@code m.scales}: {@code [panels, P]}. */
    public static long[] int8ScalesShape(int rows, int panelRows) {
        return new long[] {panels(rows, panelRows), panelRows};
    }

    /** Shape of int4 {@code m.scales}: {@code [panels, groups, P]}. */
    public static long[] int4ScalesShape(int rows, int cols, int groupSize, int panelRows) {
        return new long[] {panels(rows, panelRows), cols / groupSize, panelRows};
    }

    // ---- writers: source is a row-major floating-point matrix; targets are exactly the shapes' bytes ----

    /** Writes {@code source} converted to {@code dtype} (F32, BF16 or F16) in panels. */
    public static void writePanels(Tensor source, DType dtype, int panelRows, MemorySegment target) {
        Matrix m = Matrix.of(source, panelRows);
        int size = dtype.byteSize();
        check(source, target, (long) m.panels * m.cols * panelRows * size);
        target.fill((byte) 0);
        for (int r = 0; r < m.rows; r++) {
            long base = (long) (r / panelRows) * m.cols * panelRows + r % panelRows;
            for (int c = 0; c < m.cols; c++) {
                long i = base + (long) c * panelRows;
                float v = m.get(r, c);
                switch (dtype) {
                    case F32 -> target.set(F32, i * 4, v);
                    case BF16 -> target.set(U16, i * 2, TensorConversion.toBfloat16(v));
                    case F16 -> target.set(U16, i * 2, Float.floatToFloat16(v));
                    case I8, U8 -> throw new IllegalArgumentException("panels of " + dtype + " are written by the quantizers");
                }
            }
        }
    }

    /** Writes the int8 values of {@code source} in panels ({@code [panels, cols, P]}, I8). */
    public static void writeInt8(Tensor source, int panelRows, MemorySegment target) {
        Matrix m = Matrix.of(source, panelRows);
        check(source, target, (long) m.panels * m.cols * panelRows);
        target.fill((byte) 0);
        for (int r = 0; r < m.rows; r++) {
            float s = m.rowScale(r, 127);
            long base = (long) (r / panelRows) * m.cols * panelRows + r % panelRows;
            for (int c = 0; c < m.cols; c++) {
                target.set(ValueLayout.JAVA_BYTE, base + (long) c * panelRows, (byte) quantize(m.get(r, c), s, 127));
            }
        }
    }

    /** Writes the int8 scales of {@code source} ({@code [panels, P]}, F32). */
    public static void writeInt8Scales(Tensor source, int panelRows, MemorySegment target) {
        Matrix m = Matrix.of(source, panelRows);
        check(source, target, (long) m.panels * panelRows * 4);
        target.fill((byte) 0);
        for (int r = 0; r < m.rows; r++) {
            target.set(F32, 4L * r, m.rowScale(r, 127)); // [panel][lane] is row-major in r
        }
    }

    /**
     * The int4 scales of {@code source}, {@code [rows][cols / groupSize]} flattened: what
     * {@link #writeInt4} and {@link #writeInt4Scales} take (computed once for both).
     */
    public static float[] int4Scales(Tensor source, int groupSize) {
        Matrix m = Matrix.of(source, 2);
        checkGroups(source, m.cols, groupSize);
        return m.groupScales(groupSize);
    }

    /** Writes the int4 values of {@code source} in panels ({@code [panels, cols, P / 2]}, U8) with its {@link #int4Scales}. */
    public static void writeInt4(Tensor source, int panelRows, int groupSize, float[] scales, MemorySegment target) {
        Matrix m = Matrix.of(source, panelRows);
        checkGroups(source, m.cols, groupSize);
        checkScales(source, scales, m.rows * (m.cols / groupSize));
        int half = panelRows / 2;
        check(source, target, (long) m.panels * m.cols * half);
        int groups = m.cols / groupSize;
        for (int p = 0; p < m.panels; p++) {
            for (int c = 0; c < m.cols; c++) {
                long at = ((long) p * m.cols + c) * half;
                for (int i = 0; i < half; i++) {
                    int lo = nibble(m, scales, groups, p * panelRows + i, c, groupSize);
                    int hi = nibble(m, scales, groups, p * panelRows + half + i, c, groupSize);
                    target.set(ValueLayout.JAVA_BYTE, at + i, (byte) (lo | hi << 4));
                }
            }
        }
    }

    /** Writes the int4 scales of {@code source} ({@code [panels, groups, P]}, F32): its {@link #int4Scales} in panels. */
    public static void writeInt4Scales(Tensor source, int panelRows, int groupSize, float[] scales, MemorySegment target) {
        Matrix m = Matrix.of(source, panelRows);
        checkGroups(source, m.cols, groupSize);
        int groups = m.cols / groupSize;
        checkScales(source, scales, m.rows * groups);
        check(source, target, (long) m.panels * groups * panelRows * 4);
        target.fill((byte) 0);
        for (int r = 0; r < m.rows; r++) {
            for (int g = 0; g < groups; g++) {
                long i = ((long) (r / panelRows) * groups + g) * panelRows + r % panelRows;
                target.set(F32, i * 4, scales[r * groups + g]);
            }
        }
    }

    /** The 4-bit two's complement of row {@code r}'s quantized value at column {@code c} (0 for padding rows). */
    private static int nibble(Matrix m, float[] scales, int groups, int r, int c, int groupSize) {
        if (r >= m.rows) {
            return 0;
        }
        return quantize(m.get(r, c), scales[r * groups + c / groupSize], 7) & 0xf;
    }

    /** {@code round(v / s)} to nearest even, clamped to {@code [-limit, limit]}; 0 when the scale is 0. */
    static int quantize(float v, float s, int limit) {
        if (s == 0f) {
            return 0;
        }
        int q = (int) Math.rint(v / s);
        return Math.max(-limit, Math.min(limit, q));
    }

    private static void check(Tensor source, MemorySegment target, long bytes) {
        if (target.byteSize() != bytes) {
            throw new IllegalArgumentException("tensor '" + source.name() + "': target of " + target.byteSize()
                    + " bytes, its layout needs " + bytes);
        }
    }

    private static void checkScales(Tensor source, float[] scales, int expected) {
        if (scales.length != expected) {
            throw new IllegalArgumentException("tensor '" + source.name() + "': " + scales.length + " int4 scales, expected "
                    + expected);
        }
    }

    private static void checkGroups(Tensor source, int cols, int groupSize) {
        if (groupSize <= 0 || cols % groupSize != 0) {
            throw new IllegalArgumentException("tensor '" + source.name() + "': group size " + groupSize
                    + " does not divide its " + cols + " columns");
        }
    }

    /** A row-major floating-point source matrix with its panel count. */
    private record Matrix(Tensor tensor, int rows, int cols, int panels) {
        static Matrix of(Tensor t, int panelRows) {
            long[] shape = t.shape();
            if (shape.length != 2 || shape[0] > Integer.MAX_VALUE || shape[1] > Integer.MAX_VALUE) {
                throw new ModelFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(shape)
                        + ", expected a matrix [out_features, in_features]");
            }
            WeightMatrix.requireFloatingPoint(t);
            if (panelRows <= 0 || panelRows % 2 != 0) {
                throw new IllegalArgumentException("panel rows must be even and positive, got " + panelRows);
            }
            return new Matrix(t, (int) shape[0], (int) shape[1], PanelLayout.panels((int) shape[0], panelRows));
        }

        float get(int r, int c) {
            return WeightMatrix.readFloat(tensor.data(), tensor.dtype(), (long) r * cols + c);
        }

        /** {@code max|w(r, ·)| / limit}. */
        float rowScale(int r, int limit) {
            return maxAbs(r, 0, cols) / limit;
        }

        /** {@code max|w| / 7} of every row's groups, {@code [rows][groups]} flattened. */
        float[] groupScales(int groupSize) {
            int groups = cols / groupSize;
            float[] s = new float[rows * groups];
            for (int r = 0; r < rows; r++) {
                for (int g = 0; g < groups; g++) {
                    s[r * groups + g] = maxAbs(r, g * groupSize, (g + 1) * groupSize) / 7;
                }
            }
            return s;
        }

        private float maxAbs(int r, int from, int to) {
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
