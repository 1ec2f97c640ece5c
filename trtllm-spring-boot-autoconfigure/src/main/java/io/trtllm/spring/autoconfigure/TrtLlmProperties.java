package io.trtllm.spring.autoconfigure;

import io.trtllm.api.LlmArgs;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.util.unit.DataSize;

/**
 * Configuration of the in-process engine ({@code trtllm.*}, mapped to {@link LlmArgs}) and of the
 * chat model's default options ({@code trtllm.chat.options.*}). Checked once bound: an invalid value
 * fails startup with an {@link InvalidConfigurationPropertyValueException} naming the key, the value
 * and the reason (the reasons are the engine's own checks).
 */
@ConfigurationProperties(prefix = TrtLlmProperties.PREFIX)
public class TrtLlmProperties implements InitializingBean {
    /** Prefix of the engine's properties. */
    public static final String PREFIX = "trtllm";

    /**
     * Builtin model name (stories15M), a Hugging Face model directory (config.json, *.safetensors,
     * tokenizer.json), an engine directory from trtllm build, or a Hugging Face Hub id org/name[@revision].
     */
    private String model = "stories15M";

    /** Directory holding tokenizer.json when it is not the model directory. */
    private @Nullable Path tokenizer;

    /** Backend to run the model on: auto picks CUDA when a usable GPU is present, else the CPU. */
    private Backend backend = Backend.AUTO;

    /** Longest prompt plus output, in tokens; unset, min(max_position_embeddings, 4096). */
    private @Nullable Integer maxSeqLen;

    /** Longest prompt, in tokens; unset, max-seq-len. Longer prompts are refused before they are queued. */
    private @Nullable Integer maxInputLen;

    /** Most sequences in one forward pass. */
    private int maxBatchSize = 64;

    /** Most tokens (prefill chunks and decodes) in one forward pass. */
    private int maxNumTokens = 2048;

    /** Most requests waiting to run; further requests fail at once with QueueFullException. */
    private int maxQueueSize = 1024;

    /** Whether long prompts are split across iterations so that decodes keep flowing. */
    private boolean enableChunkedPrefill = true;

    /** CPU threads of the forward pass; 0 uses all available processors. */
    private int threads;

    /**
     * Weight dtype of the engine: auto, float32, float16 or bfloat16 (CPU: auto keeps the checkpoint's; CUDA: auto
     * and bfloat16 run BF16, float16 runs F16, float32 is refused).
     */
    private String dtype = "auto";

    /** Weight-only quantization of the engine (CPU backend): none, int8 or int4. */
    private String quantization = "none";

    private final KvCache kvCache = new KvCache();

    private final Scheduler scheduler = new Scheduler();

    private final Cache cache = new Cache();

    private final Chat chat = new Chat();

    /** Backends that can be asked for. */
    public enum Backend {
        /** CUDA when a usable NVIDIA GPU is present, else the CPU. */
        AUTO,
        /** The pure-Java CPU backend. */
        CPU,
        /** NVIDIA GPUs through CUDA (startup fails, saying why, when none is usable). */
        CUDA
    }

    @Override
    public void afterPropertiesSet() {
        toLlmArgs();
        chat.options.toChatOptions();
    }

    /**
     * The engine arguments these properties describe.
     *
     * @throws InvalidConfigurationPropertyValueException naming the first invalid key
     */
    public LlmArgs toLlmArgs() {
        checkModel();
        if (tokenizer != null && !Files.isRegularFile(tokenizer.resolve("tokenizer.json"))) {
            throw invalid("tokenizer", tokenizer, "no tokenizer.json in that directory");
        }
        String backendName = backend.name().toLowerCase(Locale.ROOT);
        check("max-seq-len", maxSeqLen, b -> b.maxSeqLen(maxSeqLen));
        check("max-input-len", maxInputLen, b -> b.maxSeqLen(maxSeqLen).maxInputLen(maxInputLen));
        check("max-batch-size", maxBatchSize, b -> b.maxBatchSize(maxBatchSize));
        check("max-num-tokens", maxNumTokens, b -> b.maxNumTokens(maxNumTokens));
        check("max-queue-size", maxQueueSize, b -> b.maxQueueSize(maxQueueSize));
        check("threads", threads, b -> b.threads(threads));
        check("dtype", dtype, b -> b.dtype(dtype));
        Quantization q;
        try {
            q = Quantization.parse(quantization);
        } catch (IllegalArgumentException e) {
            throw invalid("quantization", quantization, e.getMessage());
        }
        BuildCacheConfig buildCache = cache.toConfig();
        KvCacheConfig kv = kvCache.toConfig();
        return LlmArgs.builder(model)
                .tokenizer(tokenizer)
                .backend(backendName)
                .maxSeqLen(maxSeqLen)
                .maxInputLen(maxInputLen)
                .maxBatchSize(maxBatchSize)
                .maxNumTokens(maxNumTokens)
                .maxQueueSize(maxQueueSize)
                .enableChunkedPrefill(enableChunkedPrefill)
                .threads(threads)
                .cacheDir(cache.dir)
                .dtype(dtype)
                .quantization(q)
                .enableBuildCache(cache.enabled)
                .buildCacheConfig(buildCache)
                .schedulerPolicy(scheduler.policy)
                .kvCacheConfig(kv)
                .build();
    }

