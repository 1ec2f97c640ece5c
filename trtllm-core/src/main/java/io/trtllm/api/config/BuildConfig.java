package io.trtllm.api.config;

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
 * @param dtype                  element type of the engine's weights; {@link Dtype#AUTO}: each tensor keeps
 *                               the checkpoint's type
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
        Dtype dtype,
        Quantization quantization,
        boolean gatherContextLogits,
        boolean gatherGenerationLogits) {

    /** Upper bound of the default max_seq_len (min(max_position_embeddings, this)), so that long-context models don't reserve huge caches. */
    public static final int DEFAULT_MAX_SEQ_LEN_CAP = 4096;
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
        Dtype.checkWeights(dtype);
        if (maxInputLen > maxSeqLen) {
            throw new IllegalArgumentException("max_input_len " + maxInputLen + " exceeds max_seq_len " + maxSeqLen);
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
        return dtype.id();
    }

    /** Builder of a {@link BuildConfig}; {@link #build()} validates. */
    public static final class Builder {
        private final int maxSeqLen;
        private @Nullable Integer maxInputLen;
        private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
        private int maxNumTokens = DEFAULT_MAX_NUM_TOKENS;
        private int maxBeamWidth = 1;
        private Dtype dtype = Dtype.AUTO;
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

        public Builder dtype(Dtype dtype) {
            this.dtype = dtype;
            return this;
        }

        /** {@code auto}, {@code float32}, {@code float16} or {@code bfloat16} (also {@code f32}, {@code bf16}, ...; see {@link Dtype#parse}). */
        public Builder dtype(String dtype) {
            return dtype(Dtype.parse(dtype));
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
