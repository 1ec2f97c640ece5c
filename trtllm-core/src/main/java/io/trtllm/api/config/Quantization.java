package io.trtllm.api.config;

import java.util.Arrays;
import java.util.Locale;

/** Quantization applied to the weights when an engine is built. */
public enum Quantization {
    /** Weights keep the build's dtype. */
    NONE,
    /** 8-bit integer weights of the linear layers, symmetric, one scale per output channel (row). */
    INT8,
    /**
     * 4-bit integer weights of the linear layers, symmetric, one scale per row and group of 128 input
     * features (fewer when 128 does not divide them; see {@code PanelLayout}).
     */
    INT4,
    /**
     * FP8 (E4M3) weights of the linear layers, one scale per output channel (row): {@code max|w| / 448}.
     * The CUDA backend on GPUs of sm_89 or newer (FP8 tensor cores); the values are dequantized in the
     * projection kernels, activations stay BF16 (see docs/GPU-TESTS.md for what runs where).
     */
    FP8;

    /** The name used in configuration files and on the command line ({@code none}, {@code int8}, {@code int4}, {@code fp8}). */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code none}, {@code int8}, {@code int4} or {@code fp8} (any case).
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static Quantization parse(String value) {
        for (Quantization q : values()) {
            if (q.name().equalsIgnoreCase(value.strip())) {
                return q;
            }
        }
        throw new IllegalArgumentException("quantization '" + value + "' is not one of "
                + Arrays.stream(values()).map(Quantization::id).toList());
    }
}