    private void checkModel() {
        if (model.isBlank()) {
            throw invalid("model", model, "give a builtin model name " + LlmArgs.builtinModels()
                    + " or a Hugging Face model directory");
        }
        try {
            LlmArgs.checkModel(model);
        } catch (IllegalArgumentException e) {
            throw invalid("model", model, e.getMessage());
        }
    }

    /** Runs one setting through LlmArgs' own checks; their message becomes the reason. */
    private static void check(String key, @Nullable Object value, Consumer<LlmArgs.Builder> setting) {
        try {
            LlmArgs.Builder b = LlmArgs.builder("stories15M");
            setting.accept(b);
            b.build();
        } catch (IllegalArgumentException e) {
            throw invalid(key, value, e.getMessage());
        }
    }

    static InvalidConfigurationPropertyValueException invalid(String key, @Nullable Object value, @Nullable String reason) {
        return new InvalidConfigurationPropertyValueException(PREFIX + "." + key, value, reason);
    }

    public String getModel() {
        return model;
    }

    public void setModel(String model) {
        this.model = model;
    }

    public @Nullable Path getTokenizer() {
        return tokenizer;
    }

    public void setTokenizer(@Nullable Path tokenizer) {
        this.tokenizer = tokenizer;
    }

    public Backend getBackend() {
        return backend;
    }

    public void setBackend(Backend backend) {
        this.backend = backend;
    }

    public @Nullable Integer getMaxSeqLen() {
        return maxSeqLen;
    }

    public void setMaxSeqLen(@Nullable Integer maxSeqLen) {
        this.maxSeqLen = maxSeqLen;
    }

    public int getMaxBatchSize() {
        return maxBatchSize;
    }

    public void setMaxBatchSize(int maxBatchSize) {
        this.maxBatchSize = maxBatchSize;
    }

    public int getMaxNumTokens() {
        return maxNumTokens;
    }

    public void setMaxNumTokens(int maxNumTokens) {
        this.maxNumTokens = maxNumTokens;
    }

    public int getMaxQueueSize() {
        return maxQueueSize;
    }

    public void setMaxQueueSize(int maxQueueSize) {
        this.maxQueueSize = maxQueueSize;
    }

    public boolean isEnableChunkedPrefill() {
        return enableChunkedPrefill;
    }

    public void setEnableChunkedPrefill(boolean enableChunkedPrefill) {
        this.enableChunkedPrefill = enableChunkedPrefill;
    }

    public @Nullable Integer getMaxInputLen() {
        return maxInputLen;
    }

    public void setMaxInputLen(@Nullable Integer maxInputLen) {
        this.maxInputLen = maxInputLen;
    }

    public String getDtype() {
        return dtype;
    }

    public void setDtype(String dtype) {
        this.dtype = dtype;
    }

    public String getQuantization() {
        return quantization;
    }

    public void setQuantization(String quantization) {
        this.quantization = quantization;
    }

    public int getThreads() {
        return threads;
    }

    public void setThreads(int threads) {
        this.threads = threads;
    }

    public KvCache getKvCache() {
        return kvCache;
    }

    public Scheduler getScheduler() {
        return scheduler;
    }

    public Cache getCache() {
        return cache;
    }

    public Chat getChat() {
        return chat;
    }

    /** The paged KV cache ({@code trtllm.kv-cache.*}). */
    public static class KvCache {
        /** Token slots in the KV cache; unset, sized from free-memory-fraction. */
        private @Nullable Integer maxTokens;

        /**
         * Fraction of memory the KV cache may take when max-tokens is unset: on the CPU backend, of the
         * JVM's maximum heap (the cache always holds at least one max-seq-len sequence and at most
         * max-batch-size of them).
         */
        private double freeMemoryFraction = 0.25;

        /** Whether full KV blocks are shared between requests with a common prefix. */
        private boolean enableBlockReuse = true;

        /** Tokens per KV-cache block. */
        private int tokensPerBlock = 32;

