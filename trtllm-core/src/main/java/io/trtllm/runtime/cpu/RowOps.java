package io.trtllm.runtime.cpu;

import org.jspecify.annotations.Nullable;

/**
 * The small per-row operations of {@link CpuModelRunner}'s pass, sequential: they are
 * O(tokens × dim), the matmuls O(tokens × dim²).
 */
final class RowOps {

    private RowOps() {
    }

    /** {@code out = weight * in / sqrt(mean(in²) + eps)}, as Hugging Face's {@code LlamaRMSNorm} ({@code in == out} allowed). */
    static void rmsNorm(float[] in, int inOff, float[] out, int outOff, int n, float[] weight, float eps) {
        double ss = 0;
        for (int i = 0; i < n; i++) {
            float v = in[inOff + i];
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt((float) (ss / n) + eps));
        for (int i = 0; i < n; i++) {
            out[outOff + i] = weight[i] * (in[inOff + i] * inv);
        }
    }

    /** {@code v[off, off + n) += bias}, when there is a bias. */
    static void addBias(float[] v, int off, float @Nullable [] bias, int n) {
        if (bias != null) {
            for (int i = 0; i < n; i++) {
                v[off + i] += bias[i];
            }
        }
    }

    /** {@code x[from, to) += y[from, to)}. */
    static void addInPlace(float[] x, float[] y, int from, int to) {
        for (int i = from; i < to; i++) {
            x[i] += y[i];
        }
    }
}
