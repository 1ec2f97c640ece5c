package io.trtllm.engine;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.LoadTimes;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.hub.HubSettings;
import io.trtllm.model.source.ModelSource;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.cuda.CudaBackend;
import io.trtllm.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns what a caller asked for into a model ready to serve, in four steps: resolve the backend and
 * the model (a builtin converted, a Hub id downloaded), acquire its engine (from the engine cache,
 * built on a miss, or a prebuilt one), open the runner over it with its KV cache sized
 * ({@link Runners}), warm the JIT up. The tokenizer loads on its own thread meanwhile. What
 * nano-vllm's {@code LLMEngine.__init__} does before its scheduler exists; {@code LLM} then only
 * starts an executor over the result.
 */
public final class EngineLoader {
    private static final Logger LOG = LoggerFactory.getLogger(EngineLoader.class);

    private EngineLoader() {
    }

    /**
     * Loads everything an {@code LLM} runs on. On failure whatever was opened is closed again
     * (threads, the native tokenizer, the engine lease and its mapped files) and the error rethrown.
     *
     * @param tokenizer directory holding {@code tokenizer.json} when it is not the model's, or null
     * @throws IllegalArgumentException when the limits do not fit the model or its engine, naming both
     * @throws IllegalStateException    when {@code cuda} is asked for and no usable device is present
     */
    public static LoadedModel load(EngineSpec spec, RunnerOptions options, @Nullable Path tokenizer) {
        return load(spec, options, tokenizer, true);
    }

    /**
     * {@link #load(EngineSpec, RunnerOptions, Path)}, or without a tokenizer when {@code loadTokenizer} is
     * false (the caller brings its own, or works on token ids alone): the result's tokenizer is then null.
     */
    public static LoadedModel load(EngineSpec spec, RunnerOptions options, @Nullable Path tokenizer, boolean loadTokenizer) {
        long start = System.nanoTime();
        var tokenizerLoad = new TokenizerLoad(loadTokenizer);
        String backend;
        Path modelDir;
        EngineLease engine;
        try {
            backend = resolveBackend(spec.backend());
            ModelSource source = ModelSource.parse(spec.model());
            modelDir = source.resolve(CacheDirectory.resolve(spec.cacheDir()), HubSettings.fromEnvironment().with(spec.hub()),
                    spec.npm());
            // A checkpoint's tokenizer files are the ones its engine carries; a prebuilt engine is modelDir itself.
            tokenizerLoad.start(tokenizer != null ? tokenizer : modelDir);
            if (backend.equals("cuda") && !(source instanceof ModelSource.Engine)) {
                // Before a build that may take minutes: the engine's weight type comes from the dtype asked for.
                Runners.checkCudaKvType(options.kvCache(), CudaBackend.weightType(DType.of(spec.dtype())));
            } else if (!backend.equals("cuda")) {
                Runners.checkCpuKvType(options.kvCache());
            }
            if (!options.parallelism().single() && !(source instanceof ModelSource.Engine)) {
                // Before a build: a split the model does not allow fails here, naming both.
                Runners.checkParallel(ModelConfig.load(modelDir), backend, options);
            }
            // A build takes seconds to minutes and leaves a cache entry: the tokenizer is checked first.
            BuildProgress checkTokenizer = new BuildProgress() {
                @Override
                public void update(int tensorsDone, int tensorsTotal, long bytesDone, long bytesTotal) {
                }

                @Override
                public void beforeBuild() {
                    tokenizerLoad.join();
                }
            };
            engine = open(source, modelDir, spec, backend, options.parallelism(), checkTokenizer);
        } catch (RuntimeException | Error e) {
            tokenizerLoad.abandon(e);
            throw e;
        }
        long engineDone = System.nanoTime();
        @Nullable Tokenizer tok = null;
        ModelRunner runner = null;
        try {
            BuildConfig built = engine.config().buildConfig();
            int maxSeqLen = spec.maxSeqLen() != null ? spec.maxSeqLen() : built.maxSeqLen();
            if (maxSeqLen > built.maxSeqLen()) {
                throw new IllegalArgumentException("max_seq_len " + maxSeqLen + " exceeds the engine's max_seq_len "
                        + built.maxSeqLen() + " (" + engine.directory() + "); rebuild it with a larger one");
            }
            if (spec.maxInputLen() != null && spec.maxInputLen() > built.maxInputLen()) {
                throw new IllegalArgumentException("max_input_len " + spec.maxInputLen() + " exceeds the engine's max_input_len "
                        + built.maxInputLen() + " (" + engine.directory() + "); rebuild it with a larger one");
            }
            int maxInputLen = Math.min(spec.maxInputLen() != null ? spec.maxInputLen() : built.maxInputLen(), maxSeqLen);
            tok = tokenizerLoad.join();
            long tokenizerDone = System.nanoTime();
            runner = Runners.open(engine, backend, options, maxSeqLen, spec.maxBatchSize());
            long runnerDone = System.nanoTime();
            WarmUp.Result warmUp = Runners.warmUp(runner, maxSeqLen, spec.maxBatchSize(), spec.maxNumTokens());
            long warmUpDone = System.nanoTime();
            var times = new LoadTimes(Duration.ofNanos(engineDone - start), engine.load().kind(), tokenizerLoad.duration(),
                    Duration.ofNanos(runnerDone - tokenizerDone), Duration.ofNanos(warmUpDone - runnerDone),
                    Duration.ofNanos(warmUpDone - start));
            var model = new LoadedModel(modelDir, engine, tok, runner, maxSeqLen, maxInputLen, times, warmUp);
            log(spec, model);
            return model;
        } catch (RuntimeException | Error e) {
            if (runner != null) {
                runner.close();
            }
            if (tok != null) {
                tok.close();
            } else {
                tokenizerLoad.abandon(e);
            }
            engine.close();
            throw e;
        }
    }

