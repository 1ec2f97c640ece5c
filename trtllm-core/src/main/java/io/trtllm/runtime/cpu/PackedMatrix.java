package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix {@code (rows, cols)} repacked for the matmul kernels: rows in panels of
 * {@code panelRows} (the last one zero-padded), and inside a panel column-major: the
 * {@code panelRows} weights of column 0, then of column 1, ... So a kernel walks a panel as one
 * sequential stream and multiplies a whole vector of output rows by one broadcast input value per
 * step: no horizontal sums, no scalar tails, and every output element accumulates its products in
 * column order (the same bits whatever the batch). Weights keep their dtype (F32, BF16 or F16).
 *
 * <p>Several matrices with the same column count can be packed as one (their rows concatenated):
 * q/k/v and gate/up each run as a single matmul.
 */
final class PackedMatrix {
    private final String name;
    private final DType dtype;
    private final int rows;
    private final int cols;
    private final int panelRows;
    private final MemorySegment data;

    private PackedMatrix(String name, DType dtype, int rows, int cols, int panelRows, MemorySegment data) {
        this.name = name;
        this.dtype = dtype;
        this.rows = rows;
        this.cols = cols;
        this.panelRows = panelRows;
        this.data = data;
    }

    /**
     * Packs {@code parts} (same dtype and column count) as one matrix of their rows in order, into
     * memory of {@code arena}.
     */
    static PackedMatrix pack(Arena arena, int panelRows, WeightMatrix... parts) {
        WeightMatrix first = parts[0];
        int cols = first.cols();
        DType dtype = first.dtype();
        int rows = 0;
        var name = new StringBuilder();
        for (WeightMatrix p : parts) {
            if (p.cols() != cols || p.dtype() != dtype) {
                throw new IllegalArgumentException("cannot pack " + p.name() + " (" + p.dtype() + ", " + p.cols()
                        + " columns) with " + first.name() + " (" + dtype + ", " + cols + " columns)");
            }
            rows = Math.addExact(rows, p.rows());
            name.append(name.isEmpty() ? "" : "+").append(p.name());
        }
        int panels = (rows + panelRows - 1) / panelRows;
        int size = dtype.byteSize();
        long panelBytes = (long) panelRows * cols * size;
        MemorySegment data = arena.allocate(panels * panelBytes, 64);
        // Row r of the whole matrix goes to panel r / P, lane r % P of every column.
        int r = 0;
        for (WeightMatrix p : parts) {
            MemorySegment src = p.data();
            long rowBytes = (long) cols * size;
            for (int i = 0; i < p.rows(); i++, r++) {
                long dst = (r / panelRows) * panelBytes + (long) (r % panelRows) * size;
                long srcRow = i * rowBytes;
                long step = (long) panelRows * size;
                if (size == 4) {
                    for (int c = 0; c < cols; c++) {
                        data.set(WeightMatrix.F32, dst + c * step, src.get(WeightMatrix.F32, srcRow + 4L * c));
                    }
                } else {
                    for (int c = 0; c < cols; c++) {
                        data.set(WeightMatrix.U16, dst + c * step, src.get(WeightMatrix.U16, srcRow + 2L * c));
                    }
                }
            }
        }
        return new PackedMatrix(name.toString(), dtype, rows, cols, panelRows, data);
    }

    String name() {
        return name;
    }

    DType dtype() {
        return dtype;
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

    /** Number of panels. */
    int panels() {
        return (rows + panelRows - 1) / panelRows;
    }

    /** The packed bytes of panel {@code p}. */
    MemorySegment panel(int p) {
        long panelBytes = (long) panelRows * cols * dtype.byteSize();
        return data.asSlice(p * panelBytes, panelBytes);
    }

    /** Element {@code (row, col)} as float (slow path: the scalar kernels and tests). */
    float get(int row, int col) {
        long index = (long) (row / panelRows) * panelRows * cols + (long) col * panelRows + row % panelRows;
        return switch (dtype) {
            case F32 -> data.get(WeightMatrix.F32, index * 4);
            case BF16 -> Float.intBitsToFloat((data.get(WeightMatrix.U16, index * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(WeightMatrix.U16, index * 2));
        };
    }

    /** Bytes of packed weights (padding included). */
    long byteSize() {
        return data.byteSize();
    }
}