        /**
         * Element type of the cached keys and values: auto (float32 on the CPU backend, the weights'
         * 16-bit type on CUDA), float32, float16 or bfloat16. 16 bits on the CPU halve the cache's memory and the
         * bytes attention reads.
         */
        private String dtype = "auto";

        KvCacheConfig toConfig() {
            try {
                new KvCacheConfig(maxTokens, 0.25, true, 32);
            } catch (IllegalArgumentException e) {
                throw invalid("kv-cache.max-tokens", maxTokens, e.getMessage());
            }
            try {
                new KvCacheConfig(null, freeMemoryFraction, true, 32);
            } catch (IllegalArgumentException e) {
                throw invalid("kv-cache.free-memory-fraction", freeMemoryFraction, e.getMessage());
            }
            KvCacheConfig config;
            try {
                config = new KvCacheConfig(maxTokens, freeMemoryFraction, enableBlockReuse, tokensPerBlock);
            } catch (IllegalArgumentException e) {
                throw invalid("kv-cache.tokens-per-block", tokensPerBlock, e.getMessage());
            }
            try {
                return config.withDtype(dtype);
            } catch (IllegalArgumentException e) {
                throw invalid("kv-cache.dtype", dtype, e.getMessage());
            }
        }

        public String getDtype() {
            return dtype;
        }

        public void setDtype(String dtype) {
            this.dtype = dtype;
        }

        public @Nullable Integer getMaxTokens() {
            return maxTokens;
        }

        public void setMaxTokens(@Nullable Integer maxTokens) {
            this.maxTokens = maxTokens;
        }

        public double getFreeMemoryFraction() {
            return freeMemoryFraction;
        }

        public void setFreeMemoryFraction(double freeMemoryFraction) {
            this.freeMemoryFraction = freeMemoryFraction;
        }

        public boolean isEnableBlockReuse() {
            return enableBlockReuse;
        }

        public void setEnableBlockReuse(boolean enableBlockReuse) {
            this.enableBlockReuse = enableBlockReuse;
        }

        public int getTokensPerBlock() {
            return tokensPerBlock;
        }

        public void setTokensPerBlock(int tokensPerBlock) {
            this.tokensPerBlock = tokensPerBlock;
        }
    }

    /** The scheduler ({@code trtllm.scheduler.*}). */
    public static class Scheduler {
        /**
         * Capacity policy: guaranteed-no-evict admits a request only when KV blocks for its whole length
         * are free; max-utilization admits more and preempts the newest request under pressure.
         */
        private SchedulerPolicy policy = SchedulerPolicy.GUARANTEED_NO_EVICT;

        public SchedulerPolicy getPolicy() {
            return policy;
        }

        public void setPolicy(SchedulerPolicy policy) {
            this.policy = policy;
        }
    }

    /** Where models are converted to ({@code trtllm.cache.*}). */
    public static class Cache {
        /**
         * Cache root for converted builtin models; unset, ~/.cache/trtllm. The environment variable
         * TRTLLM_CACHE_DIR, when set, takes precedence.
         */
        private @Nullable Path dir;

        /** Whether engines are built once and reused from the engine cache (off: built privately each start). */
        private boolean enabled = true;

        /** Most engines kept in the cache; the least recently used beyond it are removed (never one in use). */
        private int maxRecords = BuildCacheConfig.DEFAULT_MAX_RECORDS;

        /** Most bytes of engines kept in the cache, likewise. */
        private DataSize maxSize = DataSize.ofBytes(BuildCacheConfig.DEFAULT_MAX_SIZE_BYTES);

        BuildCacheConfig toConfig() {
            try {
                return new BuildCacheConfig(null, maxRecords, maxSize.toBytes());
            } catch (IllegalArgumentException e) {
                throw invalid(maxRecords <= 0 ? "cache.max-records" : "cache.max-size",
                        maxRecords <= 0 ? maxRecords : maxSize, e.getMessage());
            }
        }

        public @Nullable Path getDir() {
            return dir;
        }

        public void setDir(@Nullable Path dir) {
            this.dir = dir;
        }

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public int getMaxRecords() {
            return maxRecords;
        }

        public void setMaxRecords(int maxRecords) {
            this.maxRecords = maxRecords;
        }

        public DataSize getMaxSize() {
            return maxSize;
        }

        public void setMaxSize(DataSize maxSize) {
            this.maxSize = maxSize;
        }
    }

    /** The chat model ({@code trtllm.chat.*}). */
    public static class Chat {
        private final Options options = new Options();

        public Options getOptions() {
            return options;
        }

        /**
         * Default options of every chat request ({@code trtllm.chat.options.*}); a request's own options
         * win. Unset options keep the engine's defaults.
         */
        public static class Options {
            /** Model label reported in responses and observations; unset, the model directory's name. */
            private @Nullable String model;

