package io.trtllm.runtime.cuda;

/**
 * The partial results of split decode attention (kernels.cu's {@code attention_decode} writes one
 * {@code (max, sum, acc[headDim])} f32 record per row, head and split; {@code attention_reduce} reads
 * them), grown on demand to a power of two of bytes so that a pass allocates nothing otherwise. Owns its
 * device memory.
 */
final class AttentionScratch implements AutoCloseable {
    private final DeviceMemory memory;
    /** Run before the buffer is replaced: whatever holds its address (captured graphs) lets go, the stream drains. */
    private final Runnable beforeReplace;
    private long address;
    private long bytes;

    AttentionScratch(DeviceMemory memory, Runnable beforeReplace) {
        this.memory = memory;
        this.beforeReplace = beforeReplace;
    }

    /** Grows the buffer to at least {@code needed} bytes. */
    void ensure(long needed) {
        if (needed <= bytes) {
            return;
        }
        long cap = Math.max(1L << 20, Long.highestOneBit(needed - 1) << 1);
        beforeReplace.run();
        close();
        address = memory.alloc(cap, "split attention partials of " + cap + " bytes");
        bytes = cap;
    }

    /** The buffer's device address (0 before the first {@link #ensure}: kernels then never read it). */
    long address() {
        return address;
    }

    /** Frees the buffer; idempotent. */
    @Override
    public void close() {
        memory.free(address);
        address = 0;
        bytes = 0;
    }
}
