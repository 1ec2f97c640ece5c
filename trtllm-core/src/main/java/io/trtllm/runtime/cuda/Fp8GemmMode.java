package io.trtllm.runtime.cuda;

import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * How an FP8 engine's projections multiply on CUDA (system property {@code trtllm.cuda.fp8Gemm}): W8A8 through
 * cuBLASLt ({@link Fp8Gemm}) or weight-only (the FP8 GEMV for decode rows, dequantized weights for cuBLAS otherwise).
 */
enum Fp8GemmMode {
    /** W8A8 except in the decode passes the weight-only FP8 GEMV takes (at most {@link Gemv#MAX_ROWS} rows). */
    AUTO,
    /** W8A8 in every pass (value {@code true}). */
    ALL,
    /** Weight-only in every pass (value {@code false}). */
    WEIGHT_ONLY;

    /** The mode a property value names: absent or blank {@link #AUTO}; {@code auto}, {@code true}, {@code false}. */
    static Fp8GemmMode parse(@Nullable String value) {
        if (value == null || value.isBlank()) {
            return AUTO;
        }
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "auto" -> AUTO;
            case "true" -> ALL;
            case "false" -> WEIGHT_ONLY;
            default -> throw new IllegalArgumentException("trtllm.cuda.fp8Gemm must be auto, true or false, not '"
                    + (value.length() > 40 ? value.substring(0, 40) + "…" : value) + "'");
        };
    }
}
