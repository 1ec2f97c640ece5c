package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.DType;
import io.trtllm.model.ModelFormatException;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * What an engine is built for, named as TensorRT-LLM's {@code BuildConfig}. Every field is part of
 * the engine cache key; the limits are the most a runtime may ask of the engine.
 *
 * @param maxInputLen            longest prompt, in tokens ({@code <= maxSeqLen})
 * @param maxSeqLen              longest prompt + output, in tokens
 * @param maxBatchSize           most sequences in one forward pass
 * @param maxNumTokens           most tokens in one forward pass
 * @param maxBeamWidth           widest beam search (recorded; the CPU backend searches over its executor and
 *                               does not size anything by it)
 * @param dtype                  element type of the engine's weights, or null for {@code auto}: each tensor
 *                               keeps the checkpoint's type
 * @param quantization           weight-only quantization
 * @param gatherContextLogits    whether the engine keeps logits of every prompt position (recorded; the CPU
 *                               backend computes the rows each request asks for)
 * @param gatherGenerationLogits whether the engine keeps logits of every generated token (recorded, as above)
 */
public record BuildConfig(
        int maxInputLen,
        int maxSeqLen,
        int maxBatchSize,
        int maxNumTokens,
        int maxBeamWidth,
        @Nullable DType dtype,
        Quantization quantization,
        boolean gatherContextLogits,
        boolean gatherGenerationLogits) {

    /** Default most sequences per pass (as {@code LlmArgs}). */
    public static final int DEFAULT_MAX_BATCH_SIZE = 64;
    /** Default most tokens per pass (as {@code LlmArgs}). */
    public static final int DEFAULT_MAX_NUM_TOKENS = 2048;

    public BuildConfig {
        positive("max_seq_len", maxSeqLen);
        positive("max_input_len", maxInputLen);
        positive("max_batch_size", maxBatchSize);
        positive("max_num_tokens", maxNumTokens);
        positive("max_beam_width", maxBeamWidth);
        if (maxInputLen > maxSeqLen) {
            throw new IllegalArgumentException("max_input_len " + maxInputLen + " exceeds max_seq_len " + maxSeqLen);
        }
        if (dtype != null && !dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("dtype " + dtype + " is not a weight dtype (float32, float16 or bfloat16); "
                    + "integer weights come from quantization int8 or int4");
        }
    }

    private static void positive(String key, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(key + " must be > 0, got " + value);
        }
    }

    /** A builder for {@code maxSeqLen}: max_input_len = max_seq_len, defaults for the rest, dtype auto, no quantization. */
    public static Builder builder(int maxSeqLen) {
        return new Builder(maxSeqLen);
    }

    /** A builder holding this config's values. */
    public Builder toBuilder() {
        return new Builder(maxSeqLen).maxInputLen(maxInputLen).maxBatchSize(maxBatchSize).maxNumTokens(maxNumTokens)
                .maxBeamWidth(maxBeamWidth).dtype(dtype).quantization(quantization)
                .gatherContextLogits(gatherContextLogits).gatherGenerationLogits(gatherGenerationLogits);
    }

    /** The dtype's name in configuration files: {@code auto}, {@code float32}, {@code float16} or {@code bfloat16}. */
    public String dtypeName() {
        return dtypeName(dtype);
    }

    /** The configuration-file name of {@code dtype} (null: {@code auto}). */
    public static String dtypeName(@Nullable DType dtype) {
        if (dtype == null) {
            return "auto";
        }
        return switch (dtype) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            case I8, U8 -> throw new IllegalArgumentException("dtype " + dtype + " is not a weight dtype");
        };
    }

    /**
     * Parses a dtype: {@code auto} (null), {@code float32}/{@code f32}, {@code float16}/{@code f16}/{@code half},
     * {@code bfloat16}/{@code bf16}, in any case.
     *
     * @throws IllegalArgumentException naming the value and the accepted ones
     */
    public static @Nullable DType parseDtype(String value) {
        return switch (value.strip().toLowerCase(Locale.ROOT)) {
            case "auto" -> null;
            case "float32", "f32", "fp32" -> DType.F32;
            case "float16", "f16", "fp16", "half" -> DType.F16;
            case "bfloat16", "bf16" -> DType.BF16;
            default -> throw new IllegalArgumentException("dtype '" + value
                    + "' is not one of [auto, float32, float16, bfloat16]");
        };
    }

    /** The config as TensorRT-LLM's snake_case JSON object (fields in declaration order). */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("max_input_len", maxInputLen);
        o.put("max_seq_len", maxSeqLen);
        o.put("max_batch_size", maxBatchSize);
        o.put("max_num_tokens", maxNumTokens);
        o.put("max_beam_width", maxBeamWidth);
        o.put("dtype", dtypeName());
        o.put("quantization", quantization.id());
        o.put("gather_context_logits", gatherContextLogits);
        o.put("gather_generation_logits", gatherGenerationLogits);
        return o;
    }

    /** Reads {@link #toJson()}'s form; {@code source} names the file in errors. */
    public static BuildConfig fromJson(JsonNode node, String source) {
        try {
            return new BuildConfig(integer(node, "max_input_len", source), integer(node, "max_seq_len", source),
                    integer(node, "max_batch_size", source), integer(node, "max_num_tokens", source),
                    integer(node, "max_beam_width", source), parseDtype(text(node, "dtype", source)),
                    Quantization.parse(text(node, "quantization", source)),
                    bool(node, "gather_context_logits", source), bool(node, "gather_generation_logits", source));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": build_config: " + e.getMessage(), e);
        }
    }

    private static int integer(JsonNode node, String key, String source) {
        JsonNode v = node.get(key);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new ModelFormatException(source + ": build_config key '" + key + "' must be an integer, got " + v);
        }
        return v.intValue();
    }

    private static String text(JsonNode node, String key, String source) {
        JsonNode v = node.get(key);
        if (v == null || !v.isTextual()) {
            throw new ModelFormatException(source + ": build_config key '" + key + "' must be a string, got " + v);
        }
        return v.asText();
    }

    private static boolean bool(JsonNode node, String key, String source) {
        JsonNode v = node.get(key);
        if (v == null || !v.isBoolean()) {
            throw new ModelFormatException(source + ": build_config key '" + key + "' must be true or false, got " + v);
        }
        return v.booleanValue();
    }

    /** Builder of a {@link BuildConfig}; {@link #build()} validates. */
    public static final class Builder {
        private final int maxSeqLen;
        private @Nullable Integer maxInputLen;
        private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
        private int maxNumTokens = DEFAULT_MAX_NUM_TOKENS;
        private int maxBeamWidth = 1;
        private @Nullable DType dtype;
        private Quantization quantization = Quantization.NONE;
        private boolean gatherContextLogits;
        private boolean gatherGenerationLogits;

        private Builder(int maxSeqLen) {
            this.maxSeqLen = maxSeqLen;
        }

        public Builder maxInputLen(@Nullable Integer maxInputLen) {
            this.maxInputLen = maxInputLen;
            return this;
        }

        public Builder maxBatchSize(int maxBatchSize) {
            this.maxBatchSize = maxBatchSize;
            return this;
        }

        public Builder maxNumTokens(int maxNumTokens) {
            this.maxNumTokens = maxNumTokens;
            return this;
        }

        public Builder maxBeamWidth(int maxBeamWidth) {
            this.maxBeamWidth = maxBeamWidth;
            return this;
        }

        public Builder dtype(@Nullable DType dtype) {
            this.dtype = dtype;
            return this;
        }

        public Builder quantization(Quantization quantization) {
            this.quantization = quantization;
            return this;
        }

        public Builder gatherContextLogits(boolean gatherContextLogits) {
            this.gatherContextLogits = gatherContextLogits;
            return this;
        }

        public Builder gatherGenerationLogits(boolean gatherGenerationLogits) {
            this.gatherGenerationLogits = gatherGenerationLogits;
            return this;
        }

        public BuildConfig build() {
            return new BuildConfig(maxInputLen != null ? maxInputLen : maxSeqLen, maxSeqLen, maxBatchSize, maxNumTokens,
                    maxBeamWidth, dtype, quantization, gatherContextLogits, gatherGenerationLogits);
        }
    }
}