    /**
     * The engine that {@link #load} would run, without the rest (tokenizer, runner): the model resolved,
     * its engine built or loaded from the cache (or a prebuilt engine opened). The caller closes the
     * lease. {@code trtllm bench --engine-load} times this.
     */
    public static EngineLease acquire(EngineSpec spec) {
        String backend = resolveBackend(spec.backend());
        ModelSource source = ModelSource.parse(spec.model());
        Path dir = source.resolve(CacheDirectory.resolve(spec.cacheDir()), HubSettings.fromEnvironment().with(spec.hub()),
                spec.npm());
        return open(source, dir, spec, backend, Parallelism.NONE, BuildProgress.NONE);
    }

    /**
     * The backend for {@code requested}: {@code cpu}; {@code cuda}, failing when no usable CUDA device is
     * present; {@code auto}: CUDA when a device is usable, else the CPU (saying why in one log line).
     */
    static String resolveBackend(String requested) {
        if (requested.equals("cpu")) {
            return "cpu";
        }
        String reason = CudaBackend.unavailableReason();
        if (reason == null) {
            return "cuda";
        }
        if (requested.equals("cuda")) {
            throw new NoUsableDeviceException("backend 'cuda' needs a usable CUDA device: " + reason);
        }
        LOG.info("backend auto: using the CPU, CUDA is not usable ({})", reason);
        return "cpu";
    }

