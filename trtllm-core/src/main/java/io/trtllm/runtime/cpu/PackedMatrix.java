package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * A weight matrix {@code (rows, cols)} in the matmul kernels' layout ({@link PanelLayout}): rows in
 * panels of {@code panelRows}, and inside a panel column-major: the {@code panelRows} weights of
 * column 0, then of column 1, ... So a kernel walks a panel as one sequential stream and
 * multiplies a whole vector of output rows by one broadcast input value per step: no horizontal
 * sums, no scalar tails, and every output element accumulates its products in column order (the
 * same bits whatever the batch).
 *
 * <p>Weights are F32, BF16 or F16 (converted to F32 in the kernels), or quantized: INT8 with one
 * scale per row, INT4 with one scale per row and group of {@link #groupSize()} columns. The panels
 * live either in memory this runner packed at load, or in place in an engine's mapped file.
 *
 * <p>Several matrices with the same column count and format can be joined into one (their rows
 * concatenated, each part padded to whole panels): q/k/v run as a single matmul. Panel {@code p}
 * then computes output rows {@link #firstRow(int) firstRow(p)} ... {@code + validRows(p) - 1}.
 */
final class PackedMatrix implements RowSource {

    /** How a panel's weights are stored. */
    enum Format {
        F32(4, DType.F32), BF16(2, DType.BF16), F16(2, DType.F16),
        /** int8 values, an F32 scale per row; kernels scale each row's sum once. */
        INT8(1, null),
        /** 4-bit values, two a byte, an F32 scale per row and group; kernels scale each group's sum. */
        INT4(1, null);

        private final int elementBytes;
        /** The element type of float weights; null for quantized ones. */
        private final @Nullable DType floatType;

        Format(int elementBytes, @Nullable DType floatType) {
            this.elementBytes = elementBytes;
            this.floatType = floatType;
        }

        /** Bytes per column of a panel of {@code panelRows} rows. */
        long columnBytes(int panelRows) {
            return this == INT4 ? panelRows / 2 : (long) panelRows * elementBytes;
        }

        boolean quantized() {
            return this == INT8 || this == INT4;
        }

        static Format of(DType dtype) {
            return switch (dtype) {
                case F32 -> F32;
                case BF16 -> BF16;
                case F16 -> F16;
                case I8, U8, F8_E4M3 -> throw new IllegalArgumentException(dtype + " weights are quantized; give their scales");
            };
        }
    }

    private final String name;
    private final Format format;
    private final int rows;
    private final int cols;
    private final int panelRows;
    private final int groupSize;
    /** Per panel: its weights ({@code cols × columnBytes}). */
    private final MemorySegment[] weights;
    /** Per panel: its scales ({@code groups × panelRows} floats), or empty segments for float formats. */
    private final MemorySegment[] scales;
    private final int[] firstRow;
    private final int[] validRows;
    private final long byteSize;

    private PackedMatrix(String name, Format format, int rows, int cols, int panelRows, int groupSize,
                         MemorySegment[] weights, MemorySegment[] scales, int[] firstRow, int[] validRows) {
        this.name = name;
        this.format = format;
        this.rows = rows;
        this.cols = cols;
        this.panelRows = panelRows;
        this.groupSize = groupSize;
        this.weights = weights;
        this.scales = scales;
        this.firstRow = firstRow;
        this.validRows = validRows;
        long bytes = 0;
        for (int p = 0; p < weights.length; p++) {
            bytes += weights[p].byteSize() + scales[p].byteSize();
        }
        this.byteSize = bytes;
    }

    /**
     * One matrix over packed memory: {@code data} holds its panels back to back, {@code scaleData}
     * (quantized formats only) the scales of each panel back to back.
     *
     * @throws IllegalArgumentException when the sizes do not fit the shape (names the matrix)
     */
    static PackedMatrix of(String name, Format format, int rows, int cols, int panelRows, int groupSize,
                           MemorySegment data, @Nullable MemorySegment scaleData) {
        if (rows <= 0 || cols <= 0 || panelRows <= 0 || panelRows % 2 != 0 || groupSize <= 0 || cols % groupSize != 0) {
            throw new IllegalArgumentException("packed matrix " + name + ": invalid shape rows " + rows + ", cols " + cols
                    + ", panel rows " + panelRows + ", group size " + groupSize);
        }
        int panels = PanelLayout.panels(rows, panelRows);
        long panelBytes = cols * format.columnBytes(panelRows);
        long panelScaleBytes = format.quantized() ? (long) (cols / groupSize) * panelRows * 4 : 0;
        long scaleBytes = scaleData == null ? 0 : scaleData.byteSize();
        if (data.byteSize() != panels * panelBytes || scaleBytes != panels * panelScaleBytes) {
            throw new IllegalArgumentException("packed matrix " + name + " (" + format + ", " + rows + " × " + cols
                    + ", panels of " + panelRows + "): " + data.byteSize() + " bytes of weights and " + scaleBytes
                    + " of scales, expected " + panels * panelBytes + " and " + panels * panelScaleBytes);
        }
        MemorySegment[] w = new MemorySegment[panels];
        MemorySegment[] s = new MemorySegment[panels];
        int[] first = new int[panels];
        int[] valid = new int[panels];
        for (int p = 0; p < panels; p++) {
            w[p] = data.asSlice(p * panelBytes, panelBytes);
            s[p] = scaleData == null ? MemorySegment.NULL : scaleData.asSlice(p * panelScaleBytes, panelScaleBytes);
            first[p] = p * panelRows;
            valid[p] = Math.min(panelRows, rows - p * panelRows);
        }
        return new PackedMatrix(name, format, rows, cols, panelRows, groupSize, w, s, first, valid);
    }

    /**
     * Packs {@code parts} (floating-point, same dtype and column count) as one matrix of their rows in
     * order, each part padded to whole panels, into memory of {@code arena}.
     */
    static PackedMatrix pack(Arena arena, int panelRows, WeightMatrix... parts) {
        PackedMatrix[] packed = new PackedMatrix[parts.length];
        for (int i = 0; i < parts.length; i++) {
            WeightMatrix p = parts[i];
            if (p.cols() != parts[0].cols() || p.dtype() != parts[0].dtype()) {
                throw new IllegalArgumentException("cannot pack " + p.name() + " (" + p.dtype() + ", " + p.cols()
                        + " columns) with " + parts[0].name() + " (" + parts[0].dtype() + ", " + parts[0].cols() + " columns)");
            }
            Format format = Format.of(p.dtype());
            MemorySegment data = arena.allocate(PanelLayout.panels(p.rows(), panelRows) * p.cols()
                    * format.columnBytes(panelRows), 64);
            PanelLayout.writePanels(new Tensor(p.name(), p.dtype(), new long[] {p.rows(), p.cols()}, p.data()), p.dtype(),
                    panelRows, data);
            packed[i] = of(p.name(), format, p.rows(), p.cols(), panelRows, p.cols(), data, null);
        }
        return join(packed);
    }

    /**
     * Maps an engine's packed tensors of module {@code module} in place: {@code module.panels}, or
     * {@code module.qweight} with {@code module.scales} ({@link PanelLayout}).
     *
     * @param panels  the {@code .panels} tensor, or null for a quantized module
     * @param qweight the {@code .qweight} tensor, or null for a float module
     * @param scales  the {@code .scales} tensor (with {@code qweight})
     * @throws ModelFormatException when a shape or dtype does not fit {@code (rows, cols)} (names the tensor)
     */
    static PackedMatrix mapped(String module, int rows, int cols, @Nullable Tensor panels, @Nullable Tensor qweight,
                               @Nullable Tensor scales) {
        if (panels != null) {
            int p = lastDim(panels);
            if (!panels.dtype().isFloatingPoint()) {
                throw new ModelFormatException("tensor '" + panels.name() + "' has dtype " + panels.dtype()
                        + ", expected F32, BF16 or F16");
            }
            expectShape(panels, PanelLayout.panelsShape(rows, cols, p));
            return of(module, Format.of(panels.dtype()), rows, cols, p, cols, panels.data(), null);
        }
        if (qweight == null || scales == null) {
            throw new ModelFormatException("module '" + module + "': " + (qweight == null ? "no" : "only")
                    + " quantized weights" + (qweight == null ? "" : ", no '" + module + PanelLayout.SCALES + "'"));
        }
        if (scales.dtype() != DType.F32) {
            throw new ModelFormatException("tensor '" + scales.name() + "' has dtype " + scales.dtype() + ", expected F32");
        }
        int p = lastDim(scales);
        switch (qweight.dtype()) {
            case I8 -> {
                expectShape(qweight, PanelLayout.panelsShape(rows, cols, p));
                expectShape(scales, PanelLayout.int8ScalesShape(rows, p));
                return of(module, Format.INT8, rows, cols, p, cols, qweight.data(), scales.data());
            }
            case U8 -> {
                expectShape(qweight, PanelLayout.int4Shape(rows, cols, p));
                long groups = scales.rank() == 3 ? scales.dim(1) : 0;
                if (groups <= 0 || cols % groups != 0) {
                    throw new ModelFormatException("tensor '" + scales.name() + "' has shape "
                            + Arrays.toString(scales.shape()) + ": expected [panels, groups, " + p
                            + "] with groups dividing " + cols);
                }
                int groupSize = (int) (cols / groups);
                expectShape(scales, PanelLayout.int4ScalesShape(rows, cols, groupSize, p));
                return of(module, Format.INT4, rows, cols, p, groupSize, qweight.data(), scales.data());
            }
            default -> throw new ModelFormatException("tensor '" + qweight.name() + "' has dtype " + qweight.dtype()
                    + ", expected I8 (int8) or U8 (int4, two values a byte)");
        }
    }

    private static int lastDim(Tensor t) {
        long p = t.rank() == 0 ? 0 : t.dim(t.rank() - 1);
        if (p <= 0 || p % 2 != 0 || p > 1024) {
            throw new ModelFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(t.shape())
                    + ": its last dimension (rows per panel) must be even, between 2 and 1024");
        }
        return (int) p;
    }

    private static void expectShape(Tensor t, long[] expected) {
        if (!Arrays.equals(t.shape(), expected)) {
            throw new ModelFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(expected));
        }
    }

    /**
     * One matrix of the rows of {@code parts} in order (same format, column count, panel rows and
     * group size), sharing their memory.
     */
    static PackedMatrix join(PackedMatrix... parts) {
        if (parts.length == 1) {
            return parts[0];
        }
        PackedMatrix first = parts[0];
        int panels = 0;
        int rows = 0;
        var name = new StringBuilder();
        for (PackedMatrix p : parts) {
            if (p.format != first.format || p.cols != first.cols || p.panelRows != first.panelRows
                    || p.groupSize != first.groupSize) {
                throw new IllegalArgumentException("cannot join " + p.describe() + " with " + first.describe());
            }
            panels += p.panels();
            rows = Math.addExact(rows, p.rows);
            name.append(name.isEmpty() ? "" : "+").append(p.name);
        }
        MemorySegment[] w = new MemorySegment[panels];
        MemorySegment[] s = new MemorySegment[panels];
        int[] firstRow = new int[panels];
        int[] valid = new int[panels];
        int at = 0;
        int rowBase = 0;
        for (PackedMatrix p : parts) {
            for (int i = 0; i < p.panels(); i++, at++) {
                w[at] = p.weights[i];
                s[at] = p.scales[i];
                firstRow[at] = rowBase + p.firstRow[i];
                valid[at] = p.validRows[i];
            }
            rowBase += p.rows;
        }
        return new PackedMatrix(name.toString(), first.format, rows, first.cols, first.panelRows, first.groupSize, w, s,
                firstRow, valid);
    }

    private String describe() {
        return name + " (" + format + ", " + cols + " columns, panels of " + panelRows + ", groups of " + groupSize + ")";
    }

    String name() {
        return name;
    }

    Format format() {
        return format;
    }

    int rows() {
        return rows;
    }

    int cols() {
        return cols;
    }

    int panelRows() {
        return panelRows;
    }

    /** Columns per scale: {@link #cols()} except for INT4. */
    int groupSize() {
        return groupSize;
    }

    /** Number of panels. */
    int panels() {
        return weights.length;
    }

    /** The packed weights of panel {@code p}. */
    MemorySegment panel(int p) {
        return weights[p];
    }

    /** The scales of panel {@code p}: {@code groups × panelRows} floats (empty for float formats). */
    MemorySegment scales(int p) {
        return scales[p];
    }

    /** The output row of panel {@code p}'s first row. */
    int firstRow(int p) {
        return firstRow[p];
    }

    /** How many of panel {@code p}'s rows are real (the rest is padding). */
    int validRows(int p) {
        return validRows[p];
    }

    /** Element {@code (row, col)} as float, dequantized (slow path: the scalar kernels and tests). */
    float get(int row, int col) {
        int p = panelOf(row);
        int lane = row - firstRow[p];
        long index = (long) col * panelRows + lane;
        return format.floatType != null ? WeightMatrix.readFloat(weights[p], format.floatType, index)
                : quantized(row, col) * scale(row, col / groupSize);
    }

    /** The quantized value of {@code (row, col)} (INT8 and INT4 only). */
    int quantized(int row, int col) {
        int p = panelOf(row);
        int lane = row - firstRow[p];
        return switch (format) {
            case INT8 -> weights[p].get(ValueLayout.JAVA_BYTE, (long) col * panelRows + lane);
            case INT4 -> {
                int half = panelRows / 2;
                int b = weights[p].get(ValueLayout.JAVA_BYTE, (long) col * half + lane % half);
                yield lane < half ? (b << 28) >> 28 : b >> 4;
            }
            default -> throw new IllegalStateException(name + " is not quantized (" + format + ")");
        };
    }

    /** The scale of {@code row} for column group {@code group} (INT8: group 0). */
    float scale(int row, int group) {
        int p = panelOf(row);
        return scales[p].get(WeightMatrix.F32, ((long) group * panelRows + row - firstRow[p]) * 4);
    }

    /** Copies row {@code row}, dequantized, into {@code out[offset ..]} (embedding lookups of a tied head). */
    @Override
    public void row(int row, float[] out, int offset) {
        if (format.quantized()) {
            for (int c = 0; c < cols; c++) {
                out[offset + c] = get(row, c);
            }
            return;
        }
        int p = panelOf(row);
        for (int c = 0, i = row - firstRow[p]; c < cols; c++, i += panelRows) {
            out[offset + c] = WeightMatrix.readFloat(weights[p], format.floatType, i);
        }
    }

    private int panelOf(int row) {
        if (row < 0 || row >= rows) {
            throw new IndexOutOfBoundsException("row " + row + " of " + name + " (" + rows + " rows)");
        }
        // Binary search over the panels' first rows (parts are padded, so panels are not evenly spaced).
        int p = Arrays.binarySearch(firstRow, row);
        return p >= 0 ? p : -p - 2;
    }

    /**
     * This matrix with its panels and scales copied, back to back, into memory from {@code memory}
     * (room for {@link #byteSize()} bytes, each panel's slices aligned to 64): the same rows, the same
     * bits, other pages.
     */
    PackedMatrix copyInto(java.lang.foreign.SegmentAllocator memory) {
        MemorySegment[] w = new MemorySegment[weights.length];
        MemorySegment[] s = new MemorySegment[scales.length];
        for (int p = 0; p < weights.length; p++) {
            w[p] = memory.allocate(weights[p].byteSize(), 64).copyFrom(weights[p]);
            s[p] = scales[p].byteSize() == 0 ? scales[p] : memory.allocate(scales[p].byteSize(), 64).copyFrom(scales[p]);
        }
        return new PackedMatrix(name, format, rows, cols, panelRows, groupSize, w, s, firstRow, validRows);
    }

    /** Whether the weights are 16-bit floats (BF16 or F16). */
    boolean halfWidth() {
        return format == Format.BF16 || format == Format.F16;
    }

    /** Bytes {@link #widenInto} takes: the F32 panels, each aligned to 64 bytes. */
    long widenedBytes() {
        return (long) weights.length * (cols * Format.F32.columnBytes(panelRows) + 64);
    }

    /**
     * This 16-bit matrix with its panels widened to F32, in memory from {@code memory} (room for
     * {@link #widenedBytes()}): the same rows and panels, each element the exact float its BF16 or F16 bits
     * stand for, so the F32 kernels compute the same bits the 16-bit ones do, without converting in the
     * inner loop.
     *
     * @throws IllegalStateException when the matrix is not 16-bit
     */
    PackedMatrix widenInto(java.lang.foreign.SegmentAllocator memory) {
        if (!halfWidth()) {
            throw new IllegalStateException(name + " is " + format + ", not a 16-bit float matrix");
        }
        MemorySegment[] w = new MemorySegment[weights.length];
        MemorySegment[] s = new MemorySegment[weights.length];
        long elements = (long) cols * panelRows;
        for (int p = 0; p < weights.length; p++) {
            MemorySegment from = weights[p];
            MemorySegment to = memory.allocate(elements * 4, 64);
            if (format == Format.BF16) {
                for (long i = 0; i < elements; i++) {
                    to.set(WeightMatrix.F32, i * 4, Float.intBitsToFloat((from.get(WeightMatrix.U16, i * 2) & 0xffff) << 16));
                }
            } else {
                for (long i = 0; i < elements; i++) {
                    to.set(WeightMatrix.F32, i * 4, Float.float16ToFloat(from.get(WeightMatrix.U16, i * 2)));
                }
            }
            w[p] = to;
            s[p] = MemorySegment.NULL;
        }
        return new PackedMatrix(name, Format.F32, rows, cols, panelRows, groupSize, w, s, firstRow, validRows);
    }

    /** Bytes of packed weights and scales (padding included). */
    long byteSize() {
        return byteSize;
    }
}
