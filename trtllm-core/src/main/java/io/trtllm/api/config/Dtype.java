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
    BFLOAT16,
    /**
     * FP8 E4M3 (4 exponent bits, 3 of mantissa, ±448): for the KV cache only ({@code kv_cache_config.dtype}, CUDA
     * backend, sm_89 or newer). FP8 weights are {@code quantization fp8}, not a dtype.
     */
    FP8;

    /** The name in configuration files and on the command line: {@code auto}, {@code float32}, {@code float16}, {@code bfloat16}, {@code fp8}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code auto}, {@code float32}/{@code f32}/{@code fp32}, {@code float16}/{@code f16}/{@code fp16}/{@code half},
     * {@code bfloat16}/{@code bf16}, {@code fp8}/{@code float8}/{@code e4m3}/{@code fp8_e4m3} (the KV cache's only), in any
     * case and with surrounding blanks.
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static Dtype parse(String value) {
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "auto" -> AUTO;
            case "float32", "f32", "fp32" -> FLOAT32;
            case "float16", "f16", "fp16", "half" -> FLOAT16;
            case "bfloat16", "bf16" -> BFLOAT16;
            case "fp8", "float8", "e4m3", "fp8_e4m3", "float8_e4m3" -> FP8;
            default -> throw new IllegalArgumentException("dtype '" + value
                    + "' is not one of [auto, float32, float16, bfloat16, fp8]");
        };
    }

    /**
     * Checks a dtype of weights: any but {@link #FP8}, which names the KV cache's elements only.
     *
     * @throws IllegalArgumentException naming the value and what to use instead
     */
    public static Dtype checkWeights(Dtype dtype) {
        if (dtype == FP8) {
            throw new IllegalArgumentException("dtype fp8 is for the KV cache (kv_cache_config.dtype); FP8 weights are "
                    + "quantization fp8 (with dtype auto, bfloat16 or float16)");
        }
        return dtype;
    }
}
