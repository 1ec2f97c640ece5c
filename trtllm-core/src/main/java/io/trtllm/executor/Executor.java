package io.trtllm.executor;

import io.trtllm.runtime.ModelRunner;
import io.trtllm.sampling.Sampler;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One engine's request loop with inflight batching: every iteration takes new requests and aborts, then
 * makes one {@link Step} of three calls (vLLM v1's {@code EngineCore.step}, nano-vllm's {@code LLMEngine.step}):
 *
 * <pre>
 * scheduled = scheduler.schedule();   which sequences run, how many tokens each, where their KV goes
 * result = forward(pass(scheduled));  one pass of the runner: per chunk a token id or logits rows
 * postprocess(pass, result);          commit, prompt logprobs, next tokens (sampled here from logits rows),
 *                                     finish checks, each request's {@link GenerationListener}
 * </pre>
 *
 * <p>What the runner computes for a sequence is the sampler's call ({@link Sampler#need}): the token alone
 * where the runner can choose it, the row where the host must; the executor only maps it to the runner's
 * {@link io.trtllm.runtime.SequenceChunk.LogitsMode}.
 *
 * <p>One request cannot stop the loop: whatever one sequence's step throws (admission, KV bookkeeping,
 * sampling, finish checks, its listener) fails that request alone, with its blocks freed, and the
 * iteration goes on for the others. A forward pass that throws fails the requests in it. Only a runner
 * that reports itself unusable ({@link ModelRunner#failure()}), an error of the JVM itself (out of
 * memory, stack overflow) or a break of the loop's own invariants stops it, failing every request.
 *
 * <p>Thread-safe: {@link #submit}, {@link #abort} and {@link #close} may be called from any thread.
 */
public final class Executor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Executor.class);
    private static final long IDLE_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /**
     * @param scheduler        batching limits and capacity policy
     * @param maxQueueSize     most requests waiting to run; more are rejected at once
     * @param maxSeqLen        longest prompt + output
     * @param enableBlockReuse whether full KV blocks are shared between requests with a common prefix
     * @param kvCacheEventBufferMaxSize most KV cache events held between drains ({@link #drainKvCacheEvents}); 0: none
     */
    public record Config(SchedulerConfig scheduler, int maxQueueSize, int maxSeqLen, boolean enableBlockReuse,
                         int kvCacheEventBufferMaxSize) {
        /** Without KV cache events. */
        public Config(SchedulerConfig scheduler, int maxQueueSize, int maxSeqLen, boolean enableBlockReuse) {
            this(scheduler, maxQueueSize, maxSeqLen, enableBlockReuse, 0);
        }

        public Config {
            if (kvCacheEventBufferMaxSize < 0) {
                throw new IllegalArgumentException("kv_cache_config.event_buffer_max_size must be >= 0, got "
                        + kvCacheEventBufferMaxSize);
            }
            if (maxQueueSize <= 0) {
                throw new IllegalArgumentException("max_queue_size must be > 0, got " + maxQueueSize);
            }
            if (maxSeqLen <= 1) {
                throw new IllegalArgumentException("max_seq_len must be > 1, got " + maxSeqLen);
            }
            if (!scheduler.enableChunkedPrefill() && scheduler.maxNumTokens() < maxSeqLen) {
                // Without chunking a whole prompt (or a preempted sequence's recompute) must fit one pass,
                // or it would wait at the head of the queue forever.
                throw new IllegalArgumentException("with chunked prefill off, max_num_tokens (" + scheduler.maxNumTokens()
                        + ") must be >= max_seq_len (" + maxSeqLen + ")");
            }
        }
    }

    /**
     * A snapshot of the loop.
     *
     * @param alive          whether the loop runs (false after close or a fatal error)
     * @param running        sequences admitted
     * @param waiting        requests queued (not yet admitted)
     * @param kvCache        block accounting
     * @param iterations     forward passes so far
     * @param lastBatchSize  sequences in the last pass
     * @param lastBatchTokens tokens in the last pass
     * @param preemptions    sequences preempted so far (their KV dropped, to be recomputed)
     * @param promptTokens   prompt tokens of the sequences that produced a first token so far
     * @param generatedTokens tokens generated so far
     */
    public record Stats(boolean alive, int running, int waiting, KvCacheManager.Stats kvCache, long iterations,
                        int lastBatchSize, int lastBatchTokens, long preemptions, long promptTokens,
                        long generatedTokens) {
    }

    private final KvCacheManager kv;
    private final @Nullable KvCacheEvents kvEvents;
    private final Scheduler scheduler;
    private final Requests requests;
    private final Step step;
    private final Config config;
    private final int vocab;
    /** Orders submissions against the loop's decision to stop, so no request is left behind. */
    private final Object lifecycle = new Object();
    private final Thread loop;
    private volatile boolean accepting = true;
    private volatile long drainDeadlineNanos = Long.MAX_VALUE;
    private volatile boolean stopped;
    private volatile @Nullable Throwable fatal;
    /** Completed with {@link #fatal} once the loop has stopped with it; never on a normal close. */
    private final CompletableFuture<Throwable> failed = new CompletableFuture<>();
    private volatile Stats stats;
    /** Told each iteration's stats after its pass (on the loop thread). */
    private volatile java.util.function.Consumer<Stats> iterationListener = s -> { };

    public Executor(ModelRunner runner, Config config) {
        this(runner, config, StepHook.NONE);
    }

    /** With a hook before each sequence's steps: tests inject failures into one sequence's bookkeeping. */
    Executor(ModelRunner runner, Config config, StepHook hook) {
        this.config = config;
        this.vocab = runner.config().vocabSize();
        var spec = runner.kvCache();
        this.kv = new KvCacheManager(spec.numBlocks(), spec.blockSize(), config.enableBlockReuse());
        this.kvEvents = config.kvCacheEventBufferMaxSize() > 0 ? new KvCacheEvents(config.kvCacheEventBufferMaxSize()) : null;
        if (kvEvents != null) {
            kv.events(kvEvents); // before the loop starts: its thread sees the buffer
        }
        if (spec.blocksFor(config.maxSeqLen()) > spec.numBlocks()) {
            throw new IllegalArgumentException("the KV cache (" + spec.capacityTokens() + " tokens) cannot hold one sequence of "
                    + "max_seq_len " + config.maxSeqLen());
        }
        this.scheduler = new Scheduler(config.scheduler(), kv, hook);
        this.requests = new Requests(scheduler, config.maxQueueSize());
        this.step = new Step(runner, kv, scheduler, requests, config.maxSeqLen());
        this.stats = snapshot(0, 0);
        this.loop = Thread.ofPlatform().name("trtllm-executor").daemon().unstarted(this::runLoop);
        loop.start();
        // The snapshot above was taken before the loop ran (alive=false); until the loop's first turn
        // replaces it, report it alive (no request can have come in yet, so nothing else differs).
        this.stats = snapshot(0, 0);
    }

    /**
     * Queues a request; tokens and the end come to {@code listener}.
     *
     * @throws QueueFullException       when {@code max_queue_size} requests are waiting
     * @throws IllegalArgumentException for a prompt + max_tokens beyond max_seq_len, more logprobs or prompt
     *                                  logprobs than the vocabulary has tokens, or a duplicate id
     * @throws IllegalStateException    after {@link #close} or a fatal error
     */
    public void submit(GenerationRequest request, GenerationListener listener) {
        synchronized (lifecycle) {
            submitLocked(request, listener);
        }
        LockSupport.unpark(loop);
    }

    /**
     * Queues a beam search of {@code request}'s prompt: {@code beams.width()} beams run as one sequence group
     * (see {@link BeamGroup}); the listener gets {@link GenerationListener#onBeams} and then its finish.
     *
     * @throws IllegalArgumentException as {@link #submit(GenerationRequest, GenerationListener)}, and for a width
     *                                  above max_batch_size or whose beams at full length the KV cache could
     *                                  not hold together (the search could never finish)
     */
    public void submit(GenerationRequest request, BeamSearchConfig beams, GenerationListener listener) {
        int width = beams.width();
        if (width > config.scheduler().maxBatchSize()) {
            throw new IllegalArgumentException("request " + request.requestId() + ": the beam width (" + width
                    + ") exceeds max_batch_size " + config.scheduler().maxBatchSize());
        }
        long length = (long) request.promptTokenIds().length + request.maxTokens();
        long blocks = (long) width * Math.ceilDiv(Math.min(length, config.maxSeqLen()), kv.blockSize());
        if (blocks > kv.numBlocks()) {
            throw new IllegalArgumentException("request " + request.requestId() + ": " + width + " beams of up to "
                    + length + " positions need " + blocks + " KV blocks; the cache has " + kv.numBlocks());
        }
        synchronized (lifecycle) {
            submitLocked(request, beams, listener);
        }
        LockSupport.unpark(loop);
    }

    private void submitLocked(GenerationRequest request, GenerationListener listener) {
        submitLocked(request, null, listener);
    }

    private void submitLocked(GenerationRequest request, @Nullable BeamSearchConfig beams, GenerationListener listener) {
        Throwable error = fatal;
        if (!accepting || error != null) {
            throw new IllegalStateException("the executor is not accepting requests"
                    + (error != null ? " (failed: " + error + ")" : " (shut down)"), error);
        }
        request.checkFits(config.maxSeqLen(), vocab);
        requests.add(request, beams, listener);
    }

    /** Stops a request (finish reason CANCELLED) and frees its blocks; false if it is not live. */
    public boolean abort(String requestId) {
        return abort(requestId, FinishReason.CANCELLED);
    }

    /**
     * Stops a request with the given reason (e.g. {@code STOP} when the caller found a stop string
     * in its text) and frees its blocks; false if it is not live.
     */
    public boolean abort(String requestId, FinishReason reason) {
        if (!requests.abort(requestId, reason)) {
            return false;
        }
        LockSupport.unpark(loop);
        return true;
    }

    /**
     * The KV cache events since the last call, oldest first (see {@link io.trtllm.api.config.KvCacheEvent}).
     *
     * @throws IllegalStateException when the executor collects none ({@code kvCacheEventBufferMaxSize} 0)
     */
    public java.util.List<io.trtllm.api.config.KvCacheEvent> drainKvCacheEvents() {
        KvCacheEvents events = kvEvents;
        if (events == null) {
            throw new IllegalStateException("KV cache events are off; set kv_cache_config.event_buffer_max_size above 0");
        }
        return events.drain();
    }

    /** The latest snapshot (updated after every iteration). */
    public Stats stats() {
        return stats;
    }

    /**
     * Calls {@code listener} with the stats of each iteration that ran a forward pass, right after it, on
     * the loop thread: it must return quickly. What it throws is logged and ignored. Replaces the
     * previous listener.
     */
    public void onIteration(java.util.function.Consumer<Stats> listener) {
        this.iterationListener = listener;
    }

    /**
     * The error that stopped the loop, if any: a failed pass of a runner that reports itself unusable
     * ({@link ModelRunner#failure()}, e.g. a CUDA illegal memory access), or a bug. Every request then
     * failed with it, and {@link #submit} refuses new ones naming it.
     */
    public @Nullable Throwable failure() {
        return fatal;
    }

    /**
     * Calls {@code listener} with the error that stopped the loop (see {@link #failure()}), once: on the
     * loop's thread after every request in flight has failed and {@link #stats()} reports the loop not
     * alive, or at once on the caller's thread if that has already happened. Never called after a
     * normal {@link #close}. A listener that throws is logged; the others are still called.
     */
    public void onFailure(Consumer<? super Throwable> listener) {
        failed.thenAccept(error -> {
            try {
                listener.accept(error);
            } catch (RuntimeException e) {
                LOG.warn("Failure listener {} failed: {}", listener, e.toString());
            }
        });
    }

    /** The configuration this executor runs with. */
    public Config config() {
        return config;
    }

    /**
     * Stops admitting, lets requests in flight finish for up to {@code timeout}, aborts the rest,
     * and stops the loop.
     */
    public void close(Duration timeout) {
        accepting = false;
        drainDeadlineNanos = System.nanoTime() + timeout.toNanos();
        LockSupport.unpark(loop);
        boolean interrupted = false;
        while (true) {
            try {
                loop.join();
                break;
            } catch (InterruptedException e) {
                // Stop draining now, but still wait: the caller frees the runner next.
                interrupted = true;
                stopped = true;
                LockSupport.unpark(loop);
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }

    private void runLoop() {
        try {
            while (true) {
                requests.takeIncoming();
                requests.takeAborts();
                if (!accepting) {
                    synchronized (lifecycle) { // no submit can slip in between the check and the exit
                        requests.takeIncoming();
                        if (System.nanoTime() >= drainDeadlineNanos || stopped) {
                            requests.cancelAll("the executor was shut down");
                            step.drain(); // the runner is closed next: no pass may still be in flight
                            break;
                        }
                        if (!scheduler.hasWork()) {
                            step.drain();
                            break;
                        }
                    }
                }
                if (!step()) {
                    LockSupport.parkNanos(this, IDLE_PARK_NANOS);
                }
            }
        } catch (Throwable t) {
            synchronized (lifecycle) {
                fatal = t;
                accepting = false;
            }
            LOG.error("Executor loop failed; failing all requests", t);
            requests.failAll(t);
        } finally {
            accepting = false;
            stats = snapshot(0, 0);
            Throwable error = fatal;
            if (error != null) {
                failed.complete(error);
            }
        }
    }

    /** One iteration (see {@link Step}); false when nothing was scheduled. */
    private boolean step() {
        boolean ran = step.run();
        stats = snapshot(step.lastBatchSize(), step.lastBatchTokens());
        if (step.lastBatchSize() > 0) {
            try {
                iterationListener.accept(stats);
            } catch (RuntimeException e) {
                LOG.warn("Iteration stats listener failed: {}", e.toString());
            }
        }
        return ran;
    }

    private Stats snapshot(int batchSize, int batchTokens) {
        return new Stats(loop != null && loop.isAlive() && fatal == null && accepting, scheduler.runningCount(),
                requests.queued(), kv.stats(), step.iterations(), batchSize, batchTokens, scheduler.preemptions(),
                step.promptTokens(), step.generatedTokens());
    }
}
