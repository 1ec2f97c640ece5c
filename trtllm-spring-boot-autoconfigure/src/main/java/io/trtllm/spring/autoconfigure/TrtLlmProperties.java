package io.trtllm.spring.autoconfigure;

import io.trtllm.api.LlmArgs;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.api.config.SchedulerPolicy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.DeprecatedConfigurationProperty;
import org.springframework.util.unit.DataSize;

/**
 * Configuration of the in-process engine ({@code trtllm.*}, mapped to {@code LlmArgs}) and of the chat
 * model's default options ({@code trtllm.chat.*}). Plain data: each default is the core's own constant
 * (never a copy), and {@link TrtLlmPropertiesMapper} maps and checks these once, through the core's
 * checks, naming the key on failure.
 */
@ConfigurationProperties(prefix = TrtLlmProperties.PREFIX)
public class TrtLlmProperties {
    /** Prefix of the engine's properties. */
    public static final String PREFIX = "trtllm";

    /**
     * Builtin model name (stories15M), a Hugging Face model directory (config.json, *.safetensors,
     * tokenizer.json), an engine directory from trtllm build, or a Hugging Face Hub id org/name[@revision].
     */
    private String model = LlmArgs.DEFAULT_MODEL;

    /** Directory holding tokenizer.json when it is not the model directory. */
    private @Nullable Path tokenizer;

    /** Backend to run the model on: auto picks CUDA when a usable GPU is present, else the CPU. */
    private Backend backend = Backend.AUTO;

    /** Longest prompt plus output, in tokens; unset, min(max_position_embeddings, 4096). */
    private @Nullable Integer maxSeqLen;

    /** Longest prompt, in tokens; unset, max-seq-len. Longer prompts are refused before they are queued. */
    private @Nullable Integer maxInputLen;

    /** Most sequences in one forward pass. */
    private int maxBatchSize = LlmArgs.DEFAULT_MAX_BATCH_SIZE;

    /** Most tokens (prefill chunks and decodes) in one forward pass. */
    private int maxNumTokens = LlmArgs.DEFAULT_MAX_NUM_TOKENS;

    /** Most requests waiting to run; further requests fail at once with QueueFullException. */
    private int maxQueueSize = LlmArgs.DEFAULT_MAX_QUEUE_SIZE;

    /** Whether long prompts are split across iterations so that decodes keep flowing. */
    private boolean enableChunkedPrefill = LlmArgs.DEFAULT_ENABLE_CHUNKED_PREFILL;

    /** CPU threads of the forward pass; 0 uses all available processors. */
    private int threads = LlmArgs.DEFAULT_THREADS;

    /**
     * Weight dtype of the engine (CPU: auto keeps the checkpoint's; CUDA: auto and bfloat16 run BF16,
     * float16 runs F16, float32 is refused; fp8 names the KV cache's type only, FP8 weights are
     * quantization fp8). Also spelled f32, fp16, half, bf16.
     */
    private Dtype dtype = Dtype.AUTO;

    /** Quantization of the engine's weights: none, int8 or int4 (weight-only; cpu and cuda), fp8 (cuda, sm_89 or newer). */
    private Quantization quantization = Quantization.NONE;

    /**
     * Ranks that split every layer (tensor parallelism: attention heads, MLP features and vocabulary rows divided
     * among them); 1 = none. Must divide the model's attention heads and intermediate size, and divide or be a
     * multiple of its KV heads.
     */
    private int tensorParallelSize = LlmArgs.DEFAULT_TENSOR_PARALLEL_SIZE;

    /** Stages of contiguous layers (pipeline parallelism); 1 = none. At most the model's layers. */
    private int pipelineParallelSize = LlmArgs.DEFAULT_PIPELINE_PARALLEL_SIZE;

    /**
     * CUDA device ordinals of the ranks in rank order (stage × tensor-parallel-size + TP rank), distinct, one per
     * rank; empty uses devices 0 .. ranks − 1. The CPU backend's ranks are threads: leave it empty there.
     */
    private List<Integer> deviceIds = new ArrayList<>();

    private final KvCache kvCache = new KvCache();

    private final Scheduler scheduler = new Scheduler();

    private final Cache cache = new Cache();

    private final Hub hub = new Hub();

    private final Cpu cpu = new Cpu();

    private final Cuda cuda = new Cuda();

    private final Warmup warmup = new Warmup();

    /** The npm executable that fetches builtin models (stories15M) on first use. */
    private String npm = RuntimeConfig.DEFAULT_NPM;

    private final Chat chat = new Chat();

