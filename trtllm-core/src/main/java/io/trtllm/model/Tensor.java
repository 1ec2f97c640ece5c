package io.trtllm.model;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A named, read-only view of one tensor's bytes (little-endian, row-major), usually a slice of a
 * memory-mapped safetensors file.
 *
 * @param name  the tensor's name in the checkpoint
 * @param dtype element type
 * @param shape dimensions, outermost first
 * @param data  exactly {@code numel * dtype.byteSize()} bytes
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
    public Tensor {
        shape = shape.clone();
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor " + name + ": negative dimension in " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        if (data.byteSize() != n * dtype.byteSize()) {
            throw new IllegalArgumentException("tensor " + name + ": " + data.byteSize() + " bytes for shape "
                    + Arrays.toString(shape) + " of " + dtype);
        }
    }

    /** Number of elements. */
    public long numel() {
        return data.byteSize() / dtype.byteSize();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Dimension {@code i}. */
    public long dim(int i) {
        return shape[i];
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }
}
