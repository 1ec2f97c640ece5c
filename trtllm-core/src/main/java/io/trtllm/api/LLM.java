package io.trtllm.api;

import io.trtllm.executor.Executor;
import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationRequest;
import io.trtllm.executor.SchedulerConfig;
import io.trtllm.engine.BuildConfig;
import io.trtllm.engine.BuildProgress;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineLease;
import io.trtllm.engine.EngineLoad;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelSource;
import io.trtllm.model.hub.HubSettings;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.runtime.cuda.CudaBackend;
import io.trtllm.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The entry point: loads a model and generates text, in the shape of TensorRT-LLM's {@code LLM}.
 * Many callers share one instance: requests go to an {@link Executor} that batches them inflight.
 *
 * <pre>{@code
 * try (var llm = new LLM(LlmArgs.builder("stories15M").build())) {
 *     RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(64));
 *     CompletableFuture<RequestOutput> later = llm.generateAsync("One day", SamplingParams.greedy(64));
 *     Flow.Publisher<RequestOutput> stream = llm.generateStream("Once upon a time", SamplingParams.greedy(64));
 * }
 * }</pre>
 *
 * <p>Outputs reach callers on the instance's delivery thread: {@code onText} callbacks, a stream
 * subscriber's {@code onNext}/{@code onComplete}/{@code onError}, and the non-async stages of a
 * returned future ({@code thenApply}, {@code whenComplete}, ...) when it completes there. Keep them
 * short and never block in them (Reactive Streams rule 2.2): every request's outputs wait while one
 * runs. Hand slow work to another thread ({@code thenApplyAsync}, Reactor's {@code publishOn}).
 */
public final class LLM implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LLM.class);
    private static final int WARMUP_DECODE_STEPS = 160;
    private static final long WARMUP_BUDGET_NANOS = 1_500_000_000L;
    /** How long {@link #close()} lets requests in flight finish before aborting them. */
    public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private final Path modelDir;
    private final ModelConfig config;
    private final EngineLease engine;
    private final int maxInputLen;
    private final Tokenizer tokenizer;
    private final ModelRunner runner;
    private final Executor executor;
    /**
     * Turns the executor's events into outputs (detokenization, stop strings) and hands them to the
     * callers: one thread, which stays awake while tokens flow. A thread per event would wake a
     * carrier for each of a decode step's tokens, and those wake-ups compete with the forward pass
     * for the cores (measured: 4-5% of output tokens/s at 32 concurrent requests on 2 vCPUs).
     */
    private final ExecutorService delivery = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("trtllm-delivery-", DELIVERY_THREADS.getAndIncrement()).factory());
    /** Beam searches, which wait on their steps: a virtual thread each, never the delivery thread. */
    private final ExecutorService searches = Executors.newVirtualThreadPerTaskExecutor();
    private final int maxSeqLen;
    private final int maxQueueSize;
    private final int[] eosTokenIds;
    private final AtomicLong requestIds = new AtomicLong();
    private static final AtomicLong DELIVERY_THREADS = new AtomicLong();
    private final LoadTimes loadTimes;
    private volatile boolean closed;

    public LLM(LlmArgs args) {
        long start = System.nanoTime();
        // The tokenizer loads on its own thread while the model is resolved and its engine built or
        // loaded: first its native library, then (once the model directory is known) its files.
        CompletableFuture<Path> tokenizerDir = new CompletableFuture<>();
        CompletableFuture<TimedTokenizer> tokenizerLoad = CompletableFuture.supplyAsync(() -> {
            long t0 = System.nanoTime();
            Tokenizer.loadNativeLibrary();
            long nativeNanos = System.nanoTime() - t0;
            Path dir = tokenizerDir.join(); // not timed: resolving the model (a download, a conversion) is not the tokenizer's
            long t1 = System.nanoTime();
            Tokenizer tokenizer = Tokenizer.load(dir);
            return new TimedTokenizer(tokenizer, Duration.ofNanos(nativeNanos + System.nanoTime() - t1));
        }, task -> Thread.ofPlatform().daemon().name("trtllm-tokenizer-load").start(task));
        EngineLease lease;
        String backend;
        try {
            backend = resolveBackend(args.backend());
            ModelSource source = ModelSource.parse(args.model());
            this.modelDir = source.resolve(CacheDirectory.resolve(args.cacheDir()), HubSettings.fromEnvironment());
            // A checkpoint's tokenizer files are the ones its engine carries; a prebuilt engine is modelDir itself.
            tokenizerDir.complete(args.tokenizer() != null ? args.tokenizer() : modelDir);
            if (backend.equals("cuda") && !(source instanceof ModelSource.Engine)) {
                // Before a build that may take minutes: the engine's weight type comes from args.dtype.
                checkCudaKvType(args, CudaBackend.weightType(BuildConfig.parseDtype(args.dtype())));
            }
            lease = openEngine(source, modelDir, args, backend);
        } catch (Throwable e) {
            tokenizerDir.completeExceptionally(e); // the loader thread ends; a tokenizer it loaded is closed
            tokenizerLoad.thenAccept(t -> t.tokenizer().close());
            delivery.close();
            searches.close();
            throw e;
        }
        long engineDone = System.nanoTime();
        this.engine = lease;
        this.config = lease.config().modelConfig();
        this.maxSeqLen = args.maxSeqLen() != null ? args.maxSeqLen() : lease.config().buildConfig().maxSeqLen();
        this.maxQueueSize = args.maxQueueSize();
        int engineInputLen = lease.config().buildConfig().maxInputLen();
        this.maxInputLen = Math.min(args.maxInputLen() != null ? args.maxInputLen() : engineInputLen, maxSeqLen);
        Checkpoint weights = lease.weights();
        Tokenizer tok = null;
        ModelRunner run = null;
        try {
            if (maxSeqLen > lease.config().buildConfig().maxSeqLen()) {
                throw new IllegalArgumentException("max_seq_len " + maxSeqLen + " exceeds the engine's max_seq_len "
                        + lease.config().buildConfig().maxSeqLen() + " (" + lease.directory() + "); rebuild it with a larger one");
            }
            if (args.maxInputLen() != null && args.maxInputLen() > engineInputLen) {
                throw new IllegalArgumentException("max_input_len " + args.maxInputLen() + " exceeds the engine's max_input_len "
                        + engineInputLen + " (" + lease.directory() + "); rebuild it with a larger one");
            }
            TimedTokenizer loaded = join(tokenizerLoad);
            tok = loaded.tokenizer();
            long tokenizerDone = System.nanoTime();
            if (backend.equals("cuda")) {
                // The engine's dtype picks the weight type (auto: BF16); its kernels are used when they fit the GPU.
                DType weightType = CudaBackend.weightType(lease.config().buildConfig().dtype());
                checkCudaKvType(args, weightType);
                run = CudaBackend.open(config, weights, (available, perToken) -> kvCacheSpec(args, available, perToken),
                        weightType, lease.kernels());
            } else {
                // The CPU cache is float32 on the heap unless kv_cache_config.dtype asks for 16 bits (off the
                // heap); either way it is sized from the heap's limit.
                DType kvType = args.kvCacheConfig().dtypeOr(DType.F32);
                var kv = kvCacheSpec(args, Runtime.getRuntime().maxMemory(),
                        2L * config.numLayers() * config.kvDim() * kvType.byteSize());
                int threads = args.threads() > 0 ? args.threads() : Runtime.getRuntime().availableProcessors();
                run = new CpuModelRunner(config, weights, kv, kvType, threads);
            }
            long runnerDone = System.nanoTime();
            warmUp(run);
            long warmUpDone = System.nanoTime();
            this.loadTimes = new LoadTimes(Duration.ofNanos(engineDone - start), lease.load().kind(),
                    loaded.duration(), Duration.ofNanos(runnerDone - tokenizerDone),
                    Duration.ofNanos(warmUpDone - runnerDone), Duration.ofNanos(warmUpDone - start));
            Set<Integer> eos = new HashSet<>(config.eosTokenIds());
            eos.addAll(tok.eosTokenIds());
            this.eosTokenIds = eos.stream().mapToInt(Integer::intValue).toArray();
            var scheduler = new SchedulerConfig(args.schedulerPolicy(), args.maxBatchSize(), args.maxNumTokens(),
                    args.enableChunkedPrefill());
            this.executor = new Executor(run, new Executor.Config(scheduler, args.maxQueueSize(), maxSeqLen,
                    args.kvCacheConfig().enableBlockReuse()));
        } catch (RuntimeException | Error e) {
            // Whatever was opened is closed again: threads, the native tokenizer, the engine lease (mapped files).
            if (run != null) {
                run.close();
            }
            if (tok != null) {
                tok.close();
            } else {
                tokenizerLoad.thenAccept(t -> t.tokenizer().close()); // whenever it finishes
            }
            lease.close();
            delivery.close();
            searches.close();
            throw e;
        }
        this.runner = run;
        this.tokenizer = tok;
        LOG.info("Loaded {} ({}, {} layers) on {} [{}], engine {} ({}), max_seq_len {}, KV cache {} tokens, in {} ms "
                        + "(engine {} ms, tokenizer {} ms, runner {} ms, JIT warm-up {} ms)",
                args.model(), config.modelType(), config.numLayers(), runner.backend(), runner.description(), lease.directory(),
                lease.load().kind(), maxSeqLen, runner.kvCache().capacityTokens(), (System.nanoTime() - start) / 1_000_000,
                loadTimes.engine().toMillis(), loadTimes.tokenizer().toMillis(), loadTimes.runner().toMillis(),
                loadTimes.warmUp().toMillis());
    }

    /**
     * The engine that an {@code LLM} of {@code args} would run, without the rest of an {@code LLM}
     * (tokenizer, runner, executor): the model resolved, its engine built or loaded from the cache (or a
     * prebuilt engine opened). The caller closes the lease. {@code trtllm bench --engine-load} times this.
     */
    public static EngineLease acquireEngine(LlmArgs args) {
        String backend = resolveBackend(args.backend());
        ModelSource source = ModelSource.parse(args.model());
        Path dir = source.resolve(CacheDirectory.resolve(args.cacheDir()), HubSettings.fromEnvironment());
        return openEngine(source, dir, args, backend);
    }

    /** The CUDA backend keeps its KV cache in the weights' 16-bit type: kv_cache_config.dtype must be that or auto. */
    private static void checkCudaKvType(LlmArgs args, DType weightType) {
        DType kvType = args.kvCacheConfig().dtypeOr(weightType);
        if (kvType != weightType) {
            throw new IllegalArgumentException("kv_cache_config.dtype " + kvType + " is not supported by the CUDA "
                    + "backend with " + weightType + " weights (its KV cache is in the weights' type)");
        }
    }

    private record TimedTokenizer(Tokenizer tokenizer, Duration duration) {
    }

    /** The tokenizer loaded on its own thread; its failure rethrown as it was thrown there. */
    private static TimedTokenizer join(CompletableFuture<TimedTokenizer> load) {
        try {
            return load.join();
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

    /**
     * The engine to run: a prebuilt engine directory as it is; otherwise the engine of the checkpoint
     * for these arguments, from the engine cache (built on a miss) or, with the cache disabled, built
     * privately. max_seq_len is checked against the model before anything is built.
     */
    private static EngineLease openEngine(ModelSource source, Path dir, LlmArgs args, String backend) {
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
        int cap = Math.min(model.maxPositionEmbeddings(), LlmArgs.DEFAULT_MAX_SEQ_LEN_CAP);
        int seqLen = args.maxSeqLen() != null ? args.maxSeqLen() : cap;
        if (seqLen > model.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("max_seq_len " + seqLen + " exceeds the model's max_position_embeddings "
                    + model.maxPositionEmbeddings() + " (" + dir.resolve("config.json") + ")");
        }
        if (seqLen < 2) {
            throw new IllegalArgumentException("max_seq_len must be >= 2 (a prompt token and a generated one), got " + seqLen);
        }
        if (args.maxInputLen() != null && args.maxInputLen() > seqLen) {
            throw new IllegalArgumentException("max_input_len " + args.maxInputLen() + " exceeds max_seq_len " + seqLen);
        }
        BuildConfig build = BuildConfig.builder(seqLen).maxInputLen(args.maxInputLen() != null ? args.maxInputLen() : seqLen)
                .maxBatchSize(args.maxBatchSize()).maxNumTokens(args.maxNumTokens())
                .dtype(BuildConfig.parseDtype(args.dtype())).quantization(args.quantization()).build();
        EngineCache cache = EngineCache.of(args.buildCacheConfig(), args.cacheDir());
        Device device = Device.of(backend);
        return args.enableBuildCache()
                ? cache.acquire(dir, build, device, args.skipBuildCache(), BuildProgress.NONE)
                : cache.buildUncached(dir, build, device, BuildProgress.NONE);
    }

    /**
     * The backend for {@code requested}: {@code cpu}; {@code cuda}, failing when no usable CUDA device is
     * present; {@code auto}: CUDA when a device is usable, else the CPU (saying why in one log line).
     */
    private static String resolveBackend(String requested) {
        if (requested.equals("cpu")) {
            return "cpu";
        }
        String reason = CudaBackend.unavailableReason();
        if (reason == null) {
            return "cuda";
        }
        if (requested.equals("cuda")) {
            throw new IllegalStateException("backend 'cuda' needs a usable CUDA device: " + reason);
        }
        LOG.info("backend auto: using the CPU, CUDA is not usable ({})", reason);
        return "cpu";
    }

    /**
     * The cache's token slots: {@code max_tokens} when given, else what {@code memory_fraction} of
     * {@code availableBytes} (the heap on the CPU, free device memory on CUDA) holds, at least one
     * max_seq_len sequence and at most max_batch_size of them.
     */
    private KvCacheSpec kvCacheSpec(LlmArgs args, long availableBytes, long bytesPerToken) {
        KvCacheConfig kv = args.kvCacheConfig();
        int block = kv.tokensPerBlock();
        long tokens;
        if (kv.maxTokens() != null) {
            tokens = kv.maxTokens();
            if (tokens < maxSeqLen) {
                throw new IllegalArgumentException("kv_cache_config.max_tokens " + tokens + " cannot hold one sequence of max_seq_len "
                        + maxSeqLen);
            }
        } else {
            long budget = (long) (availableBytes * kv.memoryFraction()) / bytesPerToken;
            tokens = Math.max(maxSeqLen, Math.min(budget, (long) args.maxBatchSize() * maxSeqLen));
        }
        long blocks = (tokens + block - 1) / block;
        return new KvCacheSpec((int) Math.min(blocks, Integer.MAX_VALUE), block);
    }

    /**
     * Runs a short prefill and decode steps on scratch KV blocks so that the JIT has compiled the
     * kernels before the first request: cold, the first ~100 tokens of stories15M run 4x slower.
     * Bounded by {@link #WARMUP_DECODE_STEPS} and {@link #WARMUP_BUDGET_NANOS}, so that a large
     * model (seconds per step on a CPU) does not spend minutes here.
     */
    private void warmUp(ModelRunner runner) {
        long start = System.nanoTime();
        int[] table = new int[runner.kvCache().blocksFor(maxSeqLen)];
        for (int i = 0; i < table.length; i++) {
            table[i] = i;
        }
        int prompt = Math.max(1, Math.min(16, maxSeqLen / 2));
        int[] tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) {
            tokens[i] = i % config.vocabSize();
        }
        runner.forward(Batch.of(new SequenceChunk(tokens, 0, table, SequenceChunk.LogitsMode.LAST)));
        int steps = 0;
        while (steps < WARMUP_DECODE_STEPS && prompt < maxSeqLen && System.nanoTime() - start < WARMUP_BUDGET_NANOS) {
            int position = prompt + steps % (maxSeqLen - prompt);
            runner.forward(Batch.of(new SequenceChunk(new int[] {steps % config.vocabSize()}, position, table,
                    SequenceChunk.LogitsMode.LAST)));
            steps++;
        }
        LOG.debug("Warm-up ({} prompt tokens, {} decode steps) took {} ms", prompt, steps,
                (System.nanoTime() - start) / 1_000_000);
    }

    /** The model's config.json. */
    public ModelConfig modelConfig() {
        return config;
    }

    /**
     * The model's directory: the checkpoint (for a builtin model its converted copy in the cache, for a
     * Hub id its snapshot), or the engine directory when a prebuilt engine was given.
     */
    public Path modelDirectory() {
        return modelDir;
    }

    /** The engine directory whose weights run (a cache entry, a prebuilt engine, or a private build). */
    public Path engineDirectory() {
        return engine.directory();
    }

    /** How the engine came to be loaded: built, loaded from the cache, shared in-process, or prebuilt. */
    public EngineLoad engineLoad() {
        return engine.load();
    }

    /** Where construction spent its time: engine (built or loaded), runner setup, JIT warm-up. */
    public LoadTimes loadTimes() {
        return loadTimes;
    }

    /** What the engine was built for (its limits, dtype and quantization). */
    public BuildConfig buildConfig() {
        return engine.config().buildConfig();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The backend and how it runs, for logs and benchmarks (e.g. "cpu [Vector API, 512-bit, 2 threads]"). */
    /** Bytes of GPU memory the engine holds (weights, KV cache, workspace), or -1 on the CPU backend. */
    public long deviceMemoryBytes() {
        return runner.deviceMemoryBytes();
    }

    public String backendDescription() {
        return runner.backend() + " [" + runner.description() + "]";
    }

    /** Longest prompt + output this instance accepts. */
    public int maxSeqLen() {
        return maxSeqLen;
    }

    /** The executor's state: running and waiting requests, KV blocks, last batch. */
    public Executor.Stats stats() {
        return executor.stats();
    }

    /**
     * The error that stopped the executor's loop (every request then fails and new ones are refused,
     * naming it), or null while it runs and after a normal {@link #close()}. On CUDA, a device error that
     * leaves the context unusable (an illegal memory access, say) stops it: the requests in flight fail
     * with that {@code CudaException}, and only a new process can use the GPU again. {@link #stats()}
     * then reports the loop not alive; Spring's health indicator reports DOWN with this error.
     */
    public @Nullable Throwable failure() {
        return executor.failure();
    }

    /**
     * Calls {@code listener} with the error that stops the engine (see {@link #failure()}), once: when
     * it happens (on the engine's thread, after the requests in flight have failed), or at once if it
     * already has. Never called after a normal {@link #close()}. For health reporting: Spring's
     * auto-configuration turns it into a broken liveness state.
     */
    public void onFailure(Consumer<? super Throwable> listener) {
        executor.onFailure(listener);
    }

    /** Most requests that may wait to run at once; beyond it a request is refused with a {@code QueueFullException}. */
    public int maxQueueSize() {
        return executor.config().maxQueueSize();
    }

    // ---- blocking ----

    /** Generates a completion of {@code prompt} (tokenized with special tokens, e.g. BOS). */
    public RequestOutput generate(String prompt, SamplingParams params) {
        return await(generateAsync(prompt, params));
    }

    /** Generates a completion of a prompt given as token ids. */
    public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
        return await(generateAsync(promptTokenIds, params));
    }

    /** Generates completions of several prompts, batched together; results in prompt order. */
    public List<RequestOutput> generate(List<String> prompts, SamplingParams params) {
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        try {
            for (String p : prompts) {
                futures.add(generateAsync(p, params));
            }
        } catch (RuntimeException e) {
            futures.forEach(f -> f.cancel(true));
            throw e;
        }
        List<RequestOutput> out = new ArrayList<>();
        for (var f : futures) {
            out.add(await(f));
        }
        return out;
    }

    /**
     * Generates a completion of {@code prompt}, handing each new piece of text to {@code onText} as
     * soon as it is complete (never half a UTF-8 character).
     */
    public RequestOutput generate(String prompt, SamplingParams params, Consumer<String> onText) {
        var tracker = submit(prompt, null, params, update -> {
            String diff = update.output().textDiff();
            if (!diff.isEmpty()) {
                onText.accept(diff);
            }
        });
        return await(tracker);
    }

    // ---- asynchronous ----

    /** Queues a completion of {@code prompt}; cancelling the future aborts the request. */
    public CompletableFuture<RequestOutput> generateAsync(String prompt, SamplingParams params) {
        return submit(prompt, null, params, null);
    }

    /** Queues a completion of a prompt given as token ids; cancelling the future aborts the request. */
    public CompletableFuture<RequestOutput> generateAsync(int[] promptTokenIds, SamplingParams params) {
        return submit("", promptTokenIds.clone(), params, null);
    }

    // ---- streaming ----

    /**
     * A stream of updates of one completion: each {@link RequestOutput} carries the text and token ids
     * so far and their diffs since the previous one; the last has {@code finished() == true}. The
     * request starts when a subscriber subscribes; cancelling the subscription aborts it. Items are
     * delivered as the subscriber requests them.
     */
    public Flow.Publisher<RequestOutput> generateStream(String prompt, SamplingParams params) {
        return new RequestPublisher(onUpdate -> submit(prompt, null, params, onUpdate));
    }

    /** Like {@link #generateStream(String, SamplingParams)} for a prompt given as token ids. */
    public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
        int[] ids = promptTokenIds.clone();
        return new RequestPublisher(onUpdate -> submit("", ids, params, onUpdate));
    }

    /** Aborts a request by id (finish reason {@code cancelled}); false if it is not running or queued. */
    public boolean abort(String requestId) {
        return executor.abort(requestId);
    }

    private CompletableFuture<RequestOutput> submit(String prompt, int @Nullable [] promptIds, SamplingParams params,
                                                    @Nullable Consumer<RequestOutput> onUpdate) {
        if (closed) {
            throw new IllegalStateException("LLM is closed");
        }
        checkSupported(params, onUpdate != null);
        int[] ids = promptIds != null ? promptIds : tokenizer.encode(prompt, true);
        if (params.truncatePromptTokens() != null && ids.length > params.truncatePromptTokens()) {
            ids = java.util.Arrays.copyOfRange(ids, ids.length - params.truncatePromptTokens(), ids.length);
        }
        checkArguments(ids, params);
        String requestId = Long.toString(requestIds.incrementAndGet());
        if (params.useBeamSearch()) {
            int[] promptTokens = ids;
            Set<Integer> ends = new HashSet<>();
            if (!params.ignoreEos()) {
                for (int e : eosTokenIds) {
                    ends.add(e);
                }
            }
            ends.addAll(params.stopTokenIds());
            // The search waits on its steps: it runs on a thread of its own, neither the caller's nor the
            // delivery thread (which completes the steps); cancelling the result stops it before its next
            // step and cancels the steps in flight.
            CompletableFuture<RequestOutput> result = new CompletableFuture<>();
            searches.execute(() -> {
                try {
                    result.complete(BeamSearch.run(requestId, prompt, promptTokens, params, ends,
                            (input, step) -> submit("", input, step, null),
                            tokens -> tokenizer.decode(tokens, params.skipSpecialTokens()), result::isDone));
                } catch (Throwable t) {
                    result.completeExceptionally(t);
                }
            });
            return result;
        }
        var sampling = params.toSamplingConfig(eosTokenIds, word -> tokenizer.encode(word, false));
        if (params.bestOf() == 1) {
            return submitOne(requestId, requestId, prompt, ids, params, sampling, 0, onUpdate);
        }
        // best_of samples of the same prompt, each with its own split of the seed's random stream;
        // the n with the highest cumulative log-probability are returned (all of them when n == best_of).
        List<CompletableFuture<RequestOutput>> samples = new ArrayList<>();
        try {
            for (int i = 0; i < params.bestOf(); i++) {
                samples.add(submitOne(requestId, requestId + "-" + i, prompt, ids, params, sampling, i, null));
            }
        } catch (RuntimeException e) {
            samples.forEach(f -> f.cancel(true));
            throw e;
        }
        int[] promptTokens = ids;
        CompletableFuture<RequestOutput> combined = CompletableFuture.allOf(samples.toArray(CompletableFuture[]::new))
                .thenApply(done -> rank(requestId, prompt, promptTokens, params, samples.stream().map(CompletableFuture::join).toList()));
        combined.whenComplete((r, e) -> {
            if (e != null) {
                samples.forEach(f -> f.cancel(true)); // one failed, timed out or was cancelled: stop them all
            }
        });
        return combined;
    }

    private CompletableFuture<RequestOutput> submitOne(String requestId, String sampleId, String prompt, int[] ids,
                                                       SamplingParams params, io.trtllm.sampling.SamplingConfig sampling,
                                                       int index, @Nullable Consumer<RequestOutput> onUpdate) {
        var tracker = new RequestTracker(requestId, prompt, ids, tokenizer, params, onUpdate,
                id -> executor.abort(sampleId, FinishReason.STOP), delivery);
        int promptLogprobs = params.promptLogprobs() != null && index == 0 ? params.promptLogprobs() : -1;
        executor.submit(new GenerationRequest(sampleId, ids, params.maxTokens(), sampling, index, promptLogprobs), tracker);
        // Cancelling what the caller holds aborts the request in the engine.
        CompletableFuture<RequestOutput> handle = tracker.result().whenComplete((r, e) -> { });
        handle.whenComplete((r, e) -> {
            if (e != null) {
                executor.abort(sampleId); // cancelled, timed out or failed: stop the engine's work (no-op once done)
            }
        });
        return handle;
    }

    /** The n best of the samples by cumulative log-probability (all, in sample order, when n == best_of). */
    private static RequestOutput rank(String requestId, String prompt, int[] promptIds, SamplingParams params,
                                      List<RequestOutput> samples) {
        List<CompletionOutput> outputs = new ArrayList<>(samples.stream().map(RequestOutput::output).toList());
        if (params.bestOf() > params.n()) {
            outputs.sort(java.util.Comparator.comparingDouble(
                    (CompletionOutput o) -> o.cumulativeLogprob() != null ? o.cumulativeLogprob() : Double.NEGATIVE_INFINITY)
                    .reversed());
        }
        List<CompletionOutput> best = new ArrayList<>();
        for (int i = 0; i < params.n(); i++) {
            CompletionOutput o = outputs.get(i);
            best.add(new CompletionOutput(i, o.text(), o.tokenIds(), params.logprobs() != null ? o.cumulativeLogprob() : null,
                    o.logprobs(), o.finishReason(), o.stopReason(), o.textDiff(), o.tokenIdsDiff()));
        }
        RequestMetrics first = samples.getFirst().metrics();
        int generated = samples.stream().mapToInt(r -> r.metrics().generatedTokens()).sum();
        long finish = samples.stream().mapToLong(r -> r.metrics().finishNanos()).max().orElse(0);
        var metrics = new RequestMetrics(first.promptTokens(), generated, first.cachedPromptTokens(), first.arrivalNanos(),
                first.firstTokenNanos(), finish);
        return new RequestOutput(requestId, prompt, promptIds, best, true, metrics, samples.getFirst().promptLogprobs());
    }

    /** Refuses what this version does not do yet, rather than doing something else silently. */
    private static void checkSupported(SamplingParams params, boolean streaming) {
        if (streaming && params.useBeamSearch()) {
            throw new IllegalArgumentException("streaming does not support use_beam_search; use generate or generateAsync");
        }
        if (params.useBeamSearch() && (!params.stop().isEmpty() || params.logprobs() != null || params.promptLogprobs() != null)) {
            throw new IllegalArgumentException("use_beam_search does not support stop strings, logprobs or prompt_logprobs");
        }
        if (streaming && params.bestOf() > 1) {
            throw new IllegalArgumentException("streaming supports n = best_of = 1 for now (n=" + params.n() + ", best_of="
                    + params.bestOf() + "); use generate or generateAsync");
        }
    }

    private void checkArguments(int[] promptIds, SamplingParams params) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed");
        }
        if (promptIds.length > maxInputLen) { // before the ids: a huge prompt is refused without reading it
            throw new IllegalArgumentException("prompt (" + promptIds.length + " tokens) exceeds the engine's max_input_len "
                    + maxInputLen);
        }
        for (int id : promptIds) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("prompt token id " + id + " is out of range [0, " + config.vocabSize() + ")");
            }
        }
        // Sums and products of caller-given sizes are taken as longs: each may be up to 2^31 - 1.
        long total = (long) promptIds.length + params.maxTokens();
        if (total > maxSeqLen) {
            throw new IllegalArgumentException("prompt (" + promptIds.length + " tokens) + max_tokens ("
                    + params.maxTokens() + ") = " + total + " exceeds max_seq_len " + maxSeqLen);
        }
        int vocab = config.vocabSize();
        if (params.logprobs() != null && params.logprobs() > vocab) {
            throw new IllegalArgumentException("logprobs (" + params.logprobs() + ") exceeds the vocabulary size " + vocab);
        }
        if (params.promptLogprobs() != null && params.promptLogprobs() > vocab) {
            throw new IllegalArgumentException("prompt_logprobs (" + params.promptLogprobs() + ") exceeds the vocabulary size "
                    + vocab);
        }
        // best_of samples (or beams) wait in the queue together: more than it holds could never all be admitted.
        if (params.bestOf() > maxQueueSize) {
            throw new IllegalArgumentException((params.useBeamSearch() ? "the beam width" : "best_of") + " ("
                    + params.bestOf() + ") exceeds max_queue_size " + maxQueueSize);
        }
        // Each beam-search step asks for the 2 × width most likely tokens.
        if (params.useBeamSearch() && 2L * params.bestOf() > vocab) {
            throw new IllegalArgumentException("the beam width (" + params.bestOf() + ") needs 2 × " + params.bestOf()
                    + " candidate tokens per step, more than the vocabulary size " + vocab);
        }
    }

    private static RequestOutput await(CompletableFuture<RequestOutput> future) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted while waiting for generation");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new CompletionException(cause);
        }
    }

    /**
     * Stops admitting requests, lets those in flight finish for up to {@link #CLOSE_TIMEOUT} (then
     * aborts them), and releases the threads, the native tokenizer and the mapped weights.
     */
    @Override
    public void close() {
        close(CLOSE_TIMEOUT);
    }

    /** {@link #close()} with another grace period for requests in flight. */
    public synchronized void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        executor.close(timeout);
        searches.close(); // their steps have ended: finished, or failed by the executor's close
        delivery.close(); // waits for the last outputs to be delivered
        runner.close();
        tokenizer.close();
        engine.close(); // the last LLM on this engine unmaps its weights
    }
}