    /** Backends that can be asked for (the values of {@code LlmArgs.BACKENDS}). */
    public enum Backend {
        /** CUDA when a usable NVIDIA GPU is present, else the CPU. */
        AUTO,
        /** The pure-Java CPU backend. */
        CPU,
        /** NVIDIA GPUs through CUDA (startup fails, saying why, when none is usable). */
        CUDA
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

    public @Nullable Integer getMaxInputLen() {
        return maxInputLen;
    }

    public void setMaxInputLen(@Nullable Integer maxInputLen) {
        this.maxInputLen = maxInputLen;
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

    public int getThreads() {
        return threads;
    }

    public void setThreads(int threads) {
        this.threads = threads;
    }

    public Dtype getDtype() {
        return dtype;
    }

    public void setDtype(Dtype dtype) {
        this.dtype = dtype;
    }

    public Quantization getQuantization() {
        return quantization;
    }

    public void setQuantization(Quantization quantization) {
        this.quantization = quantization;
    }

    public int getTensorParallelSize() {
        return tensorParallelSize;
    }

    public void setTensorParallelSize(int tensorParallelSize) {
        this.tensorParallelSize = tensorParallelSize;
    }

    public int getPipelineParallelSize() {
        return pipelineParallelSize;
    }

    public void setPipelineParallelSize(int pipelineParallelSize) {
        this.pipelineParallelSize = pipelineParallelSize;
    }

    public List<Integer> getDeviceIds() {
        return deviceIds;
    }

    public void setDeviceIds(List<Integer> deviceIds) {
        this.deviceIds = deviceIds;
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

    public Hub getHub() {
        return hub;
    }

    public Chat getChat() {
        return chat;
    }

    public Cpu getCpu() {
        return cpu;
    }

    public Cuda getCuda() {
        return cuda;
    }

    public Warmup getWarmup() {
        return warmup;
    }

    public String getNpm() {
        return npm;
    }

    public void setNpm(String npm) {
        this.npm = npm;
    }

    /**
     * The CPU backend ({@code trtllm.cpu.*}). The kernels' SIMD switch stays the JVM-wide system property
     * {@code -Dtrtllm.cpu.simd=false}: the kernels are chosen once per JVM.
     */
    public static class Cpu {
        /** Whether the matmul weights are copied onto transparent huge pages where the kernel offers them. */
        private boolean hugePages = true;

        public boolean isHugePages() {
            return hugePages;
        }

        public void setHugePages(boolean hugePages) {
            this.hugePages = hugePages;
        }
    }

    /**
     * The start-up warm-ups after the engine's own JIT warm-up ({@code trtllm.warmup.*}), so that the first requests run
     * compiled code; neither is seen by metrics or observations. The engine's forward-pass warm-up and its budget stay
     * the JVM-wide {@code -Dtrtllm.warmup.millis} (0 turns every warm-up off).
     */
    public static class Warmup {
        /** Whether the engine ends its start-up with short requests through a scratch executor (request path compiled). */
        private boolean requests = true;

        /** Whether the chat model's path (chat template, Spring AI's request and response) runs once before traffic. */
        private boolean chatModel = true;

        public boolean isRequests() {
            return requests;
        }

        public void setRequests(boolean requests) {
            this.requests = requests;
        }

        public boolean isChatModel() {
            return chatModel;
        }

        public void setChatModel(boolean chatModel) {
            this.chatModel = chatModel;
        }
    }

    /**
     * The CUDA backend's fast paths ({@code trtllm.cuda.*}); each is on unless turned off to compare, but the
     * overlap, which is off until turned on.
     */
    public static class Cuda {
        /** Whether decode steps are captured once and replayed as CUDA graphs. */
        private boolean graphs = true;

        /** Whether tokens are sampled on the device rather than from logits copied to the host. */
        private boolean deviceSampling = true;

        /** Whether small batches use the GEMV kernels instead of cuBLAS GEMMs. */
        private boolean gemv = true;

        public boolean isGraphs() {
            return graphs;
        }

        public void setGraphs(boolean graphs) {
            this.graphs = graphs;
        }

        public boolean isDeviceSampling() {
            return deviceSampling;
        }

        public void setDeviceSampling(boolean deviceSampling) {
            this.deviceSampling = deviceSampling;
        }

        /**
         * Whether the next decode step is scheduled and staged while the device computes the current one, its
         * input tokens taken from the current step's draws on the device.
         */
        private boolean overlap;

        public boolean isGemv() {
            return gemv;
        }

        public void setGemv(boolean gemv) {
            this.gemv = gemv;
        }

        public boolean isOverlap() {
            return overlap;
        }

        public void setOverlap(boolean overlap) {
            this.overlap = overlap;
        }
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
        private double freeMemoryFraction = KvCacheConfig.DEFAULT_MEMORY_FRACTION;

        /** Whether full KV blocks are shared between requests with a common prefix. */
        private boolean enableBlockReuse = KvCacheConfig.DEFAULT_ENABLE_BLOCK_REUSE;

        /** Tokens per KV-cache block. */
        private int tokensPerBlock = KvCacheConfig.DEFAULT_TOKENS_PER_BLOCK;

        /**
         * Element type of the cached keys and values: auto is float32 on the CPU backend, the weights'
         * 16-bit type on CUDA. 16 bits on the CPU halve the cache's memory and the bytes attention reads;
         * fp8 (E4M3, CUDA on sm_89 or newer) halves the CUDA cache's.
         */
        private Dtype dtype = Dtype.AUTO;

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

        public Dtype getDtype() {
            return dtype;
        }

        public void setDtype(Dtype dtype) {
            this.dtype = dtype;
        }
    }

    /** The scheduler ({@code trtllm.scheduler.*}). */
    public static class Scheduler {
        /**
         * Capacity policy: guaranteed-no-evict admits a request only when KV blocks for its whole length
         * are free; max-utilization admits more and preempts the newest request under pressure.
         */
        private SchedulerPolicy policy = LlmArgs.DEFAULT_SCHEDULER_POLICY;

        public SchedulerPolicy getPolicy() {
            return policy;
        }

        public void setPolicy(SchedulerPolicy policy) {
            this.policy = policy;
        }
    }

    /** Where models are converted to and engines kept ({@code trtllm.cache.*}). */
    public static class Cache {
        /**
         * Cache root for converted builtin models and engines; unset, ~/.cache/trtllm. The environment
         * variable TRTLLM_CACHE_DIR, when set, takes precedence.
         */
        private @Nullable Path dir;

        /** Whether engines are built once and reused from the engine cache (off: built privately each start). */
        private boolean enabled = LlmArgs.DEFAULT_ENABLE_BUILD_CACHE;

        /** Most engines kept in the cache; the least recently used beyond it are removed (never one in use). */
        private int maxRecords = BuildCacheConfig.DEFAULT_MAX_RECORDS;

        /** Most bytes of engines kept in the cache, likewise. */
        private DataSize maxSize = DataSize.ofBytes(BuildCacheConfig.DEFAULT_MAX_SIZE_BYTES);

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

    /**
     * The Hugging Face Hub ({@code trtllm.hub.*}), for models given as a Hub id. Each unset key keeps
     * what the environment says, as {@code huggingface_hub} reads it.
     */
    public static class Hub {
        /** Base URL of the Hub or a mirror; unset, HF_ENDPOINT, else https://huggingface.co. */
        private @Nullable String endpoint;

        /** Access token for gated or private models; unset, HF_TOKEN, else the file $HF_HOME/token. */
        private @Nullable String token;

        /** Whether only cached snapshots are used, never the network; unset, HF_HUB_OFFLINE. */
        private @Nullable Boolean offline;

        public @Nullable String getEndpoint() {
            return endpoint;
        }

        public void setEndpoint(@Nullable String endpoint) {
            this.endpoint = endpoint;
        }

        public @Nullable String getToken() {
            return token;
        }

        public void setToken(@Nullable String token) {
            this.token = token;
        }

        public @Nullable Boolean getOffline() {
            return offline;
        }

        public void setOffline(@Nullable Boolean offline) {
            this.offline = offline;
        }
    }

    /**
     * Default options of every chat request ({@code trtllm.chat.*}, as Spring AI 2.0 names them); a
     * request's own options win. {@code trtllm.chat.options.*} (Spring AI 1.x) still binds here.
     */
    public static class Chat {
        /** Model label reported in responses and observations; unset, the model directory's name. */
        private @Nullable String model;

        /** Sampling temperature; 0 decodes greedily. */
        private @Nullable Double temperature = 0.7;

        /** Keep only the k most likely tokens; 0 disables the limit. */
        private @Nullable Integer topK = SamplingParams.DEFAULT_TOP_K;

        /** Keep the smallest set of most likely tokens whose probability reaches p, in (0, 1]; 1 disables it. */
        private @Nullable Double topP = (double) SamplingParams.DEFAULT_TOP_P;

        /** Most tokens to generate; unset, what max-seq-len leaves after the prompt. */
        private @Nullable Integer maxTokens;

        /** Strings that end generation when they appear in the text (not part of the reply). */
        private List<String> stop = new ArrayList<>();

        /** Subtracted from the logit of every token already generated; 0 disables it. */
        private @Nullable Double presencePenalty = (double) SamplingParams.DEFAULT_PENALTY;

        /** Subtracted from a token's logit once per time it was generated; 0 disables it. */
        private @Nullable Double frequencyPenalty = (double) SamplingParams.DEFAULT_PENALTY;

        /** Hugging Face's repetition penalty on prompt and output tokens, > 0; 1 disables it. */
        private @Nullable Double repetitionPenalty = (double) SamplingParams.DEFAULT_REPETITION_PENALTY;

        /** Seed of each request's random draws, for reproducible sampling; unset, random. */
        private @Nullable Long seed;

        private final Options options = new Options();

        /**
         * The Spring AI 1.x spelling {@code trtllm.chat.options.*}: each key writes the option of the
         * same name here.
         */
        public Options getOptions() {
            return options;
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

        /**
         * {@code trtllm.chat.options.*}, deprecated: Spring AI 2.0 dropped the {@code .options} segment.
         * A view over {@link Chat} (an inner class: no state of its own), so an old key and its
         * replacement are one setting; the binder's last write wins when both are given.
         */
        public class Options {
            private final Chat chat = Chat.this;

            /** Replaced by trtllm.chat.model. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.model", since = "0.1.0")
            public @Nullable String getModel() {
                return chat.model;
            }

            @Deprecated(since = "0.1.0")
            public void setModel(@Nullable String model) {
                chat.model = model;
            }

            /** Replaced by trtllm.chat.temperature. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.temperature", since = "0.1.0")
            public @Nullable Double getTemperature() {
                return chat.temperature;
            }

            @Deprecated(since = "0.1.0")
            public void setTemperature(@Nullable Double temperature) {
                chat.temperature = temperature;
            }

            /** Replaced by trtllm.chat.top-k. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.top-k", since = "0.1.0")
            public @Nullable Integer getTopK() {
                return chat.topK;
            }

            @Deprecated(since = "0.1.0")
            public void setTopK(@Nullable Integer topK) {
                chat.topK = topK;
            }

            /** Replaced by trtllm.chat.top-p. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.top-p", since = "0.1.0")
            public @Nullable Double getTopP() {
                return chat.topP;
            }

            @Deprecated(since = "0.1.0")
            public void setTopP(@Nullable Double topP) {
                chat.topP = topP;
            }

            /** Replaced by trtllm.chat.max-tokens. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.max-tokens", since = "0.1.0")
            public @Nullable Integer getMaxTokens() {
                return chat.maxTokens;
            }

            @Deprecated(since = "0.1.0")
            public void setMaxTokens(@Nullable Integer maxTokens) {
                chat.maxTokens = maxTokens;
            }

            /** Replaced by trtllm.chat.stop. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.stop", since = "0.1.0")
            public List<String> getStop() {
                return chat.stop;
            }

            @Deprecated(since = "0.1.0")
            public void setStop(List<String> stop) {
                chat.stop = stop;
            }

            /** Replaced by trtllm.chat.presence-penalty. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.presence-penalty", since = "0.1.0")
            public @Nullable Double getPresencePenalty() {
                return chat.presencePenalty;
            }

            @Deprecated(since = "0.1.0")
            public void setPresencePenalty(@Nullable Double presencePenalty) {
                chat.presencePenalty = presencePenalty;
            }

            /** Replaced by trtllm.chat.frequency-penalty. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.frequency-penalty", since = "0.1.0")
            public @Nullable Double getFrequencyPenalty() {
                return chat.frequencyPenalty;
            }

            @Deprecated(since = "0.1.0")
            public void setFrequencyPenalty(@Nullable Double frequencyPenalty) {
                chat.frequencyPenalty = frequencyPenalty;
            }

            /** Replaced by trtllm.chat.repetition-penalty. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.repetition-penalty", since = "0.1.0")
            public @Nullable Double getRepetitionPenalty() {
                return chat.repetitionPenalty;
            }

            @Deprecated(since = "0.1.0")
            public void setRepetitionPenalty(@Nullable Double repetitionPenalty) {
                chat.repetitionPenalty = repetitionPenalty;
            }

            /** Replaced by trtllm.chat.seed. */
            @Deprecated(since = "0.1.0")
            @DeprecatedConfigurationProperty(replacement = "trtllm.chat.seed", since = "0.1.0")
            public @Nullable Long getSeed() {
                return chat.seed;
            }

            @Deprecated(since = "0.1.0")
            public void setSeed(@Nullable Long seed) {
                chat.seed = seed;
            }
        }
    }
}