    /**
     * The engine to run: a prebuilt engine directory as it is; otherwise the engine of the checkpoint
     * for {@code spec}, from the engine cache (built on a miss) or, with the cache disabled, built
     * privately. max_seq_len is checked against the model before anything is built.
     */
    private static EngineLease open(ModelSource source, Path dir, EngineSpec spec, String backend, Parallelism parallelism,
                                    BuildProgress progress) {
        if (source instanceof ModelSource.Engine) {
            EngineLease lease = EngineCache.openPrebuilt(dir);
            String builtFor = lease.config().device().backend();
            // A CPU engine holds the CPU kernels' panel layout; a CUDA engine plain tensors, which the CPU packs at load.
            if (builtFor.equals("cpu") && !backend.equals("cpu")) {
                lease.close();
                throw new IllegalArgumentException("engine " + dir + " was built for the " + builtFor + " backend, not "
                        + backend + "; rebuild it with trtllm build --backend " + backend);
            }
            return lease;
        }
        ModelConfig model = ModelConfig.load(dir);
        int cap = Math.min(model.maxPositionEmbeddings(), BuildConfig.DEFAULT_MAX_SEQ_LEN_CAP);
        int seqLen = spec.maxSeqLen() != null ? spec.maxSeqLen() : cap;
        if (seqLen > model.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("max_seq_len " + seqLen + " exceeds the model's max_position_embeddings "
                    + model.maxPositionEmbeddings() + " (" + dir.resolve("config.json") + ")");
        }
        if (seqLen < 2) {
            throw new IllegalArgumentException("max_seq_len must be >= 2 (a prompt token and a generated one), got " + seqLen);
        }
        if (spec.maxInputLen() != null && spec.maxInputLen() > seqLen) {
            throw new IllegalArgumentException("max_input_len " + spec.maxInputLen() + " exceeds max_seq_len " + seqLen);
        }
        BuildConfig build = BuildConfig.builder(seqLen).maxInputLen(spec.maxInputLen() != null ? spec.maxInputLen() : seqLen)
                .maxBatchSize(spec.maxBatchSize()).maxNumTokens(spec.maxNumTokens())
                .dtype(spec.dtype()).quantization(spec.quantization()).build();
        EngineCache cache = EngineCache.of(spec.buildCache(), spec.cacheDir());
        Device device = Device.of(backend);
        return spec.enableBuildCache()
                ? cache.acquire(dir, build, device, parallelism, spec.skipBuildCache(), progress)
                : cache.buildUncached(dir, build, device, parallelism, progress);
    }

    private static void log(EngineSpec spec, LoadedModel model) {
        ModelRunner runner = model.runner();
        ModelConfig config = runner.config();
        LoadTimes t = model.loadTimes();
        LOG.info("Loaded {} ({}, {} layers) on {} [{}], engine {} ({}), max_seq_len {}, KV cache {} tokens, in {} ms "
                        + "(engine {} ms, tokenizer {} ms, runner {} ms, JIT warm-up {} ms)",
                spec.model(), config.modelType(), config.numLayers(), runner.backend(), runner.description(),
                model.engine().directory(), model.engine().load().kind(), model.maxSeqLen(),
                runner.kvCache().capacityTokens(), t.total().toMillis(), t.engine().toMillis(), t.tokenizer().toMillis(),
                t.runner().toMillis(), t.warmUp().toMillis());
    }

    /**
     * The tokenizer, loaded on its own thread while the model is resolved and its engine built or
     * loaded: first its native library, then (once the model directory is known) its files.
     */
    private static final class TokenizerLoad {
        private final CompletableFuture<Path> directory = new CompletableFuture<>();
        private volatile Duration duration = Duration.ZERO;
        /** The tokenizer, or null when none is to be loaded. */
        private final CompletableFuture<@Nullable Tokenizer> loaded;

        TokenizerLoad(boolean wanted) {
            loaded = !wanted ? CompletableFuture.completedFuture(null) : CompletableFuture.supplyAsync(() -> {
                long t0 = System.nanoTime();
                Tokenizer.loadNativeLibrary();
                long nativeNanos = System.nanoTime() - t0;
                Path dir = directory.join(); // not timed: resolving the model (a download, a conversion) is not the tokenizer's
                long t1 = System.nanoTime();
                Tokenizer tokenizer = Tokenizer.load(dir);
                duration = Duration.ofNanos(nativeNanos + System.nanoTime() - t1);
                return tokenizer;
            }, task -> Thread.ofPlatform().daemon().name("trtllm-tokenizer-load").start(task));
        }

        void start(Path dir) {
            directory.complete(dir);
        }

        /** Time spent loading: the native library and the files, not the wait for the directory. */
        Duration duration() {
            return duration;
        }

        /** The tokenizer (null when none is loaded); its failure rethrown as it was thrown on the loading thread. */
        @Nullable Tokenizer join() {
            try {
                return loaded.join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw e;
            }
        }

        /** The load is not wanted: the thread ends, and a tokenizer it loaded anyway is closed. */
        void abandon(Throwable cause) {
            directory.completeExceptionally(cause);
            loaded.thenAccept(t -> {
                if (t != null) {
                    t.close();
                }
            });
        }
    }
}
