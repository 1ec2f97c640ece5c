package io.trtllm.runtime.cuda;

import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreate;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;

import io.trtllm.runtime.Communicator;
import io.trtllm.runtime.CommunicatorException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Communicator} over NCCL (through the bytedeco CUDA preset's {@code org.bytedeco.cuda.global.nccl}):
 * one rank on one GPU, its collectives enqueued on a stream of its own and waited for. Buffers are device memory:
 * a {@link MemorySegment} whose address is the device pointer ({@code MemorySegment.ofAddress(ptr).reinterpret(bytes)}).
 *
 * <p>Two ways to form a group: {@link #initAll} for one process driving all its local GPUs
 * ({@code ncclCommInitAll}), and {@link #uniqueId} + {@link #initRank} for ranks in several processes or nodes
 * (the id is passed out of band, as {@code ncclGetUniqueId} / {@code ncclCommInitRank} intend).
 *
 * <p>No hang: a wait polls the stream and {@code ncclCommGetAsyncError}; past the timeout, or on an asynchronous
 * NCCL error, the communicator is aborted ({@code ncclCommAbort}, which also ends kernels the peers wait in) and
 * the call throws {@link CommunicatorException}, as does every later one.
 */
public final class NcclCommunicator implements Communicator {
    /** cudaErrorNotReady: the stream still has work. */
    private static final int CUDA_NOT_READY = 600;
    private static final long POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(20);

    private final ncclComm comm;
    private final int rank;
    private final int size;
    private final int device;
    private final CUstream_st stream;
    private final long timeoutNanos;
    private final AtomicReference<@Nullable Throwable> failure = new AtomicReference<>();
    private final AtomicBoolean released = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();

    private NcclCommunicator(ncclComm comm, int rank, int size, int device, long timeoutNanos) {
        this.comm = comm;
        this.rank = rank;
        this.size = size;
        this.device = device;
        this.timeoutNanos = timeoutNanos;
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        CUstream_st s = new CUstream_st();
        Cuda.check(cudaStreamCreate(s), "cudaStreamCreate on device " + device);
        this.stream = s;
    }

    /** NCCL's version as {@code major.minor.patch}; loads the library (fails with its error when it is missing). */
    public static String version() {
        int[] v = new int[1];
        check(nccl.ncclGetVersion(v), "ncclGetVersion");
        int code = v[0];
        // NCCL_VERSION(X,Y,Z) = X*10000 + Y*100 + Z since 2.9
        return code / 10000 + "." + code / 100 % 100 + "." + code % 100;
    }

    /**
     * One communicator per device of {@code devices}, in that order (rank {@code i} on {@code devices[i]}): a group
     * that one process drives, a thread per device.
     *
     * @param timeout longest one collective may wait before the group is aborted
     */
    public static List<NcclCommunicator> initAll(int[] devices, Duration timeout) {
        if (devices.length == 0) {
            throw new IllegalArgumentException("initAll needs at least one device");
        }
        try (PointerPointer<ncclComm> comms = new PointerPointer<>(devices.length)) {
            check(nccl.ncclCommInitAll(comms, devices.length, devices.clone()), "ncclCommInitAll(" + devices.length + " devices)");
            List<NcclCommunicator> out = new ArrayList<>(devices.length);
            for (int r = 0; r < devices.length; r++) {
                out.add(new NcclCommunicator(new ncclComm(comms.get(r)), r, devices.length, devices[r], timeout.toNanos()));
            }
            return List.copyOf(out);
        }
    }

    /** A new group's id ({@code ncclGetUniqueId}, 128 bytes): made by one rank, sent to the others out of band. */
    public static byte[] uniqueId() {
        ncclUniqueId id = new ncclUniqueId();
        check(nccl.ncclGetUniqueId(id), "ncclGetUniqueId");
        byte[] bytes = new byte[nccl.NCCL_UNIQUE_ID_BYTES];
        BytePointer internal = id.internal();
        internal.get(bytes);
        return bytes;
    }

    /**
     * This process's rank of the group {@code uniqueId} names ({@code ncclCommInitRank}); blocks until all
     * {@code size} ranks joined.
     */
    public static NcclCommunicator initRank(byte[] uniqueId, int size, int rank, int device, Duration timeout) {
        if (uniqueId.length != nccl.NCCL_UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + nccl.NCCL_UNIQUE_ID_BYTES + " bytes, got "
                    + uniqueId.length);
        }
        if (rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + size + ")");
        }
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        ncclUniqueId id = new ncclUniqueId();
        id.internal().put(uniqueId);
        try (PointerPointer<ncclComm> comms = new PointerPointer<>(1)) {
            check(nccl.ncclCommInitRank(comms, size, id, rank), "ncclCommInitRank(rank " + rank + " of " + size + ")");
            return new NcclCommunicator(new ncclComm(comms.get(0)), rank, size, device, timeout.toNanos());
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** The CUDA device of this rank. */
    public int device() {
        return device;
    }

    @Override
    public void allReduceSum(MemorySegment floats) {
        long count = floatCount(floats);
        usable();
        enqueue(nccl.ncclAllReduce(Cuda.at(floats.address()), Cuda.at(floats.address()), count, nccl.ncclFloat32,
                nccl.ncclSum, comm, stream), "ncclAllReduce(" + count + " floats)");
    }

    @Override
    public void allGather(MemorySegment send, MemorySegment receive) {
        long count = floatCount(send);
        if (receive.byteSize() != send.byteSize() * size) {
            throw new IllegalArgumentException("all-gather receives " + receive.byteSize() + " bytes, expected " + size
                    + " × " + send.byteSize());
        }
        usable();
        enqueue(nccl.ncclAllGather(Cuda.at(send.address()), Cuda.at(receive.address()), count, nccl.ncclFloat32, comm,
                stream), "ncclAllGather(" + count + " floats)");
    }

    @Override
    public void send(MemorySegment floats, int peer) {
        checkPeer(peer);
        usable();
        enqueue(nccl.ncclSend(Cuda.at(floats.address()), floatCount(floats), nccl.ncclFloat32, peer, comm, stream),
                "ncclSend(to rank " + peer + ")");
    }

    @Override
    public void receive(MemorySegment floats, int peer) {
        checkPeer(peer);
        usable();
        enqueue(nccl.ncclRecv(Cuda.at(floats.address()), floatCount(floats), nccl.ncclFloat32, peer, comm, stream),
                "ncclRecv(from rank " + peer + ")");
    }

    /**
     * Enqueues the in-place sum of {@code floats} float32 values at device address {@code device} on {@code stream}
     * (the calling rank's own, on this communicator's device) and returns without waiting: the launches after it on
     * that stream see the sum. How a CUDA rank sums its partial products without a host round trip.
     */
    void enqueueAllReduceSum(long device, long floats, CUstream_st stream) {
        usable();
        started(nccl.ncclAllReduce(Cuda.at(device), Cuda.at(device), floats, nccl.ncclFloat32, nccl.ncclSum, comm,
                stream), "ncclAllReduce(" + floats + " floats)");
    }

    /** Enqueues a send of {@code floats} values at {@code device} to rank {@code peer} on {@code stream}; no wait. */
    void enqueueSend(long device, long floats, int peer, CUstream_st stream) {
        checkPeer(peer);
        usable();
        started(nccl.ncclSend(Cuda.at(device), floats, nccl.ncclFloat32, peer, comm, stream),
                "ncclSend(to rank " + peer + ")");
    }

    /** Enqueues a receive of {@code floats} values from rank {@code peer} into {@code device} on {@code stream}; no wait. */
    void enqueueReceive(long device, long floats, int peer, CUstream_st stream) {
        checkPeer(peer);
        usable();
        started(nccl.ncclRecv(Cuda.at(device), floats, nccl.ncclFloat32, peer, comm, stream),
                "ncclRecv(from rank " + peer + ")");
    }

    /** Checks the enqueue's status, then waits for this communicator's stream. */
    private void enqueue(int status, String call) {
        started(status, call);
        await(stream, call);
    }

    /** Fails (aborting the group) when an enqueue's status is an error. */
    private void started(int status, String call) {
        if (status != nccl.ncclSuccess && status != nccl.ncclInProgress) {
            CommunicatorException e = new CommunicatorException(call + " on rank " + rank + " (device " + device + "): "
                    + errorString(status) + " (" + status + ")");
            abort(e);
            throw e;
        }
    }

    /**
     * Waits for {@code on} (a stream of this communicator's device) to finish what it holds, polling the stream
     * and {@code ncclCommGetAsyncError}: past the timeout, on an asynchronous NCCL error or a CUDA error, the group
     * is aborted and this throws; after an {@link #abort} it throws at once.
     */
    void await(CUstream_st on, String call) {
        long deadline = System.nanoTime() + timeoutNanos;
        int[] async = new int[1];
        while (true) {
            int done = cudaStreamQuery(on);
            if (done == 0) {
                return;
            }
            if (done != CUDA_NOT_READY) {
                var e = new CommunicatorException(call + " on rank " + rank + ": CUDA error " + Cuda.errorString(done));
                abort(e);
                throw e;
            }
            Throwable aborted = failure.get();
            if (aborted != null) {
                throw new CommunicatorException(call + " on rank " + rank + " aborted: " + aborted.getMessage(), aborted);
            }
            check(nccl.ncclCommGetAsyncError(comm, async), "ncclCommGetAsyncError");
            if (async[0] != nccl.ncclSuccess && async[0] != nccl.ncclInProgress) {
                var e = new CommunicatorException(call + " on rank " + rank + " failed asynchronously: "
                        + errorString(async[0]) + " (" + async[0] + ")");
                abort(e);
                throw e;
            }
            if (System.nanoTime() - deadline > 0) {
                var e = new CommunicatorException(call + " on rank " + rank + " did not complete within "
                        + timeoutNanos / 1_000_000 + " ms; the communicator is aborted");
                abort(e);
                throw e;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(POLL_NANOS);
        }
    }

    /** Fails when aborted; else makes this rank's device current on the calling thread (its rank thread). */
    private void usable() {
        Throwable cause = failure.get();
        if (cause != null) {
            throw new CommunicatorException("NCCL communicator of rank " + rank + " was aborted: " + cause.getMessage(), cause);
        }
        Cuda.check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
    }

    private void checkPeer(int peer) {
        if (peer < 0 || peer >= size || peer == rank) {
            throw new IllegalArgumentException("peer " + peer + " is not another rank of a group of " + size);
        }
    }

    /** The float count of a device buffer; a heap segment has no device address and is refused. */
    private static long floatCount(MemorySegment floats) {
        if (!floats.isNative()) {
            throw new IllegalArgumentException("NCCL buffers are device memory (a native segment at the device pointer), "
                    + "not a heap array");
        }
        if (floats.byteSize() % Float.BYTES != 0) {
            throw new IllegalArgumentException("not a float32 buffer: " + floats.byteSize() + " bytes");
        }
        return floats.byteSize() / Float.BYTES;
    }

    /** Aborts the communicator ({@code ncclCommAbort}): kernels in flight end, later calls fail. Idempotent. */
    @Override
    public void abort(Throwable cause) {
        if (failure.compareAndSet(null, cause) && released.compareAndSet(false, true)) {
            nccl.ncclCommAbort(comm);
        }
    }

    @Override
    public @Nullable Throwable failure() {
        return failure.get();
    }

    /** Destroys the communicator (unless aborted, which freed it) and its stream; idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (released.compareAndSet(false, true)) {
            nccl.ncclCommDestroy(comm);
        }
        cudaStreamDestroy(stream);
    }

    private static void check(int status, String call) {
        if (status != nccl.ncclSuccess) {
            throw new CommunicatorException(call + ": " + errorString(status) + " (" + status + ")");
        }
    }

    private static String errorString(int status) {
        BytePointer text = nccl.ncclGetErrorString(status);
        return text == null ? "?" : text.getString();
    }
}
