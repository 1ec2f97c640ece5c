package io.trtllm.runtime.cuda;

import io.trtllm.model.ModelConfig;

/**
 * The activations of a {@link CudaModelRunner} pass on the device, one row per token, grown on demand
 * to a power of two of rows (at least {@value #MIN_ROWS}), so that a pass allocates nothing otherwise.
 * "bf16" stands for the runner's 16-bit type. Owns its device memory.
 */
final class ActivationBuffers implements AutoCloseable {
    static final int MIN_ROWS = 64;

    private final ModelConfig config;
    private final DeviceMemory memory;
    /** Run before buffers are replaced: whatever holds their addresses (captured graphs) lets go, the stream drains. */
    private final Runnable beforeReplace;
    private int capacity;
    /** The residual stream, {@code (rows, dim)} f32. */
    long x;
    /** A normed row, the GEMMs' input, {@code (rows, dim)} bf16. */
    long xn;
    /** q, k and v side by side, {@code (rows, qDim + 2·kvDim)} f32. */
    long qkv;
    /** The attention output, {@code (rows, qDim)} bf16. */
    long att;
    /**
     * Gate and up side by side, {@code (rows, 2·inter)} f32; at least {@code (rows, dim)}, since FP8 GEMMs
     * that scale in a separate epilogue use it as their raw output before adding to {@code x}.
     */
    long gateUp;
    /** {@code silu(gate) * up}, {@code (rows, inter)} bf16. */
    long hidden;
    /** FP8 GEMMs' inputs ({@link #fp8}): E4M3 codes {@code (rows, max(dim, qDim, inter))}, 0 otherwise. */
    long q8;
    /** Their per-token scales, {@code rows} f32; 0 without FP8 GEMMs. */
    long q8Scales;
    private boolean fp8;

    ActivationBuffers(ModelConfig config, DeviceMemory memory, Runnable beforeReplace) {
        this.config = config;
        this.memory = memory;
        this.beforeReplace = beforeReplace;
    }

    /** Adds the FP8 GEMMs' input buffers ({@link #q8}, {@link #q8Scales}) from the next growth on; call before the first. */
    void fp8() {
        if (capacity > 0) {
            throw new IllegalStateException("the FP8 buffers are added before the first ensure");
        }
        fp8 = true;
    }

    /** Rows the buffers hold now. */
    int capacity() {
        return capacity;
    }

    /** Grows the buffers to at least {@code rows} rows. */
    void ensure(int rows) {
        if (rows <= capacity) {
            return;
        }
        ModelConfig c = config;
        int cap = Math.max(MIN_ROWS, Integer.highestOneBit(rows - 1) << 1);
        beforeReplace.run();
        free();
        // Until the new buffers exist, nothing is held: an allocation that fails (out of memory, which
        // leaves the runner usable) makes the next pass allocate again instead of using freed memory.
        String what = "activations of " + cap + " rows";
        x = memory.alloc((long) cap * c.hiddenSize() * Float.BYTES, what);
        xn = memory.alloc((long) cap * c.hiddenSize() * Short.BYTES, what);
        qkv = memory.alloc((long) cap * (c.qDim() + 2 * c.kvDim()) * Float.BYTES, what);
        att = memory.alloc((long) cap * c.qDim() * Short.BYTES, what);
        gateUp = memory.alloc((long) cap * Math.max(2 * c.intermediateSize(), c.hiddenSize()) * Float.BYTES, what);
        hidden = memory.alloc((long) cap * c.intermediateSize() * Short.BYTES, what);
        if (fp8) {
            q8 = memory.alloc((long) cap * Math.max(c.hiddenSize(), Math.max(c.qDim(), c.intermediateSize())), what);
            q8Scales = memory.alloc((long) cap * Float.BYTES, what);
        }
        capacity = cap;
    }

    private void free() {
        for (long a : new long[] {x, xn, qkv, att, gateUp, hidden, q8, q8Scales}) {
            memory.free(a);
        }
        capacity = 0;
        x = xn = qkv = att = gateUp = hidden = q8 = q8Scales = 0;
    }

    /** Frees the buffers; idempotent. */
    @Override
    public void close() {
        free();
    }
}
