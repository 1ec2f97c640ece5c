package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A weight matrix {@code (rows, cols)} in row-major order, read in place from its mapped bytes
 * (F32, BF16 or F16; little-endian). Rows are output features, columns input features, as in
 * PyTorch's {@code nn.Linear.weight}.
 */
record WeightMatrix(String name, DType dtype, int rows, int cols, MemorySegment data) implements RowSource {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    /** Checks that {@code t} is a floating-point matrix of the expected shape. */
    static WeightMatrix of(Tensor t, int rows, int cols) {
        long[] shape = t.shape();
        if (shape.length != 2 || shape[0] != rows || shape[1] != cols) {
            throw new ModelFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(shape)
                    + ", expected [" + rows + ", " + cols + "]");
        }
        requireFloatingPoint(t);
        return new WeightMatrix(t.name(), t.dtype(), rows, cols, t.data());
    }

    /** Rejects integer tensors where weights are read as numbers (quantized weights come in engine layouts only). */
    static void requireFloatingPoint(Tensor t) {
        if (!t.dtype().isFloatingPoint()) {
            throw new ModelFormatException("tensor '" + t.name() + "' has dtype " + t.dtype()
                    + ", expected F32, BF16 or F16 (quantized checkpoints are not supported; quantize with "
                    + "'trtllm build --quantization int8|int4')");
        }
    }

    /** Element {@code (row, col)} as float (slow path: tests, embedding lookups). */
    float get(int row, int col) {
        return readFloat(data, dtype, (long) row * cols + col);
    }

    /** Element {@code index} of floating-point {@code data} of {@code dtype}, as float. */
    static float readFloat(MemorySegment data, DType dtype, long index) {
        return switch (dtype) {
            case F32 -> data.get(F32, index * 4);
            case BF16 -> Float.intBitsToFloat((data.get(U16, index * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(U16, index * 2));
            case I8, U8, F8_E4M3 -> throw new IllegalArgumentException("dtype " + dtype + " is not a floating-point type");
        };
    }

    /** Copies row {@code row} as floats into {@code out[offset ..]}. */
    @Override
    public void row(int row, float[] out, int offset) {
        long base = (long) row * cols;
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, base * 4, out, offset, cols);
            case BF16 -> {
                for (int c = 0; c < cols; c++) {
                    out[offset + c] = Float.intBitsToFloat((data.get(U16, (base + c) * 2) & 0xffff) << 16);
                }
            }
            case F16 -> {
                for (int c = 0; c < cols; c++) {
                    out[offset + c] = Float.float16ToFloat(data.get(U16, (base + c) * 2));
                }
            }
            case I8, U8, F8_E4M3 -> throw new IllegalArgumentException("matrix " + name + " of " + dtype + " is not floating-point");
        }
    }

    /** A vector of weights (norm scales, biases) as floats. */
    static float[] vector(Tensor t, int length) {
        long[] shape = t.shape();
        if (shape.length != 1 || shape[0] != length) {
            throw new ModelFormatException("tensor '" + t.name() + "' has shape " + Arrays.toString(shape)
                    + ", expected [" + length + "]");
        }
        requireFloatingPoint(t);
        float[] out = new float[length];
        new WeightMatrix(t.name(), t.dtype(), 1, length, t.data()).row(0, out, 0);
        return out;
    }
}
