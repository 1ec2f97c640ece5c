package io.trtllm.executor;

import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One engine's request loop with inflight batching: every iteration it takes new requests and
 * aborts, asks the {@link Scheduler} for a batch, runs it through the {@link ModelRunner} in one
 * forward pass, samples, and reports tokens to each request's {@link GenerationListener}.
 *
 * <pre>
 * chunks = scheduler.schedule();  logits = runner.forward(batch(chunks));  postprocess(chunks, logits);
 * </pre>
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
     */
    public record Config(SchedulerConfig scheduler, int maxQueueSize, int maxSeqLen, boolean enableBlockReuse) {
        public Config {
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
     */
    public record Stats(boolean alive, int running, int waiting, KvCacheManager.Stats kvCache, long iterations,
                        int lastBatchSize, int lastBatchTokens) {
    }

    private final ModelRunner runner;
    private final KvCacheManager kv;
    private final Scheduler scheduler;
    private final Config config;
    private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Abort> aborts = new ConcurrentLinkedQueue<>();
    private final Map<String, Sequence> live = new ConcurrentHashMap<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicLong sequenceIds = new AtomicLong();
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
    private long iterations;

    private final Sampler sampler = new Sampler();

    public Executor(ModelRunner runner, Config config) {
        this(runner, config, StepHook.NONE);
    }

    /** With a hook before each sequence's steps: tests inject failures into one sequence's bookkeeping. */
    Executor(ModelRunner runner, Config config, StepHook hook) {
        this.runner = runner;
        this.config = config;
        var spec = runner.kvCache();
        this.kv = new KvCacheManager(spec.numBlocks(), spec.blockSize(), config.enableBlockReuse());
        if (spec.blocksFor(config.maxSeqLen()) > spec.numBlocks()) {
            throw new IllegalArgumentException("the KV cache (" + spec.capacityTokens() + " tokens) cannot hold one sequence of "
                    + "max_seq_len " + config.maxSeqLen());
        }
        this.scheduler = new Scheduler(config.scheduler(), kv, hook);
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

    private void submitLocked(GenerationRequest request, GenerationListener listener) {
        Throwable failed = fatal;
        if (!accepting || failed != null) {
            throw new IllegalStateException("the executor is not accepting requests"
                    + (failed != null ? " (failed: " + failed + ")" : " (shut down)"), failed);
        }
        int promptLength = request.promptTokenIds().length;
        // Compared as a long: max_tokens comes from callers and may be anything up to 2^31 - 1.
        long total = (long) promptLength + request.maxTokens();
        if (total > config.maxSeqLen()) {
            throw new IllegalArgumentException("request " + request.requestId() + ": prompt (" + promptLength
                    + " tokens) + max_tokens (" + request.maxTokens() + ") = " + total + " exceeds max_seq_len " + config.maxSeqLen());
        }
        int vocab = runner.config().vocabSize();
        if (request.sampling().logprobs() > vocab) {
            throw new IllegalArgumentException("request " + request.requestId() + ": logprobs (" + request.sampling().logprobs()
                    + ") exceeds the vocabulary size " + vocab);
        }
        if (request.promptLogprobs() > vocab) {
            throw new IllegalArgumentException("request " + request.requestId() + ": prompt_logprobs (" + request.promptLogprobs()
                    + ") exceeds the vocabulary size " + vocab);
        }
        if (queued.incrementAndGet() > config.maxQueueSize()) {
            queued.decrementAndGet();
            throw new QueueFullException("the request queue is full (max_queue_size " + config.maxQueueSize()
                    + "); retry later");
        }
        var seq = new Sequence(sequenceIds.incrementAndGet(), request, listener);
        if (live.putIfAbsent(request.requestId(), seq) != null) {
            queued.decrementAndGet();
            throw new IllegalArgumentException("request id " + request.requestId() + " is already in use");
        }
        incoming.add(seq);
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
        if (!live.containsKey(requestId)) {
            return false;
        }
        aborts.add(new Abort(requestId, reason));
        LockSupport.unpark(loop);
        return true;
    }

    private record Abort(String requestId, FinishReason reason) {
    }

    /** The latest snapshot (updated after every iteration). */
    public Stats stats() {
        return stats;
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
                takeIncoming();
                takeAborts();
                if (!accepting) {
                    synchronized (lifecycle) { // no submit can slip in between the check and the exit
                        takeIncoming();
                        if (System.nanoTime() >= drainDeadlineNanos || stopped) {
                            abortAll("the executor was shut down");
                            break;
                        }
                        if (!scheduler.hasWork()) {
                            break;
                        }
                    }
                }
                List<ScheduledChunk> chunks = scheduler.hasWork() ? scheduler.schedule() : List.of();
                for (Scheduler.Failure f : scheduler.takeFailures()) {
                    LOG.warn("Request {} failed while it was scheduled; the others go on", f.sequence().request.requestId(),
                            f.error());
                    fail(f.sequence(), f.error());
                }
                if (chunks.isEmpty()) {
                    stats = snapshot(0, 0); // aborts and finishes change the counts without a pass
                    LockSupport.parkNanos(this, IDLE_PARK_NANOS);
                    continue;
                }
                iterate(chunks);
            }
        } catch (Throwable t) {
            synchronized (lifecycle) {
                fatal = t;
                accepting = false;
            }
            LOG.error("Executor loop failed; failing all requests", t);
            for (Sequence s : new ArrayList<>(live.values())) {
                fail(s, t);
            }
        } finally {
            accepting = false;
            stats = snapshot(0, 0);
            Throwable error = fatal;
            if (error != null) {
                failed.complete(error);
            }
        }
    }

    private void takeIncoming() {
        Sequence s;
        while ((s = incoming.poll()) != null) {
            if (s.status != Sequence.Status.FINISHED) { // aborted while it was being submitted
                scheduler.add(s);
            }
        }
    }

    private void takeAborts() {
        Abort abort;
        while ((abort = aborts.poll()) != null) {
            Sequence s = live.get(abort.requestId());
            if (s != null) {
                if (incoming.remove(s)) {
                    scheduler.add(s); // so that remove() below finds it
                }
                finish(s, abort.reason());
            }
        }
    }

    private void abortAll(String why) {
        takeIncoming();
        for (Sequence s : scheduler.all()) {
            LOG.debug("Aborting request {}: {}", s.request.requestId(), why);
            finish(s, FinishReason.CANCELLED);
        }
    }

    private void iterate(List<ScheduledChunk> scheduled) {
        List<ScheduledChunk> chunks = new ArrayList<>(scheduled.size());
        List<SequenceChunk> work = new ArrayList<>(scheduled.size());
        int tokens = 0;
        for (ScheduledChunk c : scheduled) {
            Sequence s = c.sequence();
            if (!s.admitted) {
                s.admitted = true;
                queued.decrementAndGet();
            }
            try {
                boolean promptRows = s.request.promptLogprobs() >= 0 && c.start() < s.promptLength;
                SequenceChunk.LogitsMode mode = promptRows ? SequenceChunk.LogitsMode.ALL
                        : !c.sample() ? SequenceChunk.LogitsMode.NONE
                        : Sampler.plainArgmax(s.sampling) ? SequenceChunk.LogitsMode.ARGMAX
                        : Sampler.plainDraw(s.sampling) ? SequenceChunk.LogitsMode.SAMPLE
                        : SequenceChunk.LogitsMode.LAST;
                work.add(new SequenceChunk(s.tokens(c.start(), c.start() + c.length()), c.start(), kv.blockTable(s.id), mode,
                        mode == SequenceChunk.LogitsMode.SAMPLE ? Sampler.tokenSampling(s.sampling) : null));
                chunks.add(c);
                tokens += c.length();
            } catch (RuntimeException | Error e) {
                failSequence(s, "preparing its chunk", e); // it stays out of this pass
            }
        }
        if (chunks.isEmpty()) {
            stats = snapshot(0, 0);
            return;
        }
        float[][] logits;
        try {
            logits = runner.forward(new Batch(work));
        } catch (RuntimeException e) {
            if (runner.failure() != null) {
                throw e; // the runner is unusable: the loop stops, failing every request and refusing new ones
            }
            // A failed pass fails the requests in it; the loop keeps serving the others.
            LOG.warn("Forward pass of {} sequences failed: {}", chunks.size(), e.toString());
            for (ScheduledChunk c : chunks) {
                fail(c.sequence(), e);
            }
            return;
        }
        iterations++;
        int vocab = runner.config().vocabSize();
        for (int i = 0; i < chunks.size(); i++) {
            ScheduledChunk c = chunks.get(i);
            Sequence s = c.sequence();
            try {
                scheduler.computed(c);
                int lastRow = 0;
                if (s.request.promptLogprobs() >= 0 && c.start() < s.promptLength) {
                    reportPromptLogprobs(s, c, logits[i], vocab);
                    lastRow = c.length() - 1;
                }
                if (!c.sample()) {
                    continue;
                }
                SequenceChunk.LogitsMode mode = work.get(i).logits();
                SampledToken token = mode == SequenceChunk.LogitsMode.ARGMAX || mode == SequenceChunk.LogitsMode.SAMPLE
                        ? sampler.chosen((int) logits[i][0], s.sampling)
                        : sampler.sample(logits[i], lastRow * vocab, vocab, s.sampling);
                s.append(token.tokenId());
                if (s.firstTokenNanos == 0) {
                    s.firstTokenNanos = System.nanoTime();
                }
                FinishReason reason = finishReason(s, token.tokenId());
                s.listener.onToken(token, reason);
                if (reason != null) {
                    finish(s, reason);
                }
            } catch (RuntimeException | Error e) {
                failSequence(s, "after the forward pass", e);
            }
        }
        stats = snapshot(chunks.size(), tokens);
    }

    /**
     * Fails one sequence whose own step threw, and lets the loop go on with the others. Errors of the
     * JVM itself (out of memory, stack overflow) are no one request's doing: they go on up and stop the loop.
     */
    private void failSequence(Sequence s, String where, Throwable error) {
        if (error instanceof VirtualMachineError fatal) {
            throw fatal;
        }
        LOG.warn("Request {} failed {}; the others go on", s.request.requestId(), where, error);
        fail(s, error);
    }

    /** Row r of a prompt chunk predicts the token at position start + r + 1. */
    private void reportPromptLogprobs(Sequence s, ScheduledChunk c, float[] logits, int vocab) {
        // A preempted sequence recomputes its prompt: report each position once.
        List<SampledToken> out = new ArrayList<>();
        int from = Math.max(c.start() + 1, s.promptLogprobsReported);
        for (int p = from; p < c.start() + c.length() + 1 && p < s.promptLength; p++) {
            out.add(Sampler.logprobs(logits, (p - 1 - c.start()) * vocab, vocab, s.token(p), s.request.promptLogprobs()));
        }
        if (!out.isEmpty()) {
            s.promptLogprobsReported = from + out.size();
            s.listener.onPromptLogprobs(from, out);
        }
    }

    private @Nullable FinishReason finishReason(Sequence s, int token) {
        for (int end : s.sampling.config().endTokenIds()) {
            if (end == token) {
                return FinishReason.STOP;
            }
        }
        if (s.generated() >= s.request.maxTokens() || s.length() >= config.maxSeqLen()) {
            return FinishReason.LENGTH;
        }
        return null;
    }

    private void finish(Sequence s, FinishReason reason) {
        if (!release(s)) {
            return;
        }
        try {
            s.listener.onFinish(reason, statsOf(s));
        } catch (RuntimeException | Error e) {
            if (e instanceof VirtualMachineError fatal) {
                throw fatal;
            }
            LOG.warn("Listener of request {} failed on finish: {}", s.request.requestId(), e.toString());
        }
    }

    private void fail(Sequence s, Throwable error) {
        if (!release(s)) {
            return;
        }
        try {
            s.listener.onFailure(error);
        } catch (RuntimeException | Error e) {
            if (e instanceof VirtualMachineError fatal) {
                throw fatal;
            }
            LOG.warn("Listener of request {} failed on failure: {}", s.request.requestId(), e.toString());
        }
    }

    /** Takes a sequence out of everything (blocks, queues, the live map); false if it was already out. */
    private boolean release(Sequence s) {
        if (!live.remove(s.request.requestId(), s)) {
            scheduler.remove(s); // idempotent: whatever holds it lets go
            return false;
        }
        if (!s.admitted) {
            s.admitted = true;
            queued.decrementAndGet();
        }
        scheduler.remove(s);
        return true;
    }

    private RequestStats statsOf(Sequence s) {
        return new RequestStats(s.arrivalNanos, s.firstTokenNanos, System.nanoTime(), s.promptLength, s.generated(),
                s.cachedPrefix, s.preemptions);
    }

    private Stats snapshot(int batchSize, int batchTokens) {
        return new Stats(loop != null && loop.isAlive() && fatal == null && accepting, scheduler.runningCount(),
                queued.get(), kv.stats(), iterations, batchSize, batchTokens);
    }
}
