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
 * The all-reduce of a tensor-parallel CUDA rank through host memory: the device buffer is copied to pinned host
 * memory, summed over the ranks by a host {@link Communicator} (the in-process one), and copied back. It works for
 * ranks that share a device, which NCCL refuses, so that a split is proven on one GPU; it synchronizes the rank's
 * stream at every call (no CUDA graphs), so it is for correctness, not speed. Owns its pinned buffer.
 */
final class HostStagedAllReduce implements AutoCloseable {
    private final Communicator communicator;
    private final DeviceMemory memory;
    private MemorySegment staging = MemorySegment.NULL;

    HostStagedAllReduce(Communicator communicator, DeviceMemory memory) {
        this.communicator = communicator;
        this.memory = memory;
    }

    /**
     * Replaces {@code floats} float32 values at device address {@code device} by their sum over the ranks, in the
     * order of {@code stream}: the launches before it are waited for, those after it see the sum.
     */
    void sum(long device, long floats, CUstream_st stream) {
        long bytes = floats * Float.BYTES;
        if (staging.byteSize() < bytes) {
            memory.freeHost(staging);
            staging = MemorySegment.NULL;
            staging = memory.allocHost(Math.max(bytes, 1L << 20));
        }
        check(cudaMemcpyAsync(at(staging.address()), at(device), bytes, cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync(all-reduce to host)");
        Cuda.sync(stream);
        communicator.allReduceSum(staging.asSlice(0, bytes));
        // The next call copies into the staging buffer only after syncing the stream, which this copy is on.
        check(cudaMemcpyAsync(at(device), at(staging.address()), bytes, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync(all-reduce to device)");
    }

    @Override
    public void close() {
        memory.freeHost(staging);
        staging = MemorySegment.NULL;
    }
}
