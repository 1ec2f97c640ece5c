package io.trtllm.executor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The requests an executor holds, from submission to their last listener call: submissions and aborts
 * handed from callers' threads to the loop, the live requests by id, how many wait for their first run
 * (what {@code max_queue_size} bounds), and the end of each — finished or failed once, its blocks freed,
 * its listener told.
 *
 * <p>{@link #add}, {@link #abort} and {@link #queued} may be called from any thread; everything else from the
 * executor's loop thread only (it drives the {@link Scheduler}).
 */
final class Requests {
    private static final Logger LOG = LoggerFactory.getLogger(Requests.class);

    private final Scheduler scheduler;
    private final int maxQueueSize;
    private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Abort> aborts = new ConcurrentLinkedQueue<>();
    private final Map<String, Sequence> live = new ConcurrentHashMap<>();
    /** Requests submitted that have not run yet. */
    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicLong sequenceIds = new AtomicLong();

    private record Abort(String requestId, FinishReason reason) {
    }

    Requests(Scheduler scheduler, int maxQueueSize) {
        this.scheduler = scheduler;
        this.maxQueueSize = maxQueueSize;
    }

    /**
     * Queues a request for the loop.
     *
     * @throws QueueFullException       when {@code max_queue_size} requests wait for their first run
     * @throws IllegalArgumentException when its id is in use by a live request
     */
    void add(GenerationRequest request, GenerationListener listener) {
        add(request, null, listener);
    }

    /** As {@link #add(GenerationRequest, GenerationListener)}; with {@code beams}, the request is a beam search. */
    void add(GenerationRequest request, @org.jspecify.annotations.Nullable BeamSearchConfig beams, GenerationListener listener) {
        if (queued.incrementAndGet() > maxQueueSize) {
            queued.decrementAndGet();
            throw new QueueFullException("the request queue is full (max_queue_size " + maxQueueSize + "); retry later");
        }
        var seq = new Sequence(sequenceIds.incrementAndGet(), request, beams, listener);
        if (live.putIfAbsent(request.requestId(), seq) != null) {
            queued.decrementAndGet();
            throw new IllegalArgumentException("request id " + request.requestId() + " is already in use");
        }
        incoming.add(seq);
    }

    /** Asks the loop to end a request with {@code reason}; false if it is not live. */
    boolean abort(String requestId, FinishReason reason) {
        if (!live.containsKey(requestId)) {
            return false;
        }
        aborts.add(new Abort(requestId, reason));
        return true;
    }

    /** Requests submitted that have not run yet. */
    int queued() {
        return queued.get();
    }

    /** Hands the submissions that came in to the scheduler. */
    void takeIncoming() {
        Sequence s;
        while ((s = incoming.poll()) != null) {
            if (s.status != Sequence.Status.FINISHED) { // aborted while it was being submitted
                scheduler.add(s);
            }
        }
    }

    /** Ends the requests whose abort came in. */
    void takeAborts() {
        Abort abort;
        while ((abort = aborts.poll()) != null) {
            Sequence s = live.get(abort.requestId());
            if (s != null) {
                if (incoming.remove(s)) {
                    scheduler.add(s); // so that release() finds it
                }
                finish(s, abort.reason());
            }
        }
    }

    /** Counts a sequence's first run: from then on it no longer counts against {@code max_queue_size}. */
    void admitted(Sequence s) {
        if (!s.admitted) {
            s.admitted = true;
            queued.decrementAndGet();
        }
    }

    /** Ends a request: its blocks freed, its listener told why (once; later ends of it do nothing). */
    void finish(Sequence s, FinishReason reason) {
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

    /** Fails a request: its blocks freed, its listener given {@code error} (once; later ends of it do nothing). */
    void fail(Sequence s, Throwable error) {
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

    /** Fails the sequences the scheduler took out because their admission or growth threw. */
    void failScheduled(List<Scheduler.Failure> failures) {
        for (Scheduler.Failure f : failures) {
            LOG.warn("Request {} failed while it was scheduled; the others go on", f.sequence().request.requestId(),
                    f.error());
            fail(f.sequence(), f.error());
        }
    }

    /**
     * Fails one sequence whose own step threw, and lets the loop go on with the others. Errors of the
     * JVM itself (out of memory, stack overflow) are no one request's doing: they go on up and stop the loop.
     */
    void failStep(Sequence s, String where, Throwable error) {
        if (error instanceof VirtualMachineError fatal) {
            throw fatal;
        }
        LOG.warn("Request {} failed {}; the others go on", s.request.requestId(), where, error);
        fail(s, error);
    }

    /** Cancels every request the scheduler holds or that came in (shutdown). */
    void cancelAll(String why) {
        takeIncoming();
        for (Sequence s : scheduler.all()) {
            LOG.debug("Aborting request {}: {}", s.request.requestId(), why);
            finish(s, FinishReason.CANCELLED);
        }
    }

    /** Fails every live request with {@code error} (the loop stops). */
    void failAll(Throwable error) {
        for (Sequence s : new ArrayList<>(live.values())) {
            fail(s, error);
        }
    }

    /** Takes a sequence out of everything (blocks, queues, the live map); false if it was already out. */
    private boolean release(Sequence s) {
        if (!live.remove(s.request.requestId(), s)) {
            scheduler.remove(s); // idempotent: whatever holds it lets go
            return false;
        }
        admitted(s);
        scheduler.remove(s);
        return true;
    }

    private static RequestStats statsOf(Sequence s) {
        int generated = s.group != null ? s.group.steps() : s.generated();
        return new RequestStats(s.arrivalNanos, s.scheduledNanos, s.firstTokenNanos, System.nanoTime(), s.promptLength, generated,
                s.cachedPrefix, s.preemptions);
    }
}
