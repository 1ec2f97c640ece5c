package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.runtime.Communicator;
import io.trtllm.runtime.CommunicatorException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The NCCL binding path on one GPU (world size 1): the library loads, a communicator forms both ways
 * ({@code ncclCommInitAll}, unique id + {@code ncclCommInitRank}), all-reduce and all-gather run on device
 * memory and give the sum over one rank, and an aborted communicator fails every later call at once.
 * Multi-GPU runs: docs/GPU-TESTS.md.
 */
@Tag("gpu")
class NcclCommunicatorGpuTests {
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** {@code values} copied into new device memory: its pointer, freed by the caller. */
    static long upload(float[] values) {
        Pointer p = new Pointer();
        Cuda.check(cudaMalloc(p, values.length * 4L), "cudaMalloc");
        try (FloatPointer host = new FloatPointer(values)) {
            Cuda.check(cudaMemcpy(p, host, values.length * 4L, cudaMemcpyHostToDevice), "cudaMemcpy");
        }
        return p.address();
    }

    static float[] download(long address, int n) {
        float[] out = new float[n];
        try (FloatPointer host = new FloatPointer(n)) {
            Cuda.check(cudaMemcpy(host, Cuda.at(address), n * 4L, cudaMemcpyDeviceToHost), "cudaMemcpy");
            host.get(out);
        }
        return out;
    }

    static MemorySegment device(long address, int floats) {
        return MemorySegment.ofAddress(address).reinterpret(floats * 4L);
    }

    @Test
    void worldSizeOneAllReducesAndGathersOnTheDeviceAndAbortFailsLaterCalls() {
        String version = NcclCommunicator.version();
        GpuResults.record("NCCL %s", version);
        assertThat(version).matches("\\d+\\.\\d+\\.\\d+");
        float[] values = {1.5f, -2f, 3.25f, 1e-3f, 7f};
        long buffer = upload(values);
        long gathered = upload(new float[values.length]);
        try {
            var comms = NcclCommunicator.initAll(new int[] {0}, TIMEOUT);
            assertThat(comms).hasSize(1);
            try (Communicator comm = comms.getFirst()) {
                assertThat(comm.rank()).isZero();
                assertThat(comm.size()).isEqualTo(1);
                comm.allReduceSum(device(buffer, values.length));
                assertThat(download(buffer, values.length)).containsExactly(values);
                comm.allGather(device(buffer, values.length), device(gathered, values.length));
                assertThat(download(gathered, values.length)).containsExactly(values);
                // Heap arrays have no device address: refused, not read as one.
                assertThatThrownBy(() -> comm.allReduceSum(new float[4], 0, 4)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("device memory");

                comm.abort(new IllegalStateException("rank 0 lost its peer"));
                assertThat(comm.failure()).hasMessage("rank 0 lost its peer");
                assertThatThrownBy(() -> comm.allReduceSum(device(buffer, values.length)))
                        .isInstanceOf(CommunicatorException.class).hasMessageContaining("rank 0 lost its peer");
            }
        } finally {
            cudaFree(Cuda.at(buffer));
            cudaFree(Cuda.at(gathered));
        }
    }

    @Test
    void aUniqueIdFormsAGroupOfOneRank() {
        byte[] id = NcclCommunicator.uniqueId();
        assertThat(id).hasSize(128);
        assertThatThrownBy(() -> NcclCommunicator.initRank(new byte[3], 1, 0, 0, TIMEOUT))
                .hasMessageContaining("has 128 bytes, got 3");
        float[] values = {4f, 5f, 6f};
        long buffer = upload(values);
        try (var comm = NcclCommunicator.initRank(id, 1, 0, 0, TIMEOUT)) {
            comm.allReduceSum(device(buffer, values.length));
            assertThat(download(buffer, values.length)).containsExactly(values);
            assertThat(comm.device()).isZero();
        } finally {
            cudaFree(Cuda.at(buffer));
        }
    }
}
