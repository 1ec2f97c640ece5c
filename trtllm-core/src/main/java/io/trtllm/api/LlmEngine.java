package io.trtllm.api;

import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.InvalidSettingException;
import io.trtllm.api.config.LoadTimes;
import io.trtllm.engine.EngineLoader;
import io.trtllm.engine.EngineSpec;
import io.trtllm.engine.LoadedModel;
import io.trtllm.engine.RunnerOptions;
import io.trtllm.engine.WarmUp;
import io.trtllm.model.InvalidSplitException;
import io.trtllm.model.Parallelism;
import io.trtllm.executor.Executor;
import io.trtllm.executor.SchedulerConfig;
import io.trtllm.model.ModelConfig;
import io.trtllm.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What an {@link LLM} runs on, as nano-vllm's {@code LLMEngine} under its short {@code llm.py}: the
 * loaded model, the executor over its runner, the tokenizer (the model's, the caller's, or none with
 * {@code skip_tokenizer_init}), the delivery thread, and the one path every request takes in.
 */
final class LlmEngine implements AutoCloseable {
    private static final AtomicLong DELIVERY_THREADS = new AtomicLong();
    private static final Logger LOG = LoggerFactory.getLogger(LlmEngine.class);
    /** Prompts of the request warm-up: varied enough that each round's prompt starts on other blocks. */
    private static final String WARM_UP_TEXT = "Once upon a time, in a small town by the sea, there lived a girl named Mia "
            + "who loved to collect shells. Every morning she walked along the beach with her dog, Max, and a red bucket. "
            + "One day she found a big blue shell that sang when she held it to her ear. She ran home to show her mother, "
            + "who smiled and said that the sea had given her a gift. The next day the two of them went back together, "
            + "and the shell sang a new song about a ship, a storm and a lighthouse far away.";

    final LoadedModel model;
    final Executor executor;
    /** The tokenizer requests use, or null with skip_tokenizer_init. */
    private final @Nullable Tokenizer tokenizer;
    private final @Nullable TransformersTokenizer apiTokenizer;
    private final RequestLimits limits;
    /** The loader's times, with the request warm-up added. */
    private final LoadTimes loadTimes;
    /**
     * Turns the executor's events into outputs (detokenization, stop strings) and hands them to the
     * callers: one thread, which stays awake while tokens flow. A thread per event would wake a
     * carrier for each of a decode step's tokens, and those wake-ups compete with the forward pass
     * for the cores (measured: 4-5% of output tokens/s at 32 concurrent requests on 2 vCPUs).
     */
    private final ExecutorService delivery;
    private final SampleFanOut fanOut;
    private final AtomicLong requestIds = new AtomicLong();
    /** Each iteration's stats, for {@link LLM#iterationStats()} and its listeners. */
    final StatsHistory history = new StatsHistory();
    private final List<RequestListener> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    LlmEngine(LlmArgs args) {
        boolean loadTokenizer = args.tokenizerObject() == null && !args.skipTokenizerInit();
        LoadedModel loaded;
        try {
            loaded = EngineLoader.load(engineSpec(args), new RunnerOptions(args.kvCacheConfig(), args.threads(),
                    new Parallelism(args.tensorParallelSize(), args.pipelineParallelSize()), args.deviceIds(),
                    RunnerOptions.DEFAULT_RANK_TIMEOUT, args.runtime()),
                    args.tokenizer(), loadTokenizer);
        } catch (InvalidSplitException e) {
            // The split does not fit this model or backend: name the setting, as LlmArgs' own checks do.
            throw new InvalidSettingException(e.setting(), e.value(), e.getMessage());
        }
        this.apiTokenizer = args.tokenizerObject() != null ? args.tokenizerObject()
                : loaded.tokenizer() != null ? new TransformersTokenizer(loaded.tokenizer(), false) : null;
        this.tokenizer = apiTokenizer != null ? apiTokenizer.delegate() : null;
        ModelConfig config = loaded.engine().config().modelConfig();
        int[] eos;
        LoadTimes times = loaded.loadTimes();
        try {
            eos = eosTokenIds(config, tokenizer, loaded);
            var scheduler = new SchedulerConfig(args.schedulerPolicy(), args.maxBatchSize(), args.maxNumTokens(),
                    args.enableChunkedPrefill());
            var executorConfig = new Executor.Config(scheduler, args.maxQueueSize(), loaded.maxSeqLen(),
                    args.kvCacheConfig().enableBlockReuse(), args.kvCacheConfig().eventBufferMaxSize());
            this.limits = new RequestLimits(loaded.maxInputLen(), loaded.maxSeqLen(), config.vocabSize(), args.maxQueueSize(),
                    args.maxBeamWidth());
            this.delivery = Executors.newSingleThreadExecutor(
                    Thread.ofPlatform().daemon().name("trtllm-delivery-", DELIVERY_THREADS.getAndIncrement()).factory());
            try {
                // On CUDA only with -Dtrtllm.warmup.requests=true: the request warm-up has not run on a GPU yet.
                boolean onBackend = !"cuda".equals(loaded.runner().backend())
                        || Boolean.getBoolean(io.trtllm.api.config.RuntimeConfig.WARMUP_REQUESTS);
                if (args.runtime().warmUpRequests() && onBackend && !WarmUp.budget().isZero()) {
                    times = times.withRequests(warmUpRequests(loaded, executorConfig, eos, config.vocabSize()));
                }
                this.executor = new Executor(loaded.runner(), executorConfig);
            } catch (RuntimeException | Error e) {
                delivery.close();
                throw e;
            }
        } catch (RuntimeException | Error e) {
            loaded.close();
            throw e;
        }
        this.model = loaded;
        this.loadTimes = times;
        executor.onIteration(history::record);
        this.fanOut = new SampleFanOut(executor, tokenizer, delivery, eos, config.vocabSize());
    }

