package io.trtllm.runtime.cuda;

import io.trtllm.runtime.SequenceChunk;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * For GPU tests outside this package: a {@link PassHook} that makes one rank of a split model throw in the middle of
 * serving (a rank thread failing mid-step), and the device's free memory.
 */
public final class RankFaults {

    private RankFaults() {
    }

    /**
     * Makes the runners constructed from now on throw {@code IllegalStateException("injected failure on rank r")} at
     * the start of rank {@code rank}'s first pass whose tokens include {@code token}, before its launches; the other
     * ranks' passes, and this rank's others, run as usual. Undo with {@link #clear()} once the model is loaded.
     */
    public static void throwOnRank(int rank, int token) {
        String thread = "trtllm-rank-" + rank;
        AtomicBoolean thrown = new AtomicBoolean();
        CudaModelRunner.installPassHook((chunks, kernels, stream) -> {
            if (!Thread.currentThread().getName().equals(thread) || thrown.get()) {
                return;
            }
            for (SequenceChunk chunk : chunks) {
                for (int i = 0; i < chunk.length(); i++) {
                    if (chunk.tokenId(i) == token && thrown.compareAndSet(false, true)) {
                        throw new IllegalStateException("injected failure on rank " + rank + " (a pass with token " + token + ")");
                    }
                }
            }
        });
    }

    /** Runners constructed from now on have no hook. */
    public static void clear() {
        CudaModelRunner.installPassHook(null);
    }

    /** Free memory of the current device, in bytes ({@code cudaMemGetInfo}). */
    public static long freeDeviceBytes() {
        return DeviceMemory.freeBytes();
    }
}
