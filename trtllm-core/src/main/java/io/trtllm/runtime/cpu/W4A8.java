package io.trtllm.runtime.cpu;

/**
 * W4A8: INT4 weights times activations quantized to int8, as llama.cpp multiplies Q4_0 weights by Q8_0
 * activations and TensorRT-LLM's W4A8 recipes do on a GPU. Float32 arithmetic cannot beat llama.cpp's Q4_0
 * prefill on this machine (our float32 matmul already runs near the FMA peak); integer products can: a
 * 16-bit multiply and add handles twice the lanes of a float FMA ({@link VectorW4A8}).
 *
 * <p>The arithmetic, for token {@code t} and output row {@code j} (this class is its scalar reference):
 * <ol>
 *   <li>Each block of {@value #BLOCK} activations is quantized on its own (Q8_0's blocks): {@code a = max|x|},
 *       scale {@code d = a / 127}, {@code q(k) = rint(x(k) · (127 / a))} in {@code [-127, 127]} (0 when
 *       {@code a = 0}). A block holding an infinity or NaN gets {@code q = 0} and {@code d = NaN}: the row's
 *       outputs become NaN, as float32 arithmetic would make them.</li>
 *   <li>Per block, {@code Σ_k q(k) · w(j, k)} is an exact integer: at most 32 · 127 · 7 = 28,448, so even
 *       16-bit lanes hold it without overflow.</li>
 *   <li>The block sums are folded in block order, {@code f = fma(sum, d, f)}; at the end of each INT4 weight
 *       group {@code total = fma(f, s(j, g), total)} and {@code f = 0}.</li>
 * </ol>
 * So a token's outputs depend on that token alone: the same bits whichever tokens share the matmul and
 * whichever kernel (one token, four tokens, vector or scalar) computes them. That is how the engine stays
 * batch invariant while every INT4 matmul, decode and prefill, runs this path.
 *
 * <p>It applies to INT4 matrices whose group size is a multiple of {@value #BLOCK} ({@link #supports});
 * others keep the weight-only kernels. {@code -D}{@value #PROPERTY}{@code =float32} keeps the weight-only
 * (W4A16-like, float32 activations) kernels everywhere.
 */
final class W4A8 {
    /** Property: {@code int8} (the default) runs INT4 matmuls as W4A8; {@code float32} keeps float activations. */
    static final String PROPERTY = "trtllm.cpu.int4Activations";
    /** Activations per quantization block (llama.cpp's Q8_0 block). */
    static final int BLOCK = 32;
    private static final boolean ENABLED = enabled(System.getProperty(PROPERTY));

    private W4A8() {
    }

    /** Whether {@code value} of {@value #PROPERTY} selects int8 activations; rejects unknown values by name. */
    static boolean enabled(String value) {
        if (value == null || value.equals("int8")) {
            return true;
        }
        if (value.equals("float32")) {
            return false;
        }
        throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + ": expected int8 or float32");
    }

    /** Whether this JVM runs INT4 matmuls of {@link #supports supported} shapes as W4A8. */
    static boolean enabled() {
        return ENABLED;
    }

    /** Whether {@code w} is INT4 with groups of whole activation blocks. */
    static boolean supports(PackedMatrix w) {
        return w.format() == PackedMatrix.Format.INT4 && w.groupSize() % BLOCK == 0;
    }

    /**
     * Quantizes tokens {@code [t0, t1)} of {@code x} ({@code cols} floats each, a multiple of {@value #BLOCK}):
     * {@code q[(t - t0) · cols + k]} and {@code scales[(t - t0) · cols / BLOCK + b]} as the class comment says.
     */
    static void quantize(float[] x, int t0, int t1, int cols, short[] q, float[] scales) {
        int blocks = cols / BLOCK;
        for (int t = t0; t < t1; t++) {
            for (int b = 0; b < blocks; b++) {
                int from = t * cols + b * BLOCK;
                int to = (t - t0) * cols + b * BLOCK;
                float amax = 0f;
                for (int k = 0; k < BLOCK; k++) {
                    amax = Math.max(amax, Math.abs(x[from + k]));
                }
                scales[(t - t0) * blocks + b] = blockScale(amax);
                float inv = inverse(amax);
                for (int k = 0; k < BLOCK; k++) {
                    q[to + k] = Float.isFinite(amax) ? (short) clamp((int) Math.rint(x[from + k] * inv)) : 0;
                }
            }
        }
    }

    /** The block's scale {@code d}: {@code max|x| / 127}, NaN for a block with an infinity or NaN. */
    static float blockScale(float amax) {
        return Float.isFinite(amax) ? amax / 127f : Float.NaN;
    }

    /** The multiplier of a block's activations: {@code 127 / max|x|}, 0 when all are 0 or one is not finite. */
    static float inverse(float amax) {
        return amax > 0f && Float.isFinite(amax) ? 127f / amax : 0f;
    }

    static int clamp(int q) {
        return Math.max(-127, Math.min(127, q));
    }

    /** The scalar reference of {@link Kernels#matmul} for a {@link #supports supported} INT4 {@code w}: see the class comment. */
    static void matmul(float[] x, int t0, int t1, PackedMatrix w, int p0, int p1, float[] out, int outStride, int outOffset) {
        int cols = w.cols();
        int blocks = cols / BLOCK;
        int perGroup = w.groupSize() / BLOCK;
        short[] q = new short[(t1 - t0) * cols];
        float[] d = new float[(t1 - t0) * blocks];
        quantize(x, t0, t1, cols, q, d);
        int[] row = new int[cols];
        for (int p = p0; p < p1; p++) {
            for (int j = w.firstRow(p), end = j + w.validRows(p); j < end; j++) {
                for (int c = 0; c < cols; c++) {
                    row[c] = w.quantized(j, c);
                }
                for (int t = t0; t < t1; t++) {
                    int xq = (t - t0) * cols;
                    float f = 0f;
                    float total = 0f;
                    for (int b = 0; b < blocks; b++) {
                        int sum = 0;
                        for (int k = b * BLOCK; k < (b + 1) * BLOCK; k++) {
                            sum += q[xq + k] * row[k];
                        }
                        f = Math.fma((float) sum, d[(t - t0) * blocks + b], f);
                        if ((b + 1) % perGroup == 0) {
                            total = Math.fma(f, w.scale(j, b / perGroup), total);
                            f = 0f;
                        }
                    }
                    out[t * outStride + outOffset + j] = total;
                }
            }
        }
    }
}
