package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.runtime.Communicator;
import java.lang.foreign.MemorySegment;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * A CUDA rank's exchanges through host memory: the device buffer is copied to pinned host memory, summed or sent
 * by a host {@link Communicator} (the in-process one), and a received or summed buffer is copied back. It works for
 * ranks that share a device, which NCCL refuses, so that a split is proven on one GPU; it synchronizes the rank's
 * stream at every call (no CUDA graphs), so it is for correctness, not speed. Owns its pinned buffer.
 */
final class HostStagedExchange implements DeviceExchange {
    private final Communicator communicator;
    private final DeviceMemory memory;
    private MemorySegment staging = MemorySegment.NULL;

    HostStagedExchange(Communicator communicator, DeviceMemory memory) {
        this.communicator = communicator;
        this.memory = memory;
    }

    @Override
    public void allReduceSum(long device, long floats, CUstream_st stream) {
        MemorySegment host = toHost(device, floats, stream);
        communicator.allReduceSum(host);
        toDevice(host, device, stream);
    }

    @Override
    public void send(long device, long floats, int peer, CUstream_st stream) {
        communicator.send(toHost(device, floats, stream), peer); // the in-process send copies: the buffer is free again
    }

    @Override
    public void receive(long device, long floats, int peer, CUstream_st stream) {
        Cuda.sync(stream); // an earlier copy out of the staging buffer may still be queued
        MemorySegment host = staging(floats, stream);
        communicator.receive(host, peer);
        toDevice(host, device, stream);
    }

    @Override
    public String path() {
        return "host-staged";
    }

    /** The device buffer in the staging buffer, the stream drained. */
    private MemorySegment toHost(long device, long floats, CUstream_st stream) {
        MemorySegment host = staging(floats, stream);
        check(cudaMemcpyAsync(at(host.address()), at(device), host.byteSize(), cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync(rank exchange to host)");
        Cuda.sync(stream);
        return host;
    }

    /** Queues the copy back; the next call writes the staging buffer only after draining the stream it is on. */
    private void toDevice(MemorySegment host, long device, CUstream_st stream) {
        check(cudaMemcpyAsync(at(device), at(host.address()), host.byteSize(), cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync(rank exchange to device)");
    }

    /** The first {@code floats} floats of the staging buffer, grown (after draining the stream) when short. */
    private MemorySegment staging(long floats, CUstream_st stream) {
        long bytes = floats * Float.BYTES;
        if (staging.byteSize() < bytes) {
            Cuda.sync(stream);
            memory.freeHost(staging);
            staging = MemorySegment.NULL;
            staging = memory.allocHost(Math.max(bytes, 1L << 20));
        }
        return staging.asSlice(0, bytes);
    }

    @Override
    public void close() {
        memory.freeHost(staging);
        staging = MemorySegment.NULL;
    }
}
