package io.trtllm.api;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.api.config.LoadTimes;
import io.trtllm.engine.EngineLease;
import io.trtllm.engine.EngineLoader;
import io.trtllm.engine.EngineSpec;
import io.trtllm.engine.LoadedModel;
import io.trtllm.engine.RunnerOptions;
import io.trtllm.executor.Executor;
import io.trtllm.executor.KvCacheManager;
import io.trtllm.executor.SchedulerConfig;
import io.trtllm.model.ModelConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
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

/**
 * The entry point: loads a model and generates text, in the shape of TensorRT-LLM's {@code LLM}.
 * Many callers share one instance: requests go to an executor that batches them inflight.
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
    /** How long {@link #close()} lets requests in flight finish before aborting them. */
    public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
    private static final AtomicLong DELIVERY_THREADS = new AtomicLong();

    private final LoadedModel model;
    private final Executor executor;
    private final TransformersTokenizer tokenizer;
    private final RequestLimits limits;
    /**
     * Turns the executor's events into outputs (detokenization, stop strings) and hands them to the
     * callers: one thread, which stays awake while tokens flow. A thread per event would wake a
     * carrier for each of a decode step's tokens, and those wake-ups compete with the forward pass
     * for the cores (measured: 4-5% of output tokens/s at 32 concurrent requests on 2 vCPUs).
     */
    private final ExecutorService delivery;
    private final SampleFanOut fanOut;
    private final AtomicLong requestIds = new AtomicLong();
    private volatile boolean closed;

    /**
     * Loads the model of {@code args} (its engine built or taken from the engine cache, its runner warmed
     * up) and starts the executor over it.
     *
     * @throws IllegalArgumentException when an argument does not fit the model or its engine (naming both)
     * @throws IllegalStateException    when {@code backend cuda} is asked for and no usable GPU is present
     */
    public LLM(LlmArgs args) {
        LoadedModel loaded = EngineLoader.load(engineSpec(args), new RunnerOptions(args.kvCacheConfig(), args.threads()),
                args.tokenizer());
        try {
            var scheduler = new SchedulerConfig(args.schedulerPolicy(), args.maxBatchSize(), args.maxNumTokens(),
                    args.enableChunkedPrefill());
            this.executor = new Executor(loaded.runner(), new Executor.Config(scheduler, args.maxQueueSize(),
                    loaded.maxSeqLen(), args.kvCacheConfig().enableBlockReuse()));
        } catch (RuntimeException | Error e) {
            loaded.close();
            throw e;
        }
        this.model = loaded;
        this.tokenizer = new TransformersTokenizer(loaded.tokenizer(), false);
        ModelConfig config = loaded.engine().config().modelConfig();
        this.limits = new RequestLimits(loaded.maxInputLen(), loaded.maxSeqLen(), config.vocabSize(), args.maxQueueSize());
        this.delivery = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().daemon().name("trtllm-delivery-", DELIVERY_THREADS.getAndIncrement()).factory());
        this.fanOut = new SampleFanOut(executor, loaded.tokenizer(), delivery, eosTokenIds(config, loaded),
                config.vocabSize(), (input, step, guide) -> submit("", input, step, null, guide));
    }

    /**
     * The engine that an {@code LLM} of {@code args} would run, without the rest of an {@code LLM}
     * (tokenizer, runner, executor): the model resolved, its engine built or loaded from the cache (or a
     * prebuilt engine opened). The caller closes the lease. {@code trtllm bench --engine-load} times this.
     */
    public static EngineLease acquireEngine(LlmArgs args) {
        return EngineLoader.acquire(engineSpec(args));
    }

    private static EngineSpec engineSpec(LlmArgs args) {
        return new EngineSpec(args.model(), args.backend(), args.cacheDir(), args.maxSeqLen(), args.maxInputLen(),
                args.maxBatchSize(), args.maxNumTokens(), Dtype.parse(args.dtype()), args.quantization(), args.enableBuildCache(),
                args.skipBuildCache(), args.buildCacheConfig());
    }

    /** End-of-sequence ids: the model config's and the tokenizer's, each once. */
    private static int[] eosTokenIds(ModelConfig config, LoadedModel loaded) {
        Set<Integer> eos = new HashSet<>(config.eosTokenIds());
        eos.addAll(loaded.tokenizer().eosTokenIds());
        return eos.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The model's config.json. */
    public ModelConfig modelConfig() {
        return model.engine().config().modelConfig();
    }

    /**
     * The model's directory: the checkpoint (for a builtin model its converted copy in the cache, for a
     * Hub id its snapshot), or the engine directory when a prebuilt engine was given.
     */
    public Path modelDirectory() {
        return model.modelDirectory();
    }

    /** The engine directory whose weights run (a cache entry, a prebuilt engine, or a private build). */
    public Path engineDirectory() {
        return model.engine().directory();
    }

    /** How the engine came to be loaded: built, loaded from the cache, shared in-process, or prebuilt. */
    public EngineLoad engineLoad() {
        return model.engine().load();
    }

    /** Where construction spent its time: engine (built or loaded), runner setup, JIT warm-up. */
    public LoadTimes loadTimes() {
        return model.loadTimes();
    }

    /** What the engine was built for (its limits, dtype and quantization). */
    public BuildConfig buildConfig() {
        return model.engine().config().buildConfig();
    }

    /** The model's tokenizer (closed with this {@code LLM}; closing it otherwise does nothing). */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** Bytes of GPU memory the engine holds (weights, KV cache, workspace), or -1 on the CPU backend. */
    public long deviceMemoryBytes() {
        return model.runner().deviceMemoryBytes();
    }

    /** The backend and how it runs, for logs and benchmarks (e.g. "cpu [Vector API, 512-bit, 2 threads]"). */
    public String backendDescription() {
        return model.runner().backend() + " [" + model.runner().description() + "]";
    }

    /** Longest prompt + output this instance accepts. */
    public int maxSeqLen() {
        return model.maxSeqLen();
    }

    /** The engine's state: running and waiting requests, KV blocks, last batch. */
    public EngineStats stats() {
        Executor.Stats s = executor.stats();
        KvCacheManager.Stats kv = s.kvCache();
        return new EngineStats(s.alive(), s.running(), s.waiting(), new EngineStats.KvCache(kv.numBlocks(),
                kv.usedBlocks(), kv.freeBlocks(), kv.cachedBlocks(), kv.reuseHitBlocks(), kv.reuseHitTokens()),
                s.iterations(), s.lastBatchSize(), s.lastBatchTokens());
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

    /** Most requests that may wait to run at once; beyond it a request is refused with a {@link QueueFullException}. */
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
        return submit(prompt, promptIds, params, onUpdate, null);
    }

    /** {@code guide}: a beam-search step's mask source (its beam's place in the guide), else null. */
    private CompletableFuture<RequestOutput> submit(String prompt, int @Nullable [] promptIds, SamplingParams params,
                                                    @Nullable Consumer<RequestOutput> onUpdate,
                                                    io.trtllm.sampling.TokenMask.@Nullable Source guide) {
        if (closed) {
            throw new IllegalStateException("LLM is closed");
        }
        RequestLimits.checkSupported(params, onUpdate != null);
        int[] ids = promptIds != null ? promptIds : tokenizer.encode(prompt, true);
        if (params.truncatePromptTokens() != null && ids.length > params.truncatePromptTokens()) {
            ids = Arrays.copyOfRange(ids, ids.length - params.truncatePromptTokens(), ids.length);
        }
        limits.check(ids, params);
        return fanOut.submit(Long.toString(requestIds.incrementAndGet()), prompt, ids, params, onUpdate, guide);
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
        fanOut.close(); // beam searches: their steps have ended, finished or failed by the executor's close
        delivery.close(); // waits for the last outputs to be delivered
        model.close(); // runner, tokenizer, engine lease: the last LLM on an engine unmaps its weights
    }
}
