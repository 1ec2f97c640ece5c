package io.trtllm.runtime.cuda;

/** A CUDA, cuBLAS or NVRTC call failed; the message names the call and the library's error. */
public final class CudaException extends RuntimeException {
    private final int code;
    private final boolean outOfMemory;

    CudaException(String message, int code) {
        this(message, code, false);
    }

    CudaException(String message, int code, boolean outOfMemory) {
        super(message);
        this.code = code;
        this.outOfMemory = outOfMemory;
    }

    /**
     * Whether the library ran out of memory: the one error that leaves a CUDA context usable (the pass
     * that asked fails; the next may succeed). Any other error may have corrupted it.
     */
    public boolean outOfMemory() {
        return outOfMemory;
    }

    /** The library's status code (cudaError_t, CUresult, cublasStatus_t or nvrtcResult). */
    public int code() {
        return code;
    }
}
