package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;

import org.bytedeco.cuda.cudart.cudaDeviceProp;

/**
 * A CUDA device as the runtime reports it.
 *
 * @param ordinal          device index
 * @param name             e.g. {@code NVIDIA H100 80GB HBM3}
 * @param major            compute capability, major (9 on Hopper)
 * @param minor            compute capability, minor
 * @param multiprocessors  streaming multiprocessors
 * @param totalMemoryBytes device memory
 * @param runtimeVersion   CUDA runtime version (e.g. 13000)
 * @param driverVersion    CUDA version the driver supports
 */
record CudaDevice(int ordinal, String name, int major, int minor, int multiprocessors, long totalMemoryBytes,
                  int runtimeVersion, int driverVersion) {
    /** Oldest compute capability with BF16 tensor cores (Ampere). */
    static final int MIN_MAJOR = 8;

    /** Device {@code ordinal}; loads the CUDA runtime natives. */
    static CudaDevice query(int ordinal) {
        int[] count = new int[1];
        check(cudaGetDeviceCount(count), "cudaGetDeviceCount");
        if (ordinal >= count[0]) {
            throw new CudaException("CUDA device " + ordinal + " does not exist (" + count[0] + " devices)", 101);
        }
        int[] runtime = new int[1];
        int[] driver = new int[1];
        check(cudaRuntimeGetVersion(runtime), "cudaRuntimeGetVersion");
        check(cudaDriverGetVersion(driver), "cudaDriverGetVersion");
        try (var p = new cudaDeviceProp()) {
            check(cudaGetDeviceProperties(p, ordinal), "cudaGetDeviceProperties");
            return new CudaDevice(ordinal, p.name().getString(), p.major(), p.minor(), p.multiProcessorCount(),
                    p.totalGlobalMem(), runtime[0], driver[0]);
        }
    }

    /** The NVRTC target, e.g. {@code sm_90}. */
    String smArch() {
        return "sm_" + major + minor;
    }

    @Override
    public String toString() {
        return name + " (" + smArch() + ", " + multiprocessors + " SMs, " + totalMemoryBytes / (1L << 20) + " MiB, CUDA runtime "
                + runtimeVersion / 1000 + "." + runtimeVersion % 1000 / 10 + ")";
    }
}
