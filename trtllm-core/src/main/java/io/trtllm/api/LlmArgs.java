package io.trtllm.api;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.model.source.ModelSource;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * What an {@link LLM} loads and how it runs, named as TensorRT-LLM's {@code LlmArgs}.
 *
 * @param model          a builtin model name ({@code stories15M}), a Hugging Face model directory, a prebuilt
 *                       engine directory ({@code trtllm build}), or a Hugging Face Hub id {@code org/name[@revision]}
 * @param tokenizer      directory holding {@code tokenizer.json} when it is not the model's, or null
 * @param backend        {@code auto} (CUDA when a usable device is present, else the CPU), {@code cpu} or {@code cuda}
 *                       (fails when no usable CUDA device is present)
 * @param maxSeqLen      longest prompt + output, or null for min(max_position_embeddings, 4096)
 * @param maxInputLen    longest prompt (TensorRT-LLM's {@code max_input_len}), or null for max_seq_len; longer
 *                       prompts are refused before anything is queued (or cut with {@code truncatePromptTokens})
 * @param tokensPerBlock tokens per KV-cache block (kept for compatibility; {@code kvCacheConfig} wins when set)
 * @param threads        CPU threads for the forward pass; 0 = all available processors
 * @param cacheDir       cache root, or null for {@code TRTLLM_CACHE_DIR} / {@code ~/.cache/trtllm}
 * @param maxBatchSize   most sequences in one forward pass
 * @param maxNumTokens   most tokens in one forward pass (prefill chunks + decodes)
 * @param maxQueueSize   most requests waiting to run; more are rejected at once
 * @param enableChunkedPrefill whether long prompts are split across iterations so decodes keep flowing
 * @param schedulerPolicy {@code GUARANTEED_NO_EVICT} or {@code MAX_UTILIZATION}
 * @param kvCacheConfig  KV-cache size and block reuse
 * @param dtype          weights' dtype in the engine: {@code auto}, {@code float32}, {@code float16} or {@code bfloat16}.
 *                       On the CPU, {@code auto} keeps the checkpoint's; the CUDA backend runs BF16 ({@code auto},
 *                       {@code bfloat16}) or F16 ({@code float16}) weights, GEMM inputs and KV cache, and refuses
 *                       {@code float32}. (No CUDA architecture here: an {@code LLM} builds its engine for the GPU it runs
 *                       on; {@code trtllm build --cuda-arch} builds for another.)
 * @param quantization   weight-only quantization of the engine
 * @param enableBuildCache whether engines are kept in the engine cache and reused (else built privately per instance)
 * @param skipBuildCache whether to rebuild the cached engine even if it is there, replacing it
 * @param buildCacheConfig engine cache location and limits
 */
