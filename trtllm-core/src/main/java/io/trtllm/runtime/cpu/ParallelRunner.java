package io.trtllm.runtime.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads for the forward pass's data-parallel loops. A decode step runs about
 * forty short parallel regions per token, so the fork/join cost must be a few microseconds: idle
 * threads spin for {@link #SPIN_NANOS} before they park (long enough to bridge the short
 * sequential steps between regions, short enough not to steal a shared CPU from other work), and
 * the calling thread takes a share of every region itself.
 */
final class ParallelRunner implements AutoCloseable {

    /** The body of a parallel loop: handles {@code [start, end)} on worker {@code worker}. */
    @FunctionalInterface
    interface RangeBody {
        void run(int start, int end, int worker);
    }

    static final long SPIN_NANOS = 50_000;

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    /** The next unclaimed index of a {@link #parallelForDynamic} loop. */
    private final AtomicInteger next = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    private volatile RangeBody body;
    private volatile int total;
    private volatile Throwable failure;
    private volatile Thread caller;

    ParallelRunner(int threads, String namePrefix) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 1; i < threads; i++) {
            int worker = i;
            Thread t = Thread.ofPlatform().daemon().name(namePrefix + "-" + i).unstarted(() -> workLoop(worker));
            workers[i - 1] = t;
            t.start();
        }
    }

    int threads() {
        return threads;
    }

    /**
     * Splits {@code [0, n)} into one contiguous chunk per thread and runs {@code body} on each;
     * returns when all are done. Not reentrant: one region at a time, from one caller thread.
     */
    void parallelFor(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        if (closed) {
            throw new IllegalStateException("parallel runner is closed");
        }
        if (threads == 1 || n == 1) {
            body.run(0, n, 0);
            return;
        }
        this.body = body;
        this.total = n;
        this.failure = null;
        this.caller = Thread.currentThread();
        pending.set(threads - 1);
        generation++; // publishes body/total to the workers
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        Throwable mine = null;
        try {
            runChunk(body, n, 0);
        } catch (Throwable t) {
            mine = t;
        }
        long spinStart = System.nanoTime();
        int spins = 0;
        while (pending.get() != 0) {
            if ((++spins & 63) != 0 || System.nanoTime() - spinStart < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(this); // the last worker to finish unparks us
            }
        }
        this.body = null;
        Throwable f = mine != null ? mine : failure;
        if (f instanceof RuntimeException re) {
            throw re;
        }
        if (f instanceof Error err) {
            throw err;
        }
        if (f != null) {
            throw new IllegalStateException(f);
        }
    }

    /**
     * As {@link #parallelFor}, but the threads take {@code grain} indices at a time from a shared
     * counter until none is left: for loops whose iterations differ in cost (attention over sequences
     * of different lengths). {@code body} may run several times per thread, on ascending ranges.
     */
    void parallelForDynamic(int n, int grain, RangeBody body) {
        if (grain < 1) {
            throw new IllegalArgumentException("grain must be >= 1, got " + grain);
        }
        if (threads == 1 || n <= grain) {
            parallelFor(n, body);
            return;
        }
        AtomicInteger next = this.next;
        next.set(0);
        parallelFor(threads, (unused, unusedEnd, worker) -> {
            for (int i = next.getAndAdd(grain); i < n; i = next.getAndAdd(grain)) {
                body.run(i, Math.min(n, i + grain), worker);
            }
        });
    }

    private void runChunk(RangeBody b, int n, int worker) {
        int start = (int) ((long) n * worker / threads);
        int end = (int) ((long) n * (worker + 1) / threads);
        if (start < end) {
            b.run(start, end, worker);
        }
    }

    private void workLoop(int worker) {
        long seen = 0;
        while (true) {
            long spinStart = System.nanoTime();
            int spins = 0;
            // Work already published is done even when close() comes in between, so a caller
            // inside parallelFor never waits forever.
            while (generation == seen) {
                if (closed) {
                    return;
                }
                if ((++spins & 63) != 0 || System.nanoTime() - spinStart < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            seen = generation;
            try {
                runChunk(body, total, worker);
            } catch (Throwable t) {
                failure = t;
            } finally {
                if (pending.decrementAndGet() == 0) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    /** Stops the worker threads and waits for them to end. */
    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        boolean interrupted = false;
        for (Thread w : workers) {
            while (true) {
                try {
                    w.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
