package io.trtllm.runtime.cpu;

import static io.trtllm.runtime.cpu.KernelsTests.quantize;
import static io.trtllm.runtime.cpu.KernelsTests.randomMatrix;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** W4A8 (INT4 weights × int8 activations): the vector kernels against the scalar reference, bit for bit. */
class W4A8Tests {
    private final Kernels scalar = new ScalarKernels(true);
    private final Kernels vector = new VectorKernels(true);
    private final Kernels weightOnly = new VectorKernels(false);

    private static float[] gaussian(int n, SplittableRandom rnd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    @ParameterizedTest(name = "tokens={0} rows={1} cols={2}")
    @CsvSource({"1, 37, 288", "3, 70, 96", "4, 32, 256", "5, 70, 1024", "9, 45, 288", "37, 33, 768", "64, 70, 64"})
    void vectorW4A8HasTheScalarBitsAndStaysCloseToFloatActivations(int tokens, int rows, int cols) {
        var rnd = new SplittableRandom(17);
        WeightMatrix w = randomMatrix(DType.F32, rows, cols, rnd);
        PackedMatrix pv = quantize(PackedMatrix.Format.INT4, w, vector.panelRows());
        PackedMatrix ps = quantize(PackedMatrix.Format.INT4, w, scalar.panelRows());
        assertThat(W4A8.supports(pv)).isTrue();
        float[] x = gaussian(tokens * cols, rnd);
        int stride = rows + 3;
        float[] expected = new float[tokens * stride];
        float[] actual = new float[tokens * stride + 64];
        float[] floatActivations = new float[tokens * stride + 64];
        scalar.matmul(x, tokens, ps, 0, ps.panels(), expected, stride, 2);
        vector.matmul(x, tokens, pv, 0, pv.panels(), actual, stride, 2);
        weightOnly.matmul(x, tokens, pv, 0, pv.panels(), floatActivations, stride, 2);
        double errorSquares = 0;
        double signalSquares = 0;
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < rows; j++) {
                int i = t * stride + 2 + j;
                assertThat(Float.floatToIntBits(actual[i])).as("token %d row %d", t, j).isEqualTo(Float.floatToIntBits(expected[i]));
                double e = actual[i] - floatActivations[i];
                errorSquares += e * e;
                signalSquares += (double) floatActivations[i] * floatActivations[i];
            }
            assertThat(actual[t * stride]).isZero();
            assertThat(actual[t * stride + 1]).isZero();
            if (t + 1 < tokens) {
                assertThat(actual[t * stride + 2 + rows]).as("padding rows write nothing").isZero();
            }
        }
        // Activations rounded to 8 bits per block of 32: about half a percent of the outputs' size (Gaussian inputs).
        double relative = Math.sqrt(errorSquares / signalSquares);
        assertThat(relative).isGreaterThan(0).isLessThan(0.01);
    }

    @Test
    void aTokenHasTheSameBitsAloneAndInEveryBatch() {
        // 23 tokens: five four-token passes and three one-token ones; each token alone is the one-token kernel.
        var rnd = new SplittableRandom(19);
        int tokens = 23, rows = 70, cols = 288;
        PackedMatrix pv = quantize(PackedMatrix.Format.INT4, randomMatrix(DType.F32, rows, cols, rnd), vector.panelRows());
        float[] x = gaussian(tokens * cols, rnd);
        float[] batch = new float[tokens * rows];
        vector.matmul(x, tokens, pv, 0, pv.panels(), batch, rows, 0);
        for (int t0 = 0; t0 < tokens; t0 += 3) {
            float[] part = new float[tokens * rows];
            int t1 = Math.min(tokens, t0 + 1 + t0 % 7);
            vector.matmul(x, t0, t1, pv, 0, pv.panels(), part, rows, 0);
            for (int t = t0; t < t1; t++) {
                for (int j = 0; j < rows; j++) {
                    assertThat(Float.floatToIntBits(part[t * rows + j])).as("tokens %d..%d: token %d row %d", t0, t1, t, j)
                            .isEqualTo(Float.floatToIntBits(batch[t * rows + j]));
                }
            }
        }
    }

    @Test
    void quantizedActivationsAreTheScalarOnesAndNonFiniteBlocksGiveNaN() {
        int cols = 96;
        var rnd = new SplittableRandom(23);
        float[] x = gaussian(4 * cols, rnd);
        java.util.Arrays.fill(x, 32, 64, 0f); // token 0, block 1: all zero
        x[cols + 40] = Float.POSITIVE_INFINITY; // token 1, block 1
        x[2 * cols + 5] = Float.NaN; // token 2, block 0
        x[3 * cols + 7] = 1e30f; // token 3: one huge value dwarfs its block
        short[] qs = new short[4 * cols];
        float[] ds = new float[4 * 3];
        short[] qv = new short[4 * cols];
        float[] dv = new float[4 * 3];
        W4A8.quantize(x, 0, 4, cols, qs, ds);
        VectorW4A8.quantize(x, 0, 4, cols, qv, dv);
        assertThat(qv).isEqualTo(qs);
        assertThat(dv).usingElementComparator(W4A8Tests::sameBits).isEqualTo(ds);
        assertThat(ds[1]).isZero();
        assertThat(ds[4]).isNaN();
        assertThat(ds[6]).isNaN();
        assertThat(qs[3 * cols + 7]).isEqualTo((short) 127);
        for (int k = 0; k < cols; k++) {
            assertThat(Math.abs(qs[k])).isLessThanOrEqualTo((short) 127);
        }
        // The outputs: NaN for the tokens with a non-finite activation, finite for the others.
        int rows = 40;
        PackedMatrix pv = quantize(PackedMatrix.Format.INT4, randomMatrix(DType.F32, rows, cols, rnd), vector.panelRows());
        float[] out = new float[4 * rows];
        vector.matmul(x, 4, pv, 0, pv.panels(), out, rows, 0);
        for (int j = 0; j < rows; j++) {
            assertThat(out[j]).isFinite();
            assertThat(out[rows + j]).isNaN();
            assertThat(out[2 * rows + j]).isNaN();
            assertThat(out[3 * rows + j]).isFinite();
        }
    }

    private static int sameBits(float a, float b) {
        return Integer.compare(Float.floatToIntBits(a), Float.floatToIntBits(b));
    }

    @Test
    void groupsThatAreNotWholeBlocksKeepTheWeightOnlyKernels() {
        var rnd = new SplittableRandom(29);
        int rows = 37, cols = 40; // int4 group size 40: not a multiple of 32
        PackedMatrix pv = quantize(PackedMatrix.Format.INT4, randomMatrix(DType.F32, rows, cols, rnd), vector.panelRows());
        assertThat(W4A8.supports(pv)).isFalse();
        float[] x = gaussian(5 * cols, rnd);
        float[] a = new float[5 * rows];
        float[] b = new float[5 * rows];
        vector.matmul(x, 5, pv, 0, pv.panels(), a, rows, 0);
        weightOnly.matmul(x, 5, pv, 0, pv.panels(), b, rows, 0);
        assertThat(a).isEqualTo(b);
        PackedMatrix int8 = quantize(PackedMatrix.Format.INT8, randomMatrix(DType.F32, rows, 64, rnd), vector.panelRows());
        assertThat(W4A8.supports(int8)).isFalse();
    }

    @Test
    void thePropertyTakesInt8OrFloat32() {
        assertThat(W4A8.enabled(null)).isTrue();
        assertThat(W4A8.enabled("int8")).isTrue();
        assertThat(W4A8.enabled("float32")).isFalse();
        assertThatThrownBy(() -> W4A8.enabled("fp8")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(W4A8.PROPERTY).hasMessageContaining("fp8");
    }

    @Test
    void theKernelsSayWhichMatricesTheyRunWithInt8Activations() {
        var rnd = new SplittableRandom(31);
        PackedMatrix int4 = quantize(PackedMatrix.Format.INT4, randomMatrix(DType.F32, 37, 64, rnd), vector.panelRows());
        PackedMatrix int8 = quantize(PackedMatrix.Format.INT8, randomMatrix(DType.F32, 37, 64, rnd), vector.panelRows());
        PackedMatrix f32 = PackedMatrix.pack(java.lang.foreign.Arena.ofAuto(), vector.panelRows(), randomMatrix(DType.F32, 37, 64, rnd));
        assertThat(vector.quantizesActivations(int4)).isTrue();
        assertThat(scalar.quantizesActivations(int4)).isTrue();
        assertThat(weightOnly.quantizesActivations(int4)).isFalse();
        assertThat(vector.quantizesActivations(int8)).isFalse();
        assertThat(vector.quantizesActivations(f32)).isFalse();
        // The runner's description names W4A8 only for an engine with such matrices (CpuModelRunnerLoadTests).
        assertThat(vector.description()).doesNotContain("W4A8");
    }
}
