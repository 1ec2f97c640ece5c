package io.trtllm.runtime;

import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model split over ranks, seen by the executor as one {@link ModelRunner}: each {@link #forward} hands the
 * batch to every rank's thread (one per device) and returns the result of the rank that ends the pass. The
 * ranks run in lockstep through their communicators; this runner only starts them and watches the clock.
 *
 * <p>A failing rank fails the whole runner, never hangs it: its error aborts every communicator (the other
 * ranks' collectives then throw at once), a pass that outlives the timeout is aborted the same way, and
 * {@link #failure()} is set so that the executor fails the requests and refuses new ones. The ranks' KV
 * caches and activations are not trusted after a failed pass, so the runner does not continue.
 */
public final class RankGroupRunner implements ModelRunner {
    private static final Logger LOG = LoggerFactory.getLogger(RankGroupRunner.class);

    /** A rank's state for health and metrics. */
    public record RankStatus(int rank, String shard, long passes, long lastPassNanos, long deviceMemoryBytes,
                             @Nullable String failure) {
    }

    private final ModelConfig config;
    private final KvCacheSpec kvSpec;
    private final String backend;
    private final Parallelism parallelism;
    private final List<RankRunner> ranks;
    private final List<Communicator> communicators;
    private final long timeoutNanos;
    /** How the ranks exchange, in words, for {@link #description()}; "" when there is nothing to say. */
    private final String exchange;
    private final ExecutorService[] threads;
    private final AtomicLong[] passes;
    private final AtomicLong[] lastPassNanos;
    /** Per rank: why it failed, or null; written by the rank threads and the caller, read by health. */
    private final AtomicReferenceArray<@Nullable String> rankFailures;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private volatile @Nullable Throwable failure;
    private boolean closed;

    /**
     * @param ranks         one runner per rank, in rank order; this runner owns and closes them
     * @param communicators every communicator of the ranks (all groups), aborted when a rank fails; owned
     * @param timeout       longest a pass may take before the group is aborted
     */
    public RankGroupRunner(ModelConfig config, KvCacheSpec kvSpec, String backend, Parallelism parallelism,
                           List<? extends RankRunner> ranks, List<Communicator> communicators, Duration timeout) {
        this(config, kvSpec, backend, parallelism, ranks, communicators, timeout, "");
    }

    /**
     * As above, with how the ranks exchange in words ({@code TP all-reduce through NCCL on device buffers}), said
     * by {@link #description()}.
     */
    public RankGroupRunner(ModelConfig config, KvCacheSpec kvSpec, String backend, Parallelism parallelism,
                           List<? extends RankRunner> ranks, List<Communicator> communicators, Duration timeout,
                           String exchange) {
        this.exchange = exchange;
        if (ranks.size() != parallelism.worldSize()) {
            throw new IllegalArgumentException(ranks.size() + " rank runners for " + parallelism);
        }
        this.config = config;
        this.kvSpec = kvSpec;
        this.backend = backend;
        this.parallelism = parallelism;
        this.ranks = List.copyOf(ranks);
        this.communicators = List.copyOf(communicators);
        this.timeoutNanos = timeout.toNanos();
        int n = ranks.size();
        this.threads = new ExecutorService[n];
        this.passes = new AtomicLong[n];
        this.lastPassNanos = new AtomicLong[n];
        this.rankFailures = new AtomicReferenceArray<>(n);
        for (int r = 0; r < n; r++) {
            int rank = r;
            threads[r] = Executors.newSingleThreadExecutor(task -> {
                Thread t = new Thread(task, "trtllm-rank-" + rank);
                t.setDaemon(true);
                return t;
            });
            passes[r] = new AtomicLong();
            lastPassNanos[r] = new AtomicLong();
        }
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public KvCacheSpec kvCache() {
        return kvSpec;
    }

    @Override
    public String backend() {
        return backend;
    }

    @Override
    public String description() {
        return backend + ", " + parallelism + " (" + ranks.size() + " ranks, a thread each" + (exchange.isEmpty() ? "" : "; "
                + exchange) + ")";
    }

    /** The split this runner drives. */
    public Parallelism parallelism() {
        return parallelism;
    }

    /** Each rank's passes, last pass time, device memory and failure, in rank order. */
    public List<RankStatus> ranks() {
        List<RankStatus> out = new ArrayList<>(ranks.size());
        for (int r = 0; r < ranks.size(); r++) {
            out.add(new RankStatus(r, ranks.get(r).shard().toString(), passes[r].get(), lastPassNanos[r].get(),
                    ranks.get(r).deviceMemoryBytes(), rankFailures.get(r)));
        }
        return List.copyOf(out);
    }

    @Override
    public ForwardResult forward(Batch batch) {
        Throwable failed = failure;
        if (failed != null) {
            throw new IllegalStateException("the ranks of this model failed earlier: " + failed.getMessage(), failed);
        }
        batch.checkAgainst(config, kvSpec);
        int n = ranks.size();
        List<Future<@Nullable ForwardResult>> futures = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            int rank = r;
            futures.add(threads[r].submit(() -> {
                long start = System.nanoTime();
                try {
                    return ranks.get(rank).forward(batch);
                } catch (RuntimeException | Error e) {
                    rankFailures.set(rank, String.valueOf(e.getMessage()));
                    abortAll(new CommunicatorException("rank " + rank + " failed: " + e.getMessage(), e));
                    throw e;
                } finally {
                    passes[rank].incrementAndGet();
                    lastPassNanos[rank].set(System.nanoTime() - start);
                }
            }));
        }
        long deadline = System.nanoTime() + timeoutNanos;
        ForwardResult result = null;
        Throwable first = null;
        for (int r = 0; r < n; r++) {
            try {
                ForwardResult part = futures.get(r).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (part != null) {
                    result = part;
                }
            } catch (TimeoutException e) {
                var timedOut = new CommunicatorException("rank " + r + " did not finish its pass within "
                        + timeoutNanos / 1_000_000 + " ms");
                rankFailures.set(r, timedOut.getMessage());
                abortAll(timedOut);
                first = first == null ? timedOut : first;
                // The aborted collectives return soon; give the rank's thread that long, not forever.
                deadline = System.nanoTime() + timeoutNanos;
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                // The rank whose own error aborted the group is the one to report, not those it aborted.
                if (first == null || (first instanceof CommunicatorException && !(cause instanceof CommunicatorException))) {
                    first = cause;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                abortAll(new CommunicatorException("interrupted while the ranks ran a pass"));
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            failure = first;
            LOG.error("A rank of the {} model failed; the model stops: {}", parallelism, first.toString());
            throw new IllegalStateException("a rank of the " + parallelism + " model failed: " + first.getMessage(), first);
        }
        if (result == null) {
            throw new IllegalStateException("no rank returned the pass's result (the last stage's TP rank 0 should)");
        }
        return result;
    }

    private void abortAll(Throwable cause) {
        for (Communicator c : communicators) {
            c.abort(cause);
        }
    }

    /** Closes {@code resource} after the ranks (the weights they read in place). */
    public void closeAfter(AutoCloseable resource) {
        owned.add(resource);
    }

    @Override
    public @Nullable Throwable failure() {
        return failure;
    }

    @Override
    public long deviceMemoryBytes() {
        long sum = 0;
        for (RankRunner r : ranks) {
            long bytes = r.deviceMemoryBytes();
            if (bytes < 0) {
                return -1;
            }
            sum += bytes;
        }
        return sum;
    }

    /** Stops the rank threads and closes the ranks and communicators; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (ExecutorService t : threads) {
            t.shutdownNow();
        }
        for (ExecutorService t : threads) {
            try {
                if (!t.awaitTermination(timeoutNanos, TimeUnit.NANOSECONDS)) {
                    LOG.warn("A rank thread did not stop within the timeout");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (RankRunner r : ranks) {
            r.close();
        }
        for (Communicator c : communicators) {
            c.close();
        }
        for (AutoCloseable r : owned) {
            try {
                r.close();
            } catch (Exception e) {
                LOG.warn("Closing {} failed: {}", r, e.toString());
            }
        }
    }
}