public record LlmArgs(
        String model,
        @Nullable Path tokenizer,
        String backend,
        @Nullable Integer maxSeqLen,
        @Nullable Integer maxInputLen,
        int tokensPerBlock,
        int threads,
        @Nullable Path cacheDir,
        int maxBatchSize,
        int maxNumTokens,
        int maxQueueSize,
        boolean enableChunkedPrefill,
        SchedulerPolicy schedulerPolicy,
        KvCacheConfig kvCacheConfig,
        String dtype,
        Quantization quantization,
        boolean enableBuildCache,
        boolean skipBuildCache,
        BuildCacheConfig buildCacheConfig) {

    /** Backends that can be asked for. */
    public static final List<String> BACKENDS = List.of("auto", "cpu", "cuda");
    /** Upper bound of the default max_seq_len, so that long-context models don't reserve huge caches. */
    public static final int DEFAULT_MAX_SEQ_LEN_CAP = BuildConfig.DEFAULT_MAX_SEQ_LEN_CAP;

    public LlmArgs {
        if (model.isBlank()) {
            throw new IllegalArgumentException("model must not be blank: give a builtin model name (stories15M) "
                    + "or a Hugging Face model directory");
        }
        backend = backend.toLowerCase(Locale.ROOT);
        if (!BACKENDS.contains(backend)) {
            throw new IllegalArgumentException("backend '" + backend + "' is not one of " + BACKENDS);
        }
        if (maxSeqLen != null && maxSeqLen <= 0) {
            throw new IllegalArgumentException("max_seq_len must be > 0, got " + maxSeqLen);
        }
        if (maxInputLen != null && maxInputLen <= 0) {
            throw new IllegalArgumentException("max_input_len must be > 0, got " + maxInputLen);
        }
        if (maxInputLen != null && maxSeqLen != null && maxInputLen > maxSeqLen) {
            throw new IllegalArgumentException("max_input_len " + maxInputLen + " exceeds max_seq_len " + maxSeqLen);
        }
        if (tokensPerBlock <= 0) {
            throw new IllegalArgumentException("tokens_per_block must be > 0, got " + tokensPerBlock);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all processors), got " + threads);
        }
        if (maxBatchSize <= 0) {
            throw new IllegalArgumentException("max_batch_size must be > 0, got " + maxBatchSize);
        }
        if (maxNumTokens <= 0) {
            throw new IllegalArgumentException("max_num_tokens must be > 0, got " + maxNumTokens);
        }
        if (maxQueueSize <= 0) {
            throw new IllegalArgumentException("max_queue_size must be > 0, got " + maxQueueSize);
        }
        dtype = Dtype.parse(dtype).id(); // validated, one spelling
    }

    /** The builtin model names {@code model} may be ({@code stories15M}). */
    public static List<String> builtinModels() {
        return BuiltinModels.NAMES;
    }

    /**
     * Checks the spelling of a {@code model}: a builtin name, an existing directory, or a Hugging Face Hub
     * id {@code org/name[@revision]}. Nothing is loaded or fetched; whether a directory holds a model is
     * found when an {@link LLM} loads it.
     *
     * @throws IllegalArgumentException naming the value and what it may be
     */
    public static void checkModel(String model) {
        ModelSource.parse(model);
    }

    public static Builder builder(String model) {
        return new Builder(model);
    }

    /**
     * Builder with defaults: backend auto, all processors, 64 sequences and 2048 tokens per pass, chunked prefill, no
     * eviction, dtype auto, no quantization, build cache on.
     */
    public static final class Builder {
        private final String model;
        private @Nullable Path tokenizer;
        private String backend = "auto";
        private @Nullable Integer maxSeqLen;
        private @Nullable Integer maxInputLen;
        private int tokensPerBlock = 32;
        private int threads;
        private @Nullable Path cacheDir;
        private int maxBatchSize = 64;
        private int maxNumTokens = 2048;
        private int maxQueueSize = 1024;
        private boolean enableChunkedPrefill = true;
        private SchedulerPolicy schedulerPolicy = SchedulerPolicy.GUARANTEED_NO_EVICT;
        private @Nullable KvCacheConfig kvCacheConfig;
        private String dtype = "auto";
        private Quantization quantization = Quantization.NONE;
        private boolean enableBuildCache = true;
        private boolean skipBuildCache;
        private BuildCacheConfig buildCacheConfig = BuildCacheConfig.defaults();

        private Builder(String model) {
            this.model = model;
        }

        public Builder tokenizer(@Nullable Path tokenizer) {
            this.tokenizer = tokenizer;
            return this;
        }

        public Builder backend(String backend) {
            this.backend = backend;
            return this;
        }

        public Builder maxInputLen(@Nullable Integer maxInputLen) {
            this.maxInputLen = maxInputLen;
            return this;
        }

        public Builder maxSeqLen(@Nullable Integer maxSeqLen) {
            this.maxSeqLen = maxSeqLen;
            return this;
        }

        public Builder tokensPerBlock(int tokensPerBlock) {
            this.tokensPerBlock = tokensPerBlock;
            return this;
        }

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        public Builder cacheDir(@Nullable Path cacheDir) {
            this.cacheDir = cacheDir;
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

        public Builder maxQueueSize(int maxQueueSize) {
            this.maxQueueSize = maxQueueSize;
            return this;
        }

        public Builder enableChunkedPrefill(boolean enableChunkedPrefill) {
            this.enableChunkedPrefill = enableChunkedPrefill;
            return this;
        }

        public Builder schedulerPolicy(SchedulerPolicy schedulerPolicy) {
            this.schedulerPolicy = schedulerPolicy;
            return this;
        }

        public Builder kvCacheConfig(KvCacheConfig kvCacheConfig) {
            this.kvCacheConfig = kvCacheConfig;
            return this;
        }

        /** {@code auto}, {@code float32}, {@code float16} or {@code bfloat16} (also {@code f32}, {@code bf16}, ...). */
        public Builder dtype(String dtype) {
            this.dtype = dtype;
            return this;
        }

        public Builder quantization(Quantization quantization) {
            this.quantization = quantization;
            return this;
        }

        public Builder enableBuildCache(boolean enableBuildCache) {
            this.enableBuildCache = enableBuildCache;
            return this;
        }

        public Builder skipBuildCache(boolean skipBuildCache) {
            this.skipBuildCache = skipBuildCache;
            return this;
        }

        public Builder buildCacheConfig(BuildCacheConfig buildCacheConfig) {
            this.buildCacheConfig = buildCacheConfig;
            return this;
        }

        public LlmArgs build() {
            KvCacheConfig kv = kvCacheConfig != null ? kvCacheConfig
                    : new KvCacheConfig(null, KvCacheConfig.defaults().memoryFraction(), true, tokensPerBlock);
            return new LlmArgs(model, tokenizer, backend, maxSeqLen, maxInputLen, kv.tokensPerBlock(), threads, cacheDir, maxBatchSize,
                    maxNumTokens, maxQueueSize, enableChunkedPrefill, schedulerPolicy, kv, dtype, quantization, enableBuildCache,
                    skipBuildCache, buildCacheConfig);
        }
    }
}