    /**
     * Runs {@link RequestWarmUp}'s rounds through a scratch executor over the runner (closed before the real one is
     * made: its blocks, prefix cache, events, counters and ids go with it) and returns the time they took. A failed
     * warm-up is logged, not thrown, unless the runner reports itself unusable: the first requests then pay for the
     * JIT as they would have without it.
     */
    private Duration warmUpRequests(LoadedModel loaded, Executor.Config config, int[] eos, int vocab) {
        long start = System.nanoTime();
        Duration budget = WarmUp.budget().compareTo(RequestWarmUp.BUDGET) < 0 ? WarmUp.budget() : RequestWarmUp.BUDGET;
        try (var scratch = new Executor(loaded.runner(), config)) {
            scratch.onIteration(new StatsHistory()::record); // as the LLM's own executor reports each step
            var scratchFanOut = new SampleFanOut(scratch, tokenizer, delivery, eos, vocab);
            RequestWarmUp.Submitter submitter = (id, text, ids, params, onUpdate) ->
                    submit(scratchFanOut, () -> id, text, ids, params, onUpdate);
            var warmUp = new RequestWarmUp(submitter, warmUpText(vocab),
                    tokenizer == null ? 0 : tokenizer.encode(RequestWarmUp.SAMPLED_TEXT, true).length, vocab, limits.maxInputLen(), loaded.maxSeqLen(),
                    config.maxQueueSize() >= 2, System::nanoTime, WarmUp.jitCompileMillis(), WarmUp.jitIdle(),
                    WarmUp.compiled(RequestWarmUp.STEP_METHODS));
            RequestWarmUp.Result r = warmUp.run(budget);
            LOG.info("Request warm-up through the executor {} after {} rounds in {} ms (each a {}-token greedy prompt and "
                    + "its decodes beside a sampled request; -D{}=false turns it off)", r.settled()
                    ? "settled (step compiled, JIT quiet)" : "stopped by its limits, the JIT still compiling", r.rounds(),
                    r.elapsed().toMillis(), r.promptTokens(), io.trtllm.api.config.RuntimeConfig.WARMUP_REQUESTS);
        } catch (RuntimeException e) {
            if (loaded.runner().failure() != null) {
                throw e;
            }
            LOG.warn("Request warm-up failed, the first requests may run slower: {}", e.toString());
        }
        return Duration.ofNanos(System.nanoTime() - start);
    }

