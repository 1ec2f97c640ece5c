package io.trtllm.engine;

import java.util.Arrays;

/**
 * One tensor as the engine stores it, planned before its bytes are written (the safetensors header
 * comes first, so every name, type and size must be known up front).
 *
 * @param name     name in the engine's weights file
 * @param dtype    safetensors dtype name ({@code F32}, {@code F16}, {@code BF16}; quantized layouts add e.g.
 *                 {@code I8}, {@code U8})
 * @param shape    dimensions, outermost first
 * @param byteSize bytes of data, exactly what {@link WeightTransform#write} fills
 */
public record EngineTensor(String name, String dtype, long[] shape, long byteSize) {
    public EngineTensor {
        shape = shape.clone();
        if (name.isEmpty()) {
            throw new IllegalArgumentException("engine tensor name must not be empty");
        }
        if (byteSize < 0) {
            throw new IllegalArgumentException("engine tensor " + name + ": byte size " + byteSize + " < 0");
        }
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("engine tensor " + name + ": negative dimension in "
                        + Arrays.toString(shape));
            }
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements of {@link #shape()}. */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
