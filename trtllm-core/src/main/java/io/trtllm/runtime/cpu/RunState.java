package io.trtllm.runtime.cpu;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.SequenceChunk;

/**
 * The activations of a {@link CpuModelRunner} pass and where each of its rows comes from (llama2.c's
 * {@code RunState}): row {@code t} of every matrix below is token {@code t} of the batch, chunks in
 * order. Grown to the largest batch seen, so that a pass allocates nothing else. Arrays the kernels
 * write with masked vector stores keep {@link #PAD} floats of slack.
 */
final class RunState {
    /** Floats of slack after scratch arrays that masked vector accesses reach into (one 512-bit vector and more). */
    static final int PAD = 64;

    private final ModelConfig config;
    private int capacity;

    /** The residual stream, {@code (T, dim)}. */
    float[] x = new float[0];
    /** A normed copy of {@code x} or a projection back to {@code dim}, {@code (T, max(dim, qDim))}. */
    float[] xb = new float[0];
    /** q, k and v side by side, {@code (T, qDim + 2·kvDim)}. */
    float[] qkv = new float[0];
    /** The attention output, {@code (T, qDim)}. */
    float[] att = new float[0];
    /** Gate and up projections side by side, {@code (T, 2·inter)}. */
    float[] gateUp = new float[0];
    /** {@code silu(gate) * up}, {@code (T, inter)}. */
    float[] hidden = new float[0];
    /** Per row: its position in its sequence, its chunk, its token id. */
    int[] rowPosition = new int[0];
    int[] rowChunk = new int[0];
    int[] rowToken = new int[0];
    /** Per row: cos then sin of its position times each rotary frequency ({@code headDim} floats). */
    float[] rotary = new float[0];
    /** Per chunk of the pass: whether it has a single row (a decode step), and its block table. */
    boolean[] singleRow = new boolean[0];
    int[][] blockTables = new int[0][];

    RunState(ModelConfig config) {
        this.config = config;
    }

    /** Grows the buffers to {@code batch} and fills the per-row and per-chunk maps. */
    void prepare(Batch batch) {
        ensureCapacity(batch.tokenCount());
        int chunks = batch.chunks().size();
        blockTables = new int[chunks][];
        if (singleRow.length < chunks) {
            singleRow = new boolean[chunks];
        }
        int row = 0;
        for (int c = 0; c < chunks; c++) {
            SequenceChunk chunk = batch.chunks().get(c);
            blockTables[c] = chunk.blockTable();
            singleRow[c] = chunk.length() == 1;
            for (int i = 0; i < chunk.length(); i++, row++) {
                rowPosition[row] = chunk.startPosition() + i;
                rowChunk[row] = c;
                rowToken[row] = chunk.tokenId(i);
            }
        }
    }

    private void ensureCapacity(int tokens) {
        if (tokens <= capacity) {
            return;
        }
        ModelConfig c = config;
        capacity = tokens;
        // multiplyExact: a batch too large for Java arrays fails here with a clear exception.
        x = new float[Math.multiplyExact(tokens, c.hiddenSize())];
        xb = new float[Math.multiplyExact(tokens, Math.max(c.hiddenSize(), c.qDim())) + PAD];
        qkv = new float[Math.multiplyExact(tokens, c.qDim() + 2 * c.kvDim()) + PAD];
        att = new float[Math.multiplyExact(tokens, c.qDim()) + PAD];
        gateUp = new float[Math.multiplyExact(tokens, 2 * c.intermediateSize()) + PAD];
        hidden = new float[Math.multiplyExact(tokens, c.intermediateSize()) + PAD];
        rowPosition = new int[tokens];
        rowChunk = new int[tokens];
        rowToken = new int[tokens];
        rotary = new float[Math.multiplyExact(tokens, c.headDim())];
    }
}
