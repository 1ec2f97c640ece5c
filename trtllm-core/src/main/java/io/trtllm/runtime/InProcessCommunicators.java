package io.trtllm.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * {@link Communicator}s of ranks that are threads of this process (the CPU backend's ranks): collectives
 * meet at a barrier and read each other's heap buffers; sends are copied into a queue per (sender,
 * receiver) pair. An all-reduce sums each element once, in rank order (rank {@code r} sums the
 * {@code r}-th part of the buffer and writes it to every rank), so every rank gets the same bits, and the
 * result does not depend on thread timing.
 */
public final class InProcessCommunicators {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    /** How often a waiting receiver looks whether the group was aborted. */
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private InProcessCommunicators() {
    }

    /**
     * One communicator per rank of a group of {@code size}, in rank order.
     *
     * @param timeout longest a rank waits in a collective for the others before the group fails
     */
    public static List<Communicator> create(int size, Duration timeout) {
        if (size < 1) {
            throw new IllegalArgumentException("group size must be >= 1, got " + size);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("communicator timeout must be > 0, got " + timeout);
        }
        Group group = new Group(size, timeout.toNanos());
        List<Communicator> ranks = new ArrayList<>(size);
        for (int r = 0; r < size; r++) {
            ranks.add(new Rank(group, r));
        }
        return List.copyOf(ranks);
    }

    /** What the ranks of a group share. */
    private static final class Group {
        final int size;
        final long timeoutNanos;
        final CyclicBarrier barrier;
        /** Each rank's buffer of the collective in progress. */
        final MemorySegment[] buffers;
        /** Sends in flight, {@code [from][to]}. */
        final List<List<LinkedBlockingQueue<float[]>>> mailboxes = new ArrayList<>();
        final AtomicReference<@Nullable Throwable> failure = new AtomicReference<>();

        Group(int size, long timeoutNanos) {
            this.size = size;
            this.timeoutNanos = timeoutNanos;
            this.barrier = new CyclicBarrier(size);
            this.buffers = new MemorySegment[size];
            for (int from = 0; from < size; from++) {
                List<LinkedBlockingQueue<float[]>> row = new ArrayList<>(size);
                for (int to = 0; to < size; to++) {
                    row.add(new LinkedBlockingQueue<>());
                }
                mailboxes.add(row);
            }
        }

        void abort(Throwable cause) {
            if (failure.compareAndSet(null, cause)) {
                barrier.reset(); // ranks waiting at the barrier now get BrokenBarrierException
            }
        }

        void checkUsable() {
            Throwable cause = failure.get();
            if (cause != null) {
                throw aborted(cause);
            }
        }

        CommunicatorException aborted(Throwable cause) {
            return new CommunicatorException("communicator group aborted: " + cause.getMessage(), cause);
        }

