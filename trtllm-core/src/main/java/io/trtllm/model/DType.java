package io.trtllm.model;

import io.trtllm.api.config.Dtype;
import org.jspecify.annotations.Nullable;

/**
 * Element types of tensors that the engine reads, named as safetensors names them. Checkpoints hold
 * floating-point weights ({@link #F32}, {@link #F16}, {@link #BF16}); the integer types hold the
 * quantized weights of an engine ({@link #I8}: int8 values, {@link #U8}: bytes of two packed 4-bit
 * values), and so does {@link #F8_E4M3} (FP8 values, each row with its scale): never weights read as numbers
 * by themselves.
 */
public enum DType {
    F32(4),
    F16(2),
    BF16(2),
    I8(1),
    U8(1),
    /** FP8 E4M3 (torch's {@code float8_e4m3fn}: no infinities, largest finite ±448), the values of an FP8 engine. */
    F8_E4M3(1);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** Whether elements are floating-point numbers (F32, F16, BF16): what weights and activations may be. */
    public boolean isFloatingPoint() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** The tensor type a caller's {@code dtype} names, or null for {@link Dtype#AUTO} (the engine chooses). */
    public static @Nullable DType of(Dtype dtype) {
        return switch (dtype) {
            case AUTO -> null;
            case FLOAT32 -> F32;
            case FLOAT16 -> F16;
            case BFLOAT16 -> BF16;
            case FP8 -> F8_E4M3;
        };
    }

    /** The tensor type a caller's {@code dtype} names, {@code auto} for {@link Dtype#AUTO}. */
    public static DType of(Dtype dtype, DType auto) {
        DType type = of(dtype);
        return type != null ? type : auto;
    }
}