            /** Sampling temperature; 0 decodes greedily. */
            private @Nullable Double temperature = 0.7;

            /** Keep only the k most likely tokens; 0 disables the limit. */
            private @Nullable Integer topK = 0;

            /** Keep the smallest set of most likely tokens whose probability reaches p, in (0, 1]; 1 disables it. */
            private @Nullable Double topP = 1.0;

            /** Most tokens to generate; unset, what max-seq-len leaves after the prompt. */
            private @Nullable Integer maxTokens;

            /** Strings that end generation when they appear in the text (not part of the reply). */
            private List<String> stop = new ArrayList<>();

            /** Subtracted from the logit of every token already generated; 0 disables it. */
            private @Nullable Double presencePenalty = 0.0;

            /** Subtracted from a token's logit once per time it was generated; 0 disables it. */
            private @Nullable Double frequencyPenalty = 0.0;

            /** Hugging Face's repetition penalty on prompt and output tokens, > 0; 1 disables it. */
            private @Nullable Double repetitionPenalty = 1.0;

            /** Seed of each request's random draws, for reproducible sampling; unset, random. */
            private @Nullable Long seed;

            /**
             * These options as chat options, each checked by the engine's own rules.
             *
             * @throws InvalidConfigurationPropertyValueException naming the first invalid key
             */
            public TrtLlmChatOptions toChatOptions() {
                checkSampling("max-tokens", maxTokens, b -> b.maxTokens(maxTokens != null ? maxTokens : 1));
                checkSampling("temperature", temperature, b -> {
                    if (temperature != null) {
                        b.temperature(temperature.floatValue());
                    }
                });
                checkSampling("top-k", topK, b -> b.topK(topK != null ? topK : 0));
                checkSampling("top-p", topP, b -> b.topP(topP != null ? topP.floatValue() : 1f));
                checkSampling("repetition-penalty", repetitionPenalty,
                        b -> b.repetitionPenalty(repetitionPenalty != null ? repetitionPenalty.floatValue() : 1f));
                checkSampling("stop", stop, b -> b.stop(stop));
                return TrtLlmChatOptions.builder()
                        .model(model)
                        .temperature(temperature)
                        .topK(topK)
                        .topP(topP)
                        .maxTokens(maxTokens)
                        .stopSequences(stop.isEmpty() ? null : stop)
                        .presencePenalty(presencePenalty)
                        .frequencyPenalty(frequencyPenalty)
                        .repetitionPenalty(repetitionPenalty)
                        .seed(seed)
                        .build();
            }

            /** Runs one option through SamplingParams' own checks; their message becomes the reason. */
            private static void checkSampling(String key, @Nullable Object value, Consumer<SamplingParams.Builder> setting) {
                try {
                    SamplingParams.Builder b = SamplingParams.builder();
                    setting.accept(b);
                    b.build();
                } catch (IllegalArgumentException e) {
                    throw invalid("chat.options." + key, value, e.getMessage());
                }
            }

            public @Nullable String getModel() {
                return model;
            }

            public void setModel(@Nullable String model) {
                this.model = model;
            }

            public @Nullable Double getTemperature() {
                return temperature;
            }

            public void setTemperature(@Nullable Double temperature) {
                this.temperature = temperature;
            }

            public @Nullable Integer getTopK() {
                return topK;
            }

            public void setTopK(@Nullable Integer topK) {
                this.topK = topK;
            }

            public @Nullable Double getTopP() {
                return topP;
            }

            public void setTopP(@Nullable Double topP) {
                this.topP = topP;
            }

            public @Nullable Integer getMaxTokens() {
                return maxTokens;
            }

            public void setMaxTokens(@Nullable Integer maxTokens) {
                this.maxTokens = maxTokens;
            }

            public List<String> getStop() {
                return stop;
            }

            public void setStop(List<String> stop) {
                this.stop = stop;
            }

            public @Nullable Double getPresencePenalty() {
                return presencePenalty;
            }

            public void setPresencePenalty(@Nullable Double presencePenalty) {
                this.presencePenalty = presencePenalty;
            }

            public @Nullable Double getFrequencyPenalty() {
                return frequencyPenalty;
            }

            public void setFrequencyPenalty(@Nullable Double frequencyPenalty) {
                this.frequencyPenalty = frequencyPenalty;
            }

            public @Nullable Double getRepetitionPenalty() {
                return repetitionPenalty;
            }

            public void setRepetitionPenalty(@Nullable Double repetitionPenalty) {
                this.repetitionPenalty = repetitionPenalty;
            }

            public @Nullable Long getSeed() {
                return seed;
            }

            public void setSeed(@Nullable Long seed) {
                this.seed = seed;
            }
        }
    }
}