        /** Waits until every rank arrived; fails the group when one does not within the timeout. */
        void await(int rank) {
            checkUsable();
            try {
                barrier.await(timeoutNanos, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                abort(new CommunicatorException("rank " + rank + " waited more than " + timeoutNanos / 1_000_000
                        + " ms for the other ranks of its group"));
                throw aborted(failure.get());
            } catch (BrokenBarrierException e) {
                Throwable cause = failure.get();
                throw cause != null ? aborted(cause) : new CommunicatorException("communicator group broken", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                abort(new CommunicatorException("rank " + rank + " was interrupted in a collective"));
                throw aborted(failure.get());
            }
        }
    }

    private static final class Rank implements Communicator {
        private final Group group;
        private final int rank;
        private float[] partial = new float[0];

        Rank(Group group, int rank) {
            this.group = group;
            this.rank = rank;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int size() {
            return group.size;
        }

        @Override
        public void allReduceSum(MemorySegment floats) {
            int n = floatCount(floats);
            if (group.size == 1) {
                group.checkUsable();
                return;
            }
            group.buffers[rank] = floats;
            group.await(rank);
            // This rank sums part [lo, hi) of every rank's buffer, ranks in order, then writes it to each.
            int lo = (int) ((long) n * rank / group.size);
            int hi = (int) ((long) n * (rank + 1) / group.size);
            if (partial.length < hi - lo) {
                partial = new float[hi - lo];
            }
            for (int r = 0; r < group.size; r++) {
                MemorySegment b = group.buffers[r];
                if (b.byteSize() != floats.byteSize()) {
                    group.abort(new CommunicatorException("all-reduce of " + n + " floats on rank " + rank + " but "
                            + b.byteSize() / 4 + " on rank " + r));
                    group.checkUsable();
                }
                for (int i = lo; i < hi; i++) {
                    float v = b.getAtIndex(FLOAT, i);
                    partial[i - lo] = r == 0 ? v : partial[i - lo] + v;
                }
            }
            group.await(rank); // every part read before any is overwritten
            for (int r = 0; r < group.size; r++) {
                MemorySegment.copy(partial, 0, group.buffers[r], FLOAT, lo * 4L, hi - lo);
            }
            group.await(rank); // every part written before any rank goes on
        }

        @Override
        public void allGather(MemorySegment send, MemorySegment receive) {
            if (receive.byteSize() != send.byteSize() * group.size) {
                throw new IllegalArgumentException("all-gather receives " + receive.byteSize() + " bytes, expected "
                        + group.size + " × " + send.byteSize());
            }
            group.buffers[rank] = send;
            group.await(rank);
            for (int r = 0; r < group.size; r++) {
                MemorySegment b = group.buffers[r];
                if (b.byteSize() != send.byteSize()) {
                    group.abort(new CommunicatorException("all-gather of " + send.byteSize() + " bytes on rank " + rank
                            + " but " + b.byteSize() + " on rank " + r));
                    group.checkUsable();
                }
                MemorySegment.copy(b, 0, receive, r * send.byteSize(), send.byteSize());
            }
            group.await(rank); // every buffer read before any rank reuses its own
        }

        @Override
        public void send(MemorySegment floats, int peer) {
            checkPeer(peer);
            group.checkUsable();
            group.mailboxes.get(rank).get(peer).add(floats.toArray(FLOAT));
        }

        @Override
        public void receive(MemorySegment floats, int peer) {
            checkPeer(peer);
            var box = group.mailboxes.get(peer).get(rank);
            long deadline = System.nanoTime() + group.timeoutNanos;
            try {
                while (true) {
                    group.checkUsable();
                    float[] data = box.poll(POLL_NANOS, TimeUnit.NANOSECONDS);
                    if (data != null) {
                        if (data.length * 4L != floats.byteSize()) {
                            group.abort(new CommunicatorException("rank " + rank + " expected " + floats.byteSize() / 4
                                    + " floats from rank " + peer + ", got " + data.length));
                            group.checkUsable();
                        }
                        MemorySegment.copy(data, 0, floats, FLOAT, 0, data.length);
                        return;
                    }
                    if (System.nanoTime() - deadline > 0) {
                        group.abort(new CommunicatorException("rank " + rank + " waited more than "
                                + group.timeoutNanos / 1_000_000 + " ms for data from rank " + peer));
                        group.checkUsable();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                group.abort(new CommunicatorException("rank " + rank + " was interrupted receiving from rank " + peer));
                throw group.aborted(group.failure.get());
            }
        }

        private void checkPeer(int peer) {
            if (peer < 0 || peer >= group.size || peer == rank) {
                throw new IllegalArgumentException("peer " + peer + " is not another rank of a group of " + group.size);
            }
        }

        private static int floatCount(MemorySegment floats) {
            if (floats.byteSize() % 4 != 0 || floats.byteSize() / 4 > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("not a float32 buffer: " + floats.byteSize() + " bytes");
            }
            return (int) (floats.byteSize() / 4);
        }

        @Override
        public void abort(Throwable cause) {
            group.abort(cause);
        }

        @Override
        public @Nullable Throwable failure() {
            return group.failure.get();
        }

        @Override
        public void close() {
            // Nothing of its own: the group's buffers are the ranks' arrays, its queues heap objects.
        }
    }
}
