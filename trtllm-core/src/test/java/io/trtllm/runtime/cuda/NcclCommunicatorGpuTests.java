package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;

import io.trtllm.runtime.Communicator;
import io.trtllm.runtime.CommunicatorException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;
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

    /**
     * The path CUDA ranks on distinct devices take, at world size 1: the all-reduce enqueued on the rank's own stream
     * (not the communicator's) and not waited for; then a wait on that stream that outlives its 300 ms timeout (a
     * kernel spinning ≈ 1.5 s) gives up and aborts the communicator ({@code ncclCommAbort}), and every later call
     * fails at once. The exception's message is only thrown by the deadline, so it proves the wait noticed the
     * timeout while the stream was busy; the abort itself frees device memory, which waits for the device's other
     * kernels (the GPU run of 2026-12-07: 5.0 s with a 5 s spin), so the elapsed time is bounded by the spin, not
     * by the timeout. A peer that never comes is different: its kernel is NCCL's own, which the abort ends.
     */
    @Test
    void onTheRanksStreamTheSumIsEnqueuedAndAWaitPastTheTimeoutAbortsTheCommunicator() {
        float[] values = {0.5f, -1f, 2f};
        long buffer = upload(values);
        CUstream_st stream = new CUstream_st();
        Cuda.check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        try (KernelModule kernels = new KernelModule(CudaDevice.query(0).smArch(), List.of("DIM=64", "HEAD_DIM=16",
                "N_HEADS=4", "N_KV_HEADS=2", "INTER=128", "EPS=1e-5f", "WINDOW=0", "HAS_QKV_BIAS=0", "HAS_QK_NORM=0",
                "KV_BF16=1"))) {
            NcclCommunicator comm = NcclCommunicator.initAll(new int[] {0}, Duration.ofMillis(300)).getFirst();
            try (comm; DeviceExchange exchange = new DeviceExchange.Nccl(comm)) {
                assertThat(exchange.path()).isEqualTo("NCCL");
                exchange.allReduceSum(buffer, values.length, stream);
                Cuda.sync(stream);
                assertThat(download(buffer, values.length)).containsExactly(values);

                kernels.args().i64(3_000_000_000L).launch(kernels.function("spin_wait"), "spin_wait", 1, 1, 1, stream);
                long start = System.nanoTime();
                assertThatThrownBy(() -> comm.await(stream, "a rank's pass")).isInstanceOf(CommunicatorException.class)
                        .hasMessageContaining("did not complete within 300 ms; the communicator is aborted");
                double seconds = (System.nanoTime() - start) / 1e9;
                GpuResults.record("NCCL on a rank's stream: sum enqueued; a wait past its 300 ms timeout aborted the "
                        + "communicator; the abort returned after %.3f s (it waits for the spin kernel)", seconds);
                assertThat(seconds).as("seconds until the wait gave up and the abort returned (the spin lasts ≈ 1.5 s)")
                        .isLessThan(6.0);
                assertThat(comm.failure()).isInstanceOf(CommunicatorException.class);
                long refused = System.nanoTime();
                assertThatThrownBy(() -> exchange.allReduceSum(buffer, values.length, stream))
                        .isInstanceOf(CommunicatorException.class).hasMessageContaining("was aborted");
                assertThat(System.nanoTime() - refused).isLessThan(100_000_000L);
            }
            Cuda.sync(stream); // the spin ends
        } finally {
            cudaStreamDestroy(stream);
            cudaFree(Cuda.at(buffer));
        }
    }
}
