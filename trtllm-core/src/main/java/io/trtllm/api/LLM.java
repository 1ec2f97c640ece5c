package io.trtllm.api;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.api.config.LoadTimes;
import io.trtllm.engine.EngineExport;
import io.trtllm.engine.EngineLease;
import io.trtllm.engine.EngineLoader;
import io.trtllm.engine.LoadedModel;
import io.trtllm.executor.Executor;
import io.trtllm.model.ModelConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
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
    private final LlmEngine engine;
    private final LoadedModel model;
    private final Executor executor;

    /**
     * Loads the model of {@code args} (its engine built or taken from the engine cache, its runner warmed
     * up) and starts the executor over it.
     *
     * @throws IllegalArgumentException when an argument does not fit the model or its engine (naming both)
     * @throws IllegalStateException    when {@code backend cuda} is asked for and no usable GPU is present
     */
    public LLM(LlmArgs args) {
        this.engine = new LlmEngine(args);
        this.model = engine.model;
        this.executor = engine.executor;
    }

    /** {@code new LLM(LlmArgs.builder(model).build())}: a builtin name, a model or engine directory, or a Hub id. */
    public LLM(String model) {
        this(LlmArgs.builder(model).build());
    }

    /** The arguments of an {@code LLM} of {@code model}; {@link LlmArgs.Builder#load()} loads it. */
    public static LlmArgs.Builder builder(String model) {
        return LlmArgs.builder(model);
    }

    /**
     * The engine that an {@code LLM} of {@code args} would run, without the rest of an {@code LLM}
     * (tokenizer, runner, executor): the model resolved, its engine built or loaded from the cache (or a
     * prebuilt engine opened). The caller closes the lease. {@code trtllm bench --engine-load} times this.
     */
    public static EngineLease acquireEngine(LlmArgs args) {
        return EngineLoader.acquire(LlmEngine.engineSpec(args));
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

    /** Where construction spent its time: engine (built or loaded), runner setup, JIT warm-up, request warm-up. */
    public LoadTimes loadTimes() {
        return engine.loadTimes();
    }

    /** What the engine was built for (its limits, dtype and quantization). */
    public BuildConfig buildConfig() {
        return model.engine().config().buildConfig();
    }

    /**
     * The tokenizer: the model's (closed with this {@code LLM}; closing it otherwise does nothing) or the one
     * given in {@link LlmArgs#tokenizerObject()}.
     *
     * @throws IllegalStateException with {@link LlmArgs#skipTokenizerInit()}: there is none
     */
    public Tokenizer tokenizer() {
        return engine.tokenizer();
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

    /** The engine's state now: running and waiting requests, KV blocks, last batch. */
    public EngineStats stats() {
        return StatsHistory.of(executor.stats());
    }

    /**
     * The stats of each iteration that ran a forward pass since the previous call, oldest first (TensorRT-LLM's
     * {@code get_stats}): at most the last 1024 are kept between calls.
     */
    public List<EngineStats> iterationStats() {
        return engine.history.drain();
    }

    /**
     * The KV cache's events since the previous call, oldest first (TensorRT-LLM's {@code get_kv_cache_events}):
     * blocks registered for prefix reuse and blocks evicted, with their chained hashes
     * ({@link io.trtllm.api.config.KvCacheEvent}). At most {@code kv_cache_config.event_buffer_max_size} are kept
     * between calls; older ones are dropped (their ids leave a gap).
     *
     * @throws IllegalStateException when events are off ({@code KvCacheConfig.eventBufferMaxSize} 0, the default)
     */
    public List<io.trtllm.api.config.KvCacheEvent> kvCacheEvents() {
        return executor.drainKvCacheEvents();
    }

    /**
     * Calls {@code listener} with each iteration's stats as it ends, on the engine's thread: keep it short
     * (every request waits while it runs). What it throws is logged and ignored.
     */
    public void onIterationStats(Consumer<? super EngineStats> listener) {
        engine.history.addListener(listener);
    }

    /** Stops calling a listener given to {@link #onIterationStats}; nothing happens if it is not there. */
    public void removeIterationStatsListener(Consumer<? super EngineStats> listener) {
        engine.history.removeListener(listener);
    }

    /**
     * Tells {@code listener} how each request ends from now on, whichever way it came in (this API, a Spring
     * {@code ChatModel} built on this instance, the OpenAI API): metrics attach here, so that they count every
     * request once. See {@link RequestListener} for the threads it is called on.
     */
    public void addRequestListener(RequestListener listener) {
        engine.addListener(listener);
    }

    /** Stops telling a listener given to {@link #addRequestListener}; nothing happens if it is not there. */
    public void removeRequestListener(RequestListener listener) {
        engine.removeListener(listener);
    }

    /**
     * Writes the engine directory to {@code dir} (TensorRT-LLM's {@code save}) so that it loads later as a
     * prebuilt engine: {@code new LLM(dir.toString())}. {@code dir} must not exist or be empty.
     *
     * @throws IllegalArgumentException when {@code dir} holds something
     */
    public void save(Path dir) {
        EngineExport.save(engineDirectory(), dir);
    }

    /**
     * Each rank's passes, last pass time, device memory and failure when the model is split over ranks
     * ({@code tensor_parallel_size} or {@code pipeline_parallel_size} above 1), in rank order; empty for one rank.
     */
    public List<RankStats> rankStats() {
        return engine.rankStats();
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

    /** Generates a completion of {@code prompt} with TensorRT-LLM's default {@link SamplingParams#defaults()}. */
    public RequestOutput generate(String prompt) {
        return generate(prompt, SamplingParams.defaults());
    }

    /** Generates a completion of {@code prompt} (tokenized with special tokens, e.g. BOS). */
    public RequestOutput generate(String prompt, SamplingParams params) {
        return LlmEngine.await(generateAsync(prompt, params));
    }

    /** Generates a completion of a prompt given as token ids. */
    public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
        return LlmEngine.await(generateAsync(promptTokenIds, params));
    }

    /** Generates completions of several prompts with {@link SamplingParams#defaults()}; results in prompt order. */
    public List<RequestOutput> generate(List<String> prompts) {
        return generate(prompts, SamplingParams.defaults());
    }

    /** Generates completions of several prompts, batched together; results in prompt order. */
    public List<RequestOutput> generate(List<String> prompts, SamplingParams params) {
        return LlmEngine.await(generateAsync(prompts, params));
    }

    /**
     * Generates completions of several prompts, each with its own parameters (TensorRT-LLM's list of
     * {@code sampling_params}), batched together; results in prompt order.
     */
    public List<RequestOutput> generate(List<String> prompts, List<SamplingParams> params) {
        if (params.size() != prompts.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + params.size() + " sampling params");
        }
        return LlmEngine.await(LlmEngine.all(prompts.size(), i -> generateAsync(prompts.get(i), params.get(i))));
    }

    /**
     * Generates a completion of {@code prompt}, handing each new piece of text to {@code onText} as
     * soon as it is complete (never half a UTF-8 character).
     */
    public RequestOutput generate(String prompt, SamplingParams params, Consumer<String> onText) {
        var tracker = engine.submit(prompt, null, params, update -> {
            String diff = update.output().textDiff();
            if (!diff.isEmpty()) {
                onText.accept(diff);
            }
        });
        return LlmEngine.await(tracker);
    }

    // ---- asynchronous ----

    /** Queues a completion of {@code prompt} with {@link SamplingParams#defaults()}. */
    public CompletableFuture<RequestOutput> generateAsync(String prompt) {
        return generateAsync(prompt, SamplingParams.defaults());
    }

    /** Queues a completion of {@code prompt}; cancelling the future aborts the request. */
    public CompletableFuture<RequestOutput> generateAsync(String prompt, SamplingParams params) {
        return engine.submit(prompt, null, params, null);
    }

    /** Queues a completion of a prompt given as token ids; cancelling the future aborts the request. */
    public CompletableFuture<RequestOutput> generateAsync(int[] promptTokenIds, SamplingParams params) {
        return engine.submit("", promptTokenIds.clone(), params, null);
    }

    /**
     * Queues completions of several prompts, batched together; the future completes with all of them in
     * prompt order, or fails with the first failure. Cancelling it aborts them all. A prompt refused
     * before queueing throws here, and the ones already queued are aborted.
     */
    public CompletableFuture<List<RequestOutput>> generateAsync(List<String> prompts, SamplingParams params) {
        return LlmEngine.all(prompts.size(), i -> generateAsync(prompts.get(i), params));
    }

    // ---- streaming ----

    /**
     * A stream of updates of one completion: each {@link RequestOutput} carries the text and token ids
     * so far and their diffs since the previous one; the last has {@code finished() == true}. Read it as a
     * {@link Flow.Publisher} (the request starts when a subscriber subscribes; cancelling the subscription
     * aborts it; items are delivered as requested) or iterate it: {@code for (RequestOutput o : stream)}.
     */
    public RequestStream generateStream(String prompt, SamplingParams params) {
        return new RequestStream(onUpdate -> engine.submit(prompt, null, params, onUpdate));
    }

    /** {@link #generateStream(String, SamplingParams)} with {@link SamplingParams#defaults()}. */
    public RequestStream generateStream(String prompt) {
        return generateStream(prompt, SamplingParams.defaults());
    }

    /** Like {@link #generateStream(String, SamplingParams)} for a prompt given as token ids. */
    public RequestStream generateStream(int[] promptTokenIds, SamplingParams params) {
        int[] ids = promptTokenIds.clone();
        return new RequestStream(onUpdate -> engine.submit("", ids, params, onUpdate));
    }

    /** Aborts a request by id (finish reason {@code cancelled}); false if it is not running or queued. */
    public boolean abort(String requestId) {
        return executor.abort(requestId);
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
    public void close(Duration timeout) {
        engine.close(timeout);
    }
}
