package io.trtllm.api;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.HubConfig;
import io.trtllm.api.config.InvalidSettingException;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.Parallelism;
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
 * @param tensorParallelSize ranks that split every layer (TensorRT-LLM's {@code tensor_parallel_size}); 1 = none
 * @param pipelineParallelSize stages of contiguous layers ({@code pipeline_parallel_size}); 1 = none
 * @param deviceIds      the devices of the ranks, rank order (CUDA device ordinals), or empty for devices
 *                       0 .. TP × PP − 1; on the CPU the ranks are threads and this must be empty
 * @param maxBeamWidth   widest beam search a request may ask for (TensorRT-LLM's {@code max_beam_width}, default 1):
 *                       a wider one is refused before it is queued
 * @param tokenizerObject a tokenizer to use instead of loading the model's (TensorRT-LLM's {@code tokenizer} given
 *                       as an object), or null; it stays the caller's to close, after the {@code LLM}
 * @param skipTokenizerInit whether to load no tokenizer at all (TensorRT-LLM's {@code skip_tokenizer_init}): prompts are
 *                       token ids, outputs are token ids with empty text, and what needs a tokenizer (text prompts, stop
 *                       strings, bad words) is refused. The end-of-sequence ids come from config.json. TensorRT-LLM's
 *                       {@code tokenizer_mode} has no counterpart: the one tokenizer is Hugging Face's fast (Rust) one,
 *                       which is what its {@code auto} mode picks
 * @param hub            how the Hugging Face Hub is reached (null fields: from the environment, {@code HF_*})
 * @param runtime        the backends' fast-path switches and the npm executable (default: the {@code -Dtrtllm.*}
 *                       system properties)
 *
 * <p>Each default is stated once, as a constant here or on the config record it belongs to; the Spring
 * properties and the CLI refer to these. Each check throws an {@link InvalidSettingException} naming the
 * setting, so a front end can name its own key for it.
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
        BuildCacheConfig buildCacheConfig,
        int tensorParallelSize,
        int pipelineParallelSize,
        List<Integer> deviceIds,
        int maxBeamWidth,
        @Nullable TransformersTokenizer tokenizerObject,
        boolean skipTokenizerInit,
        HubConfig hub,
        RuntimeConfig runtime) {

    /** Backends that can be asked for. */
    public static final List<String> BACKENDS = List.of("auto", "cpu", "cuda");
    /** Default backend: CUDA when a usable device is present, else the CPU. */
    public static final String DEFAULT_BACKEND = "auto";
    /** Default builtin model. */
    public static final String DEFAULT_MODEL = "stories15M";
    /** Default most sequences in one forward pass. */
    public static final int DEFAULT_MAX_BATCH_SIZE = BuildConfig.DEFAULT_MAX_BATCH_SIZE;
    /** Default most tokens in one forward pass. */
    public static final int DEFAULT_MAX_NUM_TOKENS = BuildConfig.DEFAULT_MAX_NUM_TOKENS;
    /** Default most requests waiting to run. */
    public static final int DEFAULT_MAX_QUEUE_SIZE = 1024;
    /** Default CPU threads of the forward pass: 0, all available processors. */
    public static final int DEFAULT_THREADS = 0;
    /** Default of {@code enableChunkedPrefill}. */
    public static final boolean DEFAULT_ENABLE_CHUNKED_PREFILL = true;
    /** Default of {@code enableBuildCache}. */
    public static final boolean DEFAULT_ENABLE_BUILD_CACHE = true;
    /** Default scheduler policy. */
    public static final SchedulerPolicy DEFAULT_SCHEDULER_POLICY = SchedulerPolicy.GUARANTEED_NO_EVICT;
    /** Default {@code tensor_parallel_size}: one rank holds every layer whole. */
    public static final int DEFAULT_TENSOR_PARALLEL_SIZE = 1;
    /** Default {@code pipeline_parallel_size}: one stage holds every layer. */
    public static final int DEFAULT_PIPELINE_PARALLEL_SIZE = 1;
    /** Most ranks (TP × PP) one process drives. */
    public static final int MAX_WORLD_SIZE = Parallelism.MAX_WORLD_SIZE;
    /** Upper bound of the default max_seq_len, so that long-context models don't reserve huge caches. */
    public static final int DEFAULT_MAX_SEQ_LEN_CAP = BuildConfig.DEFAULT_MAX_SEQ_LEN_CAP;

    public LlmArgs {
        if (model.isBlank()) {
            throw new InvalidSettingException("model", model, "model must not be blank: give a builtin model name "
                    + "(stories15M) or a Hugging Face model directory");
        }
        backend = backend.toLowerCase(Locale.ROOT);
        if (!BACKENDS.contains(backend)) {
            throw new InvalidSettingException("backend", backend, "backend '" + backend + "' is not one of " + BACKENDS);
        }
        if (maxSeqLen != null && maxSeqLen <= 0) {
            throw new InvalidSettingException("max_seq_len", maxSeqLen, "max_seq_len must be > 0, got " + maxSeqLen);
        }
        if (maxInputLen != null && maxInputLen <= 0) {
            throw new InvalidSettingException("max_input_len", maxInputLen, "max_input_len must be > 0, got " + maxInputLen);
        }
        if (maxInputLen != null && maxSeqLen != null && maxInputLen > maxSeqLen) {
            throw new InvalidSettingException("max_input_len", maxInputLen,
                    "max_input_len " + maxInputLen + " exceeds max_seq_len " + maxSeqLen);
        }
        if (tokensPerBlock <= 0) {
            throw new InvalidSettingException("tokens_per_block", tokensPerBlock,
                    "tokens_per_block must be > 0, got " + tokensPerBlock);
        }
        if (threads < 0) {
            throw new InvalidSettingException("threads", threads,
                    "threads must be >= 0 (0 = all processors), got " + threads);
        }
        if (maxBatchSize <= 0) {
            throw new InvalidSettingException("max_batch_size", maxBatchSize, "max_batch_size must be > 0, got " + maxBatchSize);
        }
        if (maxNumTokens <= 0) {
            throw new InvalidSettingException("max_num_tokens", maxNumTokens, "max_num_tokens must be > 0, got " + maxNumTokens);
        }
        if (maxQueueSize <= 0) {
            throw new InvalidSettingException("max_queue_size", maxQueueSize, "max_queue_size must be > 0, got " + maxQueueSize);
        }
        try {
            dtype = Dtype.checkWeights(Dtype.parse(dtype)).id(); // validated, one spelling
        } catch (IllegalArgumentException e) {
            throw new InvalidSettingException("dtype", dtype, e.getMessage());
        }
        if (tensorParallelSize < 1) {
            throw new InvalidSettingException("tensor_parallel_size", tensorParallelSize, "tensor_parallel_size must be >= 1, got " + tensorParallelSize);
        }
        if (pipelineParallelSize < 1) {
            throw new InvalidSettingException("pipeline_parallel_size", pipelineParallelSize, "pipeline_parallel_size must be >= 1, got " + pipelineParallelSize);
        }
        if ((long) tensorParallelSize * pipelineParallelSize > MAX_WORLD_SIZE) {
            throw new InvalidSettingException("tensor_parallel_size", tensorParallelSize, "tensor_parallel_size "
                    + tensorParallelSize + " × pipeline_parallel_size " + pipelineParallelSize + " exceeds " + MAX_WORLD_SIZE
                    + " ranks");
        }
        deviceIds = List.copyOf(deviceIds);
        int world = tensorParallelSize * pipelineParallelSize;
        if (!deviceIds.isEmpty() && deviceIds.size() != world) {
            throw new InvalidSettingException("device_ids", deviceIds, "device_ids " + deviceIds + " name " + deviceIds.size() + " devices for "
                    + world + " ranks (tensor_parallel_size " + tensorParallelSize + " × pipeline_parallel_size "
                    + pipelineParallelSize + ")");
        }
        if (deviceIds.stream().anyMatch(d -> d < 0) || deviceIds.stream().distinct().count() != deviceIds.size()) {
            throw new InvalidSettingException("device_ids", deviceIds, "device_ids " + deviceIds + " must be distinct device ordinals >= 0");
        }
        if (maxBeamWidth <= 0) {
            throw new InvalidSettingException("max_beam_width", maxBeamWidth, "max_beam_width must be > 0, got " + maxBeamWidth);
        }
        if (tokenizerObject != null && tokenizer != null) {
            throw new IllegalArgumentException("a tokenizer object and a tokenizer directory (" + tokenizer
                    + ") are both given; give one");
        }
        if (skipTokenizerInit && (tokenizerObject != null || tokenizer != null)) {
            throw new IllegalArgumentException("skip_tokenizer_init is set and a tokenizer is given; give one or the other");
        }
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
        private String backend = DEFAULT_BACKEND;
        private @Nullable Integer maxSeqLen;
        private @Nullable Integer maxInputLen;
        private int tokensPerBlock = KvCacheConfig.DEFAULT_TOKENS_PER_BLOCK;
        private int threads = DEFAULT_THREADS;
        private @Nullable Path cacheDir;
        private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
        private int maxNumTokens = DEFAULT_MAX_NUM_TOKENS;
        private int maxQueueSize = DEFAULT_MAX_QUEUE_SIZE;
        private boolean enableChunkedPrefill = DEFAULT_ENABLE_CHUNKED_PREFILL;
        private SchedulerPolicy schedulerPolicy = DEFAULT_SCHEDULER_POLICY;
        private @Nullable KvCacheConfig kvCacheConfig;
        private String dtype = Dtype.AUTO.id();
        private Quantization quantization = Quantization.NONE;
        private boolean enableBuildCache = DEFAULT_ENABLE_BUILD_CACHE;
        private boolean skipBuildCache;
        private BuildCacheConfig buildCacheConfig = BuildCacheConfig.defaults();
        private int tensorParallelSize = DEFAULT_TENSOR_PARALLEL_SIZE;
        private int pipelineParallelSize = DEFAULT_PIPELINE_PARALLEL_SIZE;
        private List<Integer> deviceIds = List.of();
        private int maxBeamWidth = 1;
        private @Nullable TransformersTokenizer tokenizerObject;
        private boolean skipTokenizerInit;
        private HubConfig hub = HubConfig.fromEnvironment();
        private RuntimeConfig runtime = RuntimeConfig.fromSystemProperties();

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

        /** The weights' dtype in the engine. */
        public Builder dtype(Dtype dtype) {
            this.dtype = dtype.id();
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

        /** Ranks that split every layer (Megatron-style tensor parallelism); 1 = none. */
        public Builder tensorParallelSize(int tensorParallelSize) {
            this.tensorParallelSize = tensorParallelSize;
            return this;
        }

        /** Pipeline stages, each a contiguous range of layers; 1 = none. */
        public Builder pipelineParallelSize(int pipelineParallelSize) {
            this.pipelineParallelSize = pipelineParallelSize;
            return this;
        }

        /** The ranks' CUDA devices in rank order; empty = devices 0 .. TP × PP − 1. */
        public Builder deviceIds(List<Integer> deviceIds) {
            this.deviceIds = deviceIds;
            return this;
        }

        /**
         * Takes the engine's limits and types from {@code config} (TensorRT-LLM's {@code build_config}): max_seq_len,
         * max_input_len, max_batch_size, max_num_tokens, max_beam_width, dtype and quantization. A later setter of
         * one of them wins.
         */
        public Builder buildConfig(BuildConfig config) {
            this.maxSeqLen = config.maxSeqLen();
            this.maxInputLen = config.maxInputLen();
            this.maxBatchSize = config.maxBatchSize();
            this.maxNumTokens = config.maxNumTokens();
            this.maxBeamWidth = config.maxBeamWidth();
            this.dtype = config.dtypeName();
            this.quantization = config.quantization();
            return this;
        }

        /** Widest beam search a request may ask for (default 1: no beam search wider than greedy). */
        public Builder maxBeamWidth(int maxBeamWidth) {
            this.maxBeamWidth = maxBeamWidth;
            return this;
        }

        /**
         * A tokenizer to use instead of loading the model's, e.g. {@code TransformersTokenizer.load(dir)}; it
         * must stay open while the {@code LLM} runs, and is the caller's to close.
         */
        public Builder tokenizer(@Nullable TransformersTokenizer tokenizer) {
            this.tokenizerObject = tokenizer;
            return this;
        }

        /** Whether to load no tokenizer: token ids in, token ids out (see {@link LlmArgs#skipTokenizerInit()}). */
        public Builder skipTokenizerInit(boolean skipTokenizerInit) {
            this.skipTokenizerInit = skipTokenizerInit;
            return this;
        }

        /** Builds the arguments and loads an {@link LLM} over them: {@code new LLM(build())}. */
        public LLM load() {
            return new LLM(build());
        }

        /** How the Hugging Face Hub is reached (null fields keep the environment's {@code HF_*}). */
        public Builder hub(HubConfig hub) {
            this.hub = hub;
            return this;
        }

        /** The backends' fast-path switches and the npm executable (default: the {@code -Dtrtllm.*} system properties). */
        public Builder runtime(RuntimeConfig runtime) {
            this.runtime = runtime;
            return this;
        }

        public LlmArgs build() {
            KvCacheConfig kv = kvCacheConfig != null ? kvCacheConfig
                    : new KvCacheConfig(null, KvCacheConfig.DEFAULT_MEMORY_FRACTION,
                    KvCacheConfig.DEFAULT_ENABLE_BLOCK_REUSE, tokensPerBlock);
            return new LlmArgs(model, tokenizer, backend, maxSeqLen, maxInputLen, kv.tokensPerBlock(), threads, cacheDir, maxBatchSize,
                    maxNumTokens, maxQueueSize, enableChunkedPrefill, schedulerPolicy, kv, dtype, quantization, enableBuildCache,
                    skipBuildCache, buildCacheConfig, tensorParallelSize, pipelineParallelSize, deviceIds, maxBeamWidth,
                    tokenizerObject, skipTokenizerInit, hub, runtime);
        }
    }
}
