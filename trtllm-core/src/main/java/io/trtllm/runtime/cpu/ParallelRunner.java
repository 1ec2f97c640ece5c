package io.trtllm.runtime.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads for the forward pass's data-parallel loops. A decode step runs about
 * forty short parallel regions per token, so the fork/join cost must be a few microseconds: the
 * workers spin briefly on a generation counter before parking, and the calling thread takes a
 * share of every region itself.
 */
final class ParallelRunner implements AutoCloseable {

    /** The body of a parallel loop: handles {@code [start, end)} on worker {@code worker}. */
    @FunctionalInterface
    interface RangeBody {
        void run(int start, int end, int worker);
    }

    private static final int SPIN_ITERATIONS = 1 << 16;

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    private volatile RangeBody body;
    private volatile int total;
    private volatile Throwable failure;

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
        if (threads == 1 || n == 1) {
            body.run(0, n, 0);
            return;
        }
        if (closed) {
            throw new IllegalStateException("parallel runner is closed");
        }
        this.body = body;
        this.total = n;
        this.failure = null;
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
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins < SPIN_ITERATIONS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
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
            int spins = 0;
            while (generation == seen && !closed) {
                if (++spins < SPIN_ITERATIONS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            try {
                runChunk(body, total, worker);
            } catch (Throwable t) {
                failure = t;
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
