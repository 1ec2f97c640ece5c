package io.trtllm.runtime.cpu;

/** Rows of a matrix read one at a time as floats: the embedding lookup's view of its table. */
interface RowSource {

    /** Copies row {@code row} as floats into {@code out[offset ..]}. */
    void row(int row, float[] out, int offset);
}
