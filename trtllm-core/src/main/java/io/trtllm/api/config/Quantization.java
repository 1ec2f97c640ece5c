package io.trtllm.api.config;

import java.util.Arrays;
import java.util.Locale;

/** Weight-only quantization applied when an engine is built. */
public enum Quantization {
    /** Weights keep the build's dtype. */
    NONE,
    /** 8-bit integer weights of the linear layers, symmetric, one scale per output channel (row). */
    INT8,
    /**
     * 4-bit integer weights of the linear layers, symmetric, one scale per row and group of 128 input
     * features (fewer when 128 does not divide them; see {@code PanelLayout}).
     */
    INT4;

    /** The name used in configuration files and on the command line ({@code none}, {@code int8}, {@code int4}). */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code none}, {@code int8} or {@code int4} (any case).
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
