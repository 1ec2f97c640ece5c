package io.trtllm.runtime.cuda;

import static org.bytedeco.cuda.global.cublas.cublasGetStatusString;
import static org.bytedeco.cuda.global.cudart.cuGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetErrorString;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/** Status checks of the CUDA libraries and raw device addresses as javacpp pointers. */
final class Cuda {
    /** cudaErrorMemoryAllocation: the one runtime error that leaves the context usable. */
    static final int OUT_OF_MEMORY = 2;

    private Cuda() {
    }

    /** A javacpp pointer holding a raw address (device or host), owning nothing. */
    static final class Address extends Pointer {
        Address(long address) {
            this.address = address;
        }
    }

    static Pointer at(long address) {
        return new Address(address);
    }

    /** Checks a CUDA runtime status (cudaError_t). */
    static void check(int status, String call) {
        if (status != 0) {
            BytePointer s = cudaGetErrorString(status);
            throw new CudaException("CUDA error in " + call + ": " + (s == null ? "?" : s.getString()) + " (" + status + ")",
                    status);
        }
    }

    /** Checks a CUDA driver status (CUresult). */
    static void checkDriver(int status, String call) {
        if (status != 0) {
            String text = "?";
            try (PointerPointer<?> p = new PointerPointer<>(1)) {
                if (cuGetErrorString(status, p) == 0 && p.get(0) != null) {
                    text = new BytePointer(p.get(0)).getString();
                }
            }
            throw new CudaException("CUDA driver error in " + call + ": " + text + " (" + status + ")", status);
        }
    }

    /** Checks a cuBLAS status (cublasStatus_t). */
    static void checkBlas(int status, String call) {
        if (status != 0) {
            BytePointer s = cublasGetStatusString(status);
            throw new CudaException("cuBLAS error in " + call + ": " + (s == null ? "?" : s.getString()) + " (" + status + ")",
                    status);
        }
    }

    /** Checks an NVRTC status (nvrtcResult). */
    static void checkNvrtc(int status, String call) {
        if (status != 0) {
            BytePointer s = nvrtcGetErrorString(status);
            throw new CudaException("NVRTC error in " + call + ": " + (s == null ? "?" : s.getString()) + " (" + status + ")",
                    status);
        }
    }
}
