package io.trtllm.api.config;

import java.util.Locale;

/**
 * Element type of an engine's weights or of the KV cache, as callers name it ({@code --dtype},
 * {@code --kv-cache-dtype}, {@code trtllm.dtype}). {@link #AUTO} leaves the choice to the engine:
 * the checkpoint's type for weights on the CPU, the backend's compute type for the KV cache.
 */
public enum Dtype {
    /** The engine's choice (see the class comment). */
    AUTO,
    /** 32-bit IEEE floats. */
    FLOAT32,
    /** 16-bit IEEE floats (half). */
    FLOAT16,
    /** bfloat16: float32's exponent, 8 bits of mantissa. */
    BFLOAT16;

    /** The name in configuration files and on the command line: {@code auto}, {@code float32}, {@code float16}, {@code bfloat16}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code auto}, {@code float32}/{@code f32}/{@code fp32}, {@code float16}/{@code f16}/{@code fp16}/{@code half},
     * {@code bfloat16}/{@code bf16}, in any case and with surrounding blanks.
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static Dtype parse(String value) {
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "auto" -> AUTO;
            case "float32", "f32", "fp32" -> FLOAT32;
            case "float16", "f16", "fp16", "half" -> FLOAT16;
            case "bfloat16", "bf16" -> BFLOAT16;
            default -> throw new IllegalArgumentException("dtype '" + value
                    + "' is not one of [auto, float32, float16, bfloat16]");
        };
    }
}
