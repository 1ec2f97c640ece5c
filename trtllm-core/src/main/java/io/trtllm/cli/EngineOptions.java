package io.trtllm.cli;

import io.trtllm.api.LlmArgs;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares (a picocli mixin). */
final class EngineOptions {
    @Option(names = "--model", defaultValue = "stories15M",
            description = "Builtin model name (stories15M) or Hugging Face model directory (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--backend", defaultValue = "auto",
            description = "auto (CUDA when a usable NVIDIA GPU is present, else the CPU), cpu or cuda (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--max-seq-len", description = "Longest prompt + output (default: min(model limit, 4096)).")
    Integer maxSeqLen;

    @Option(names = "--threads", defaultValue = "0", description = "CPU threads; 0 = all processors.")
    int threads;

    @Option(names = "--cache-dir", description = "Cache root (default $TRTLLM_CACHE_DIR or ~/.cache/trtllm).")
    Path cacheDir;

    LlmArgs toArgs() {
        return builder().build();
    }

    LlmArgs.Builder builder() {
        return LlmArgs.builder(model).backend(backend).maxSeqLen(maxSeqLen).threads(threads).cacheDir(cacheDir);
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
