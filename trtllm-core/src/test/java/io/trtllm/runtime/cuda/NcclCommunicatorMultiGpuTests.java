package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * NCCL across every local GPU (a machine with two or more; skipped, and reported as skipped, on one): one
 * communicator per device through {@code ncclCommInitAll}, a thread per rank as the rank driver runs them;
 * all-reduce, all-gather and a pipeline send between neighbours carry the right values. The command is in
 * docs/GPU-TESTS.md.
 */
@Tag("gpu")
@Tag("gpu-multi")
class NcclCommunicatorMultiGpuTests {

    @Test
    void everyLocalGpuAllReducesGathersAndPassesActivationsOn() throws Exception {
        int[] count = new int[1];
        Cuda.check(cudaGetDeviceCount(count), "cudaGetDeviceCount");
        int n = count[0];
        Assumptions.assumeTrue(n >= 2, "needs two or more GPUs, found " + n);
        int[] devices = new int[n];
        for (int i = 0; i < n; i++) {
            devices[i] = i;
        }
        var comms = NcclCommunicator.initAll(devices, Duration.ofSeconds(60));
        int floats = 1 << 20;
        try (var pool = Executors.newFixedThreadPool(n)) {
            List<Future<float[][]>> results = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                results.add(pool.submit(() -> {
                    Cuda.check(cudaSetDevice(rank), "cudaSetDevice");
                    var comm = comms.get(rank);
                    float[] mine = new float[floats];
                    java.util.Arrays.fill(mine, rank + 1);
                    long buffer = NcclCommunicatorGpuTests.upload(mine);
                    long gathered = NcclCommunicatorGpuTests.upload(new float[floats * n]);
                    long passed = NcclCommunicatorGpuTests.upload(new float[4]);
                    try {
                        long t0 = System.nanoTime();
                        comm.allReduceSum(NcclCommunicatorGpuTests.device(buffer, floats));
                        long reduceNanos = System.nanoTime() - t0;
                        if (rank == 0) {
                            GpuResults.record("NCCL all-reduce of %d floats over %d GPUs: %.3f ms", floats, n, reduceNanos / 1e6);
                        }
                        comm.allGather(NcclCommunicatorGpuTests.device(passed, 1), NcclCommunicatorGpuTests.device(gathered, n));
                        // Stage 0 → 1 as a pipeline passes activations.
                        if (rank == 0) {
                            long out = NcclCommunicatorGpuTests.upload(new float[] {7, 8, 9, 10});
                            comm.send(NcclCommunicatorGpuTests.device(out, 4), 1);
                            cudaFree(Cuda.at(out));
                        } else if (rank == 1) {
                            comm.receive(NcclCommunicatorGpuTests.device(passed, 4), 0);
                        }
                        return new float[][] {NcclCommunicatorGpuTests.download(buffer, 4),
                                NcclCommunicatorGpuTests.download(passed, 4)};
                    } finally {
                        cudaFree(Cuda.at(buffer));
                        cudaFree(Cuda.at(gathered));
                        cudaFree(Cuda.at(passed));
                    }
                }));
            }
            float sum = n * (n + 1) / 2f;
            for (int r = 0; r < n; r++) {
                float[][] got = results.get(r).get(120, TimeUnit.SECONDS);
                assertThat(got[0]).as("rank %d all-reduce", r).containsOnly(sum);
                if (r == 1) {
                    assertThat(got[1]).containsExactly(7, 8, 9, 10);
                }
            }
        } finally {
            comms.forEach(NcclCommunicator::close);
        }
    }
}