    /** Token ids of the warm-up's prompts: an English text through the tokenizer, or none (made-up ids) without one. */
    private int[] warmUpText(int vocab) {
        if (tokenizer == null) {
            return new int[0];
        }
        int[] ids = tokenizer.encode(WARM_UP_TEXT, true);
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                return new int[0];
            }
        }
        return ids;
    }

    static EngineSpec engineSpec(LlmArgs args) {
        return new EngineSpec(args.model(), args.backend(), args.cacheDir(), args.maxSeqLen(), args.maxInputLen(),
                args.maxBatchSize(), args.maxNumTokens(), Dtype.parse(args.dtype()), args.quantization(), args.enableBuildCache(),
                args.skipBuildCache(), args.buildCacheConfig(), args.hub(), args.runtime().npm());
    }

    /**
     * End-of-sequence ids: the model config's and the tokenizer's, each once.
     *
     * @throws IllegalArgumentException when one is outside the vocabulary (it could never end a sequence)
     */
    private static int[] eosTokenIds(ModelConfig config, @Nullable Tokenizer tokenizer, LoadedModel loaded) {
        Set<Integer> eos = new HashSet<>(config.eosTokenIds());
        if (tokenizer != null) {
            eos.addAll(tokenizer.eosTokenIds());
        }
        for (int id : eos) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("eos_token_id " + id + " of " + loaded.modelDirectory().getFileName()
                        + " (config.json or tokenizer_config.json) is out of the vocabulary [0, " + config.vocabSize() + ")");
            }
        }
        return eos.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The tokenizer callers see. */
    TransformersTokenizer tokenizer() {
        if (apiTokenizer == null) {
            throw new IllegalStateException("this LLM has no tokenizer: skip_tokenizer_init is set");
        }
        return apiTokenizer;
    }

    /**
     * Checks a request, then queues it (its samples or beams) with the executor; the request listeners hear how
     * it ends (a beam search is one request: its beams run as one group in the executor).
     */
    CompletableFuture<RequestOutput> submit(String prompt, int @Nullable [] promptIds, SamplingParams params,
                                            @Nullable Consumer<RequestOutput> onUpdate) {
        return submit(fanOut, () -> Long.toString(requestIds.incrementAndGet()), prompt, promptIds, params, onUpdate);
    }

    /**
     * {@link #submit(String, int[], SamplingParams, Consumer)} to {@code to}, the request named by {@code requestId}
     * once it passed its checks: the request warm-up takes this path to its scratch executor (while the engine is
     * built, no listener can be there to hear it).
     */
    private CompletableFuture<RequestOutput> submit(SampleFanOut to, Supplier<String> requestId, String prompt,
                                                    int @Nullable [] promptIds, SamplingParams params,
                                                    @Nullable Consumer<RequestOutput> onUpdate) {
        CompletableFuture<RequestOutput> result;
        try {
            result = checkAndQueue(to, requestId, prompt, promptIds, params, onUpdate);
        } catch (QueueFullException e) {
            tell(l -> l.onRejected(e));
            throw e;
        } catch (RuntimeException e) {
            tell(l -> l.onFailed(e));
            throw e;
        }
        // On the future the caller holds: its cancel() is heard here as a cancellation.
        result.whenComplete((output, error) -> {
            if (error == null) {
                tell(l -> l.onFinished(output));
                return;
            }
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            if (cause instanceof CancellationException) {
                tell(RequestListener::onCancelled);
            } else if (cause instanceof QueueFullException full) {
                tell(l -> l.onRejected(full));
            } else {
                tell(l -> l.onFailed(cause));
            }
        });
        return result;
    }

    void addListener(RequestListener listener) {
        listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
    }

    void removeListener(RequestListener listener) {
        listeners.remove(listener);
    }

    private void tell(Consumer<RequestListener> event) {
        for (RequestListener l : listeners) {
            try {
                event.accept(l);
            } catch (RuntimeException e) {
                LOG.warn("Request listener {} failed: {}", l, e.toString());
            }
        }
    }

    /** Checks a request, then queues it (its samples or its beam group) with the executor. */
    private CompletableFuture<RequestOutput> checkAndQueue(SampleFanOut to, Supplier<String> requestId, String prompt,
                                                           int @Nullable [] promptIds, SamplingParams params,
                                                           @Nullable Consumer<RequestOutput> onUpdate) {
        if (closed) {
            throw new IllegalStateException("LLM is closed");
        }
        RequestLimits.checkSupported(params, onUpdate != null);
        int[] ids;
        if (tokenizer == null) {
            RequestLimits.checkWithoutTokenizer(promptIds, params);
            ids = promptIds;
        } else {
            ids = promptIds != null ? promptIds : tokenizer.encode(prompt, true);
        }
        if (params.truncatePromptTokens() != null && ids.length > params.truncatePromptTokens()) {
            ids = Arrays.copyOfRange(ids, ids.length - params.truncatePromptTokens(), ids.length);
        }
        limits.check(ids, params);
        return to.submit(requestId.get(), prompt, ids, params, onUpdate);
    }

    /** Where construction spent its time, the request warm-up included. */
    LoadTimes loadTimes() {
        return loadTimes;
    }

    /**
     * Submits {@code count} requests; the result completes with all outputs in order. A submission that throws
     * cancels those before it; a failure or cancellation of the result cancels them all.
     */
    static CompletableFuture<java.util.List<RequestOutput>> all(int count,
                                                                java.util.function.IntFunction<CompletableFuture<RequestOutput>> submit) {
        java.util.List<CompletableFuture<RequestOutput>> futures = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                futures.add(submit.apply(i));
            }
        } catch (RuntimeException e) {
            futures.forEach(f -> f.cancel(true));
            throw e;
        }
        CompletableFuture<java.util.List<RequestOutput>> all = CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
                .thenApply(done -> futures.stream().map(CompletableFuture::join).toList());
        all.whenComplete((r, e) -> {
            if (e != null) {
                futures.forEach(f -> f.cancel(true)); // cancelled or one failed: stop the rest
            }
        });
        return all;
    }

    /** Each rank's stats when the model is split over ranks, in rank order; empty for one rank. */
    List<RankStats> rankStats() {
        if (!(model.runner() instanceof io.trtllm.runtime.RankGroupRunner ranks)) {
            return List.of();
        }
        return ranks.ranks().stream().map(r -> new RankStats(r.rank(), r.shard(), r.passes(), r.lastPassNanos(),
                r.deviceMemoryBytes(), r.failure())).toList();
    }

    /** Waits for {@code future}: its value, or its failure rethrown as it was (an interrupt cancels it). */
    static <T> T await(CompletableFuture<T> future) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new java.util.concurrent.CancellationException("interrupted while waiting for generation");
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new java.util.concurrent.CompletionException(cause);
        }
    }

    boolean isClosed() {
        return closed;
    }

    /** See {@link LLM#close(Duration)}. */
    synchronized void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        executor.close(timeout);
        delivery.close(); // waits for the last outputs to be delivered
        model.close(); // runner, tokenizer, engine lease: the last LLM on an engine unmaps its weights
    }

    @Override
    public void close() {
        close(LLM.CLOSE_TIMEOUT);
    }
}
