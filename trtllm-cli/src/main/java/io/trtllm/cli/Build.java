package io.trtllm.cli;

import io.trtllm.api.LlmArgs;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.hub.HubSettings;
import io.trtllm.model.source.ModelSource;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code trtllm build}: a model (builtin, directory or Hub id) to an engine directory, used later as {@code --model}. */
@Command(name = "build", mixinStandardHelpOptions = true,
        description = "Build an engine directory from a model; pass it later as --model to load it as it is.")
final class Build implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "stories15M",
            description = "Builtin model (stories15M), Hugging Face model directory or Hub id org/name[@revision] (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--output", required = true, description = "Engine directory to create (must not exist).")
    Path output;

    @Option(names = "--backend", defaultValue = "cpu",
            description = "Backend the engine is for: cpu (weights in the CPU kernels' panel layout) or cuda (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--cuda-arch",
            description = "GPU architecture a cuda engine's kernels are compiled for with NVRTC: sm_80, sm_90, ... "
                    + "(default: this machine's GPU), or any for an engine without kernels (compiled when loaded).")
    String cudaArch;

    @Option(names = "--dtype", defaultValue = "auto",
            description = "auto, float32, float16 or bfloat16 (default ${DEFAULT-VALUE}); cuda: auto = bfloat16, no float32.")
    String dtype;

    @Option(names = "--quantization", defaultValue = "none", description = "none, int8, int4 or fp8 (cuda, sm_89+) (default ${DEFAULT-VALUE}).")
    String quantization;

    @Option(names = "--max-seq-len", description = "Longest prompt + output (default: min(model limit, 4096)).")
    Integer maxSeqLen;

    @Option(names = "--max-input-len", description = "Longest prompt (default: max-seq-len).")
    Integer maxInputLen;

    @Option(names = "--max-batch-size", defaultValue = "" + BuildConfig.DEFAULT_MAX_BATCH_SIZE, description = "Most sequences per forward pass (default ${DEFAULT-VALUE}).")
    int maxBatchSize;

    @Option(names = "--max-num-tokens", defaultValue = "" + BuildConfig.DEFAULT_MAX_NUM_TOKENS, description = "Most tokens per forward pass (default ${DEFAULT-VALUE}).")
    int maxNumTokens;

    @Option(names = "--max-beam-width", defaultValue = "1", description = "Widest beam search (default ${DEFAULT-VALUE}).")
    int maxBeamWidth;

    @Option(names = "--gather-context-logits", description = "Keep the logits of every prompt position.")
    boolean gatherContextLogits;

    @Option(names = "--gather-generation-logits", description = "Keep the logits of every generated token.")
    boolean gatherGenerationLogits;

    @Option(names = "--tensor-parallel-size", defaultValue = "" + LlmArgs.DEFAULT_TENSOR_PARALLEL_SIZE,
            description = "Ranks that split every layer: one weights file per rank, rank<r>/ (default ${DEFAULT-VALUE}).")
    int tensorParallelSize;

    @Option(names = "--pipeline-parallel-size", defaultValue = "" + LlmArgs.DEFAULT_PIPELINE_PARALLEL_SIZE,
            description = "Stages of contiguous layers, as above (default ${DEFAULT-VALUE}).")
    int pipelineParallelSize;

    @Option(names = "--cache-dir", description = "Cache root for builtin models (default $TRTLLM_CACHE_DIR or ~/.cache/trtllm).")
    Path cacheDir;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Device device = Device.of(backend, cudaArch); // before any download: a CUDA build here may need --cuda-arch
        Parallelism split = new Parallelism(tensorParallelSize, pipelineParallelSize);
        ModelSource source = ModelSource.parse(model);
        if (source instanceof ModelSource.Engine) {
            throw new IllegalArgumentException("--model " + model + " is an engine directory already; give the checkpoint it "
                    + "was built from");
        }
        Path dir = source.resolve(CacheDirectory.resolve(cacheDir), HubSettings.fromEnvironment());
        ModelConfig config = ModelConfig.load(dir);
        int seqLen = maxSeqLen != null ? maxSeqLen : Math.min(config.maxPositionEmbeddings(), LlmArgs.DEFAULT_MAX_SEQ_LEN_CAP);
        BuildConfig build = BuildConfig.builder(seqLen).maxInputLen(maxInputLen).maxBatchSize(maxBatchSize)
                .maxNumTokens(maxNumTokens).maxBeamWidth(maxBeamWidth).dtype(dtype)
                .quantization(Quantization.parse(quantization)).gatherContextLogits(gatherContextLogits)
                .gatherGenerationLogits(gatherGenerationLogits).build();
        EngineBuilder.Result result = new EngineBuilder(build, device).parallelism(split).build(dir, output);
        out.printf(Locale.ROOT, "engine: %s (%.1f MiB, %d tensors, %.2f s)%n", result.engineDir(), result.bytes() / 1048576.0,
                result.tensors(), result.duration().toMillis() / 1e3);
        return 0;
    }
}
