package io.trtllm.cli;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.LoadTimes;
import io.trtllm.api.config.Quantization;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares (a picocli mixin). */
final class EngineOptions {
    @Option(names = "--model", defaultValue = LlmArgs.DEFAULT_MODEL,
            description = "Builtin model name (stories15M) or Hugging Face model directory (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--backend", defaultValue = LlmArgs.DEFAULT_BACKEND,
            description = "auto (CUDA when a usable NVIDIA GPU is present, else the CPU), cpu or cuda (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--max-seq-len", description = "Longest prompt + output (default: min(model limit, 4096)).")
    Integer maxSeqLen;

    @Option(names = "--max-input-len", description = "Longest prompt (default: max-seq-len).")
    Integer maxInputLen;

    @Option(names = "--max-batch-size", description = "Most sequences per forward pass (default " + LlmArgs.DEFAULT_MAX_BATCH_SIZE + ").")
    Integer maxBatchSize;

    @Option(names = "--max-num-tokens", description = "Most tokens per forward pass (default " + LlmArgs.DEFAULT_MAX_NUM_TOKENS + ").")
    Integer maxNumTokens;

    @Option(names = "--threads", defaultValue = "0", description = "CPU threads; 0 = all processors.")
    int threads;

    @Option(names = "--tensor-parallel-size", defaultValue = "1",
            description = "Ranks that split every layer (tensor parallelism; default ${DEFAULT-VALUE}).")
    int tensorParallelSize;

    @Option(names = "--pipeline-parallel-size", defaultValue = "1",
            description = "Pipeline stages, each a contiguous range of layers (default ${DEFAULT-VALUE}).")
    int pipelineParallelSize;

    @Option(names = "--device-ids", split = ",",
            description = "CUDA devices of the ranks in rank order, comma-separated (default: 0 .. TP × PP - 1).")
    java.util.List<Integer> deviceIds;

    @Option(names = "--cache-dir", description = "Cache root (default $TRTLLM_CACHE_DIR or ~/.cache/trtllm).")
    Path cacheDir;

    @Option(names = "--dtype", defaultValue = "auto",
            description = "Weights' dtype in the engine: auto, float32, float16 or bfloat16 (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--quantization", defaultValue = "none",
            description = "Quantization of the engine's weights: none, int8, int4 (weight-only) or fp8 (cuda, sm_89+) (default ${DEFAULT-VALUE}).")
    String quantization;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto",
            description = "KV cache element type: auto (float32 on the CPU, the weights' 16-bit type on CUDA), float32, float16, "
                    + "bfloat16 or fp8 (E4M3, cuda, sm_89+) (default ${DEFAULT-VALUE}).")
    String kvCacheDtype;

    @Option(names = {"--kv-cache-memory-fraction", "--kv_cache_free_gpu_mem_fraction"},
            description = "Share of the memory the KV cache may take, in (0, 1]: of the heap on the CPU, of the device memory left "
                    + "free after the weights on CUDA (trtllm-bench's --kv_cache_free_gpu_mem_fraction; default "
                    + KvCacheConfig.DEFAULT_MEMORY_FRACTION + "). The cache never exceeds max-batch-size sequences of max-seq-len.")
    Double kvCacheMemoryFraction;

    /** The KV cache config with {@code --kv-cache-dtype}, {@code --kv-cache-memory-fraction} and the given block reuse. */
    KvCacheConfig kvCacheConfig(boolean enableBlockReuse) {
        var d = KvCacheConfig.defaults();
        double fraction = kvCacheMemoryFraction == null ? d.memoryFraction() : kvCacheMemoryFraction;
        return new KvCacheConfig(d.maxTokens(), fraction, enableBlockReuse, d.tokensPerBlock()).withDtype(kvCacheDtype);
    }

    LlmArgs toArgs() {
        return builder().build();
    }

    LlmArgs.Builder builder() {
        LlmArgs.Builder b = LlmArgs.builder(model);
        if (maxBatchSize != null) {
            b.maxBatchSize(maxBatchSize);
        }
        if (maxNumTokens != null) {
            b.maxNumTokens(maxNumTokens);
        }
        return b.kvCacheConfig(kvCacheConfig(KvCacheConfig.defaults().enableBlockReuse())).backend(backend).maxSeqLen(maxSeqLen).maxInputLen(maxInputLen).threads(threads).cacheDir(cacheDir).dtype(dtype)
                .tensorParallelSize(tensorParallelSize).pipelineParallelSize(pipelineParallelSize)
                .deviceIds(deviceIds == null ? java.util.List.of() : deviceIds)
                .quantization(Quantization.parse(quantization));
    }

    /** The engine line of {@code --stats} and {@code bench}: how it was loaded and where the load spent its time. */
    static void printLoad(PrintWriter out, LLM llm) {
        LoadTimes t = llm.loadTimes();
        out.printf(Locale.ROOT, "load: %d ms without JIT warm-up (engine %s in %d ms, tokenizer %d ms, runner %d ms), "
                        + "JIT warm-up %d ms, requests %d ms; %s%n",
                t.withoutWarmUp().toMillis(), t.engineKind().name().toLowerCase(Locale.ROOT), t.engine().toMillis(),
                t.tokenizer().toMillis(), t.runner().toMillis(), t.warmUp().toMillis(), t.requests().toMillis(), llm.buildConfig().quantization() == Quantization.NONE
                        ? "dtype " + llm.buildConfig().dtypeName() : "quantization " + llm.buildConfig().quantization().id());
    }

    /** Prints the peak heap and (on Linux) peak RSS lines of {@code --stats} and {@code bench}. */
    static void printMemory(PrintWriter out) {
        out.printf(Locale.ROOT, "peak heap: %.1f MiB%n", MemoryStats.peakHeapBytes() / 1048576.0);
        long rss = MemoryStats.peakRssBytes();
        if (rss > 0) {
            out.printf(Locale.ROOT, "peak RSS: %.1f MiB%n", rss / 1048576.0);
        }
    }
}
