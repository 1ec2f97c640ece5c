package io.trtllm.runtime.cuda;

import static org.bytedeco.cuda.global.cublas.cublasGetStatusString;
import static org.bytedeco.cuda.global.cudart.cuGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetErrorString;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.jspecify.annotations.Nullable;

/** Status checks of the CUDA libraries, raw device addresses as javacpp pointers, stream waits. */
final class Cuda {
    /** cudaErrorMemoryAllocation: the one runtime error that leaves the context usable. */
    static final int OUT_OF_MEMORY = 2;
    /** CUDA_ERROR_OUT_OF_MEMORY, CUBLAS_STATUS_ALLOC_FAILED, NVRTC_ERROR_OUT_OF_MEMORY. */
    private static final int DRIVER_OUT_OF_MEMORY = 2;
    private static final int CUBLAS_ALLOC_FAILED = 3;
    private static final int NVRTC_OUT_OF_MEMORY = 1;

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

    /** The CUDA runtime's words for a status (cudaError_t). */
    static String errorString(int status) {
        BytePointer text = cudaGetErrorString(status);
        return text == null ? "?" : text.getString();
    }

    /** Checks a CUDA runtime status (cudaError_t). */
    static void check(int status, String call) {
        if (status != 0) {
            throw failure("CUDA error", call, cudaGetErrorString(status), status, status == OUT_OF_MEMORY);
        }
    }

    /** Checks a CUDA driver status (CUresult). */
    static void checkDriver(int status, String call) {
        if (status != 0) {
            try (PointerPointer<?> p = new PointerPointer<>(1)) {
                BytePointer text = cuGetErrorString(status, p) == 0 && p.get(0) != null ? new BytePointer(p.get(0)) : null;
                throw failure("CUDA driver error", call, text, status, status == DRIVER_OUT_OF_MEMORY);
            }
        }
    }

    /** Checks a cuBLAS status (cublasStatus_t). */
    static void checkBlas(int status, String call) {
        if (status != 0) {
            throw failure("cuBLAS error", call, cublasGetStatusString(status), status, status == CUBLAS_ALLOC_FAILED);
        }
    }

    /** Checks an NVRTC status (nvrtcResult). */
    static void checkNvrtc(int status, String call) {
        if (status != 0) {
            throw failure("NVRTC error", call, nvrtcGetErrorString(status), status, status == NVRTC_OUT_OF_MEMORY);
        }
    }

    /** Waits for the work on {@code stream} (returns at once for a stream never created). */
    static void sync(CUstream_st stream) {
        if (!stream.isNull()) {
            check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
        }
    }

    private static CudaException failure(String kind, String call, @Nullable BytePointer text, int status,
                                         boolean outOfMemory) {
        return new CudaException(kind + " in " + call + ": " + (text == null ? "?" : text.getString()) + " (" + status + ")",
                status, outOfMemory);
    }
}
