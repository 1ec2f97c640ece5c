package io.trtllm.api;

/**
 * Raw logits rows of a request, row-major: TensorRT-LLM's {@code context_logits} (one row per prompt
 * position; row p scores the token after position p) or {@code generation_logits} (one row per generated
 * token, the distribution it was chosen from, before penalties and temperature).
 *
 * <p>The array is this record's own (filled once per request); do not modify it.
 *
 * @param rows      number of rows
 * @param vocabSize values per row
 * @param values    {@code rows × vocabSize} floats
 */
public record Logits(int rows, int vocabSize, float[] values) {
    public Logits {
        if (rows < 0 || vocabSize <= 0 || (long) rows * vocabSize != values.length) {
            throw new IllegalArgumentException("logits of " + rows + " rows × " + vocabSize + " need " + (long) rows * vocabSize
                    + " values, got " + values.length);
        }
    }

    /** A copy of row {@code r}. */
    public float[] row(int r) {
        java.util.Objects.checkIndex(r, rows);
        return java.util.Arrays.copyOfRange(values, r * vocabSize, (r + 1) * vocabSize);
    }
}
