package io.trtllm.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.testing.Gen;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * FP8 E4M3 against a reference built from the format's definition: every code decoded from its fields
 * (the OCP table: 0x08 = 2⁻⁶, 0x7e = 448, 0x01 = 2⁻⁹), and encoding checked against a brute-force search
 * of the nearest code (ties to the even code) over random floats of every magnitude.
 */
class Fp8Tests {

    /** The value of a code from its fields, written independently of {@link Fp8#decode}. */
    private static double reference(int code) {
        int sign = (code >> 7) & 1;
        int exponent = (code >> 3) & 15;
        int mantissa = code & 7;
        double magnitude = exponent == 0 ? mantissa / 8.0 * Math.pow(2, -6) : (1 + mantissa / 8.0) * Math.pow(2, exponent - 7);
        return sign == 1 ? -magnitude : magnitude;
    }

    /** The nearest finite code to {@code v} by search: the smaller distance, on a tie the even code; saturating. */
    private static int nearest(float v) {
        int best = -1;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (int code = 0; code < 256; code++) {
            if ((code & 0x7f) == 0x7f) {
                continue;
            }
            double d = Math.abs(reference(code) - v);
            boolean sameSign = ((code & 0x80) != 0) == (Float.floatToRawIntBits(v) < 0);
            if (d < bestDistance || (d == bestDistance && sameSign && ((code & 1) == 0 || (best & 0x80) != (code & 0x80)))) {
                best = code;
                bestDistance = d;
            }
        }
        return best;
    }

    @Test
    void everyCodeDecodesToItsFieldsValue() {
        for (int code = 0; code < 256; code++) {
            if ((code & 0x7f) == 0x7f) {
                assertThat(Fp8.decode(code)).as("code %02x", code).isNaN();
            } else {
                assertThat((double) Fp8.decode(code)).as("code %02x", code).isEqualTo(reference(code));
                assertThat(Fp8.encode(Fp8.decode(code))).as("code %02x round trip", code).isEqualTo(code);
            }
        }
        assertThat(Fp8.decode(0x7e)).isEqualTo(448f).isEqualTo(Fp8.MAX);
        assertThat(Fp8.decode(0x08)).isEqualTo(0x1p-6f);
        assertThat(Fp8.decode(0x01)).isEqualTo(0x1p-9f);
        assertThat(Fp8.decode(0x38)).isEqualTo(1f);
    }

    @Test
    void edgesSaturateRoundAndKeepTheirSign() {
        assertThat(Fp8.encode(Float.NaN)).isEqualTo(Fp8.NAN);
        assertThat(Fp8.encode(1e9f)).isEqualTo(0x7e);
        assertThat(Fp8.encode(Float.NEGATIVE_INFINITY)).isEqualTo(0xfe);
        assertThat(Fp8.encode(464f)).as("the tie between 448 and (no code) 480 saturates").isEqualTo(0x7e);
        assertThat(Fp8.encode(-0f)).isEqualTo(0x80);
        assertThat(Fp8.encode(0x1p-10f)).as("half the smallest subnormal: tie to even 0").isZero();
        assertThat(Fp8.encode(0x1.8p-9f)).as("1.5 subnormals: tie to even 2").isEqualTo(0x02);
        assertThat(Fp8.encode(1.0625f)).as("between 1 and 1.125: tie to even 1").isEqualTo(0x38);
        assertThat(Fp8.encode(1.1875f)).as("between 1.125 and 1.25: tie to even 1.25").isEqualTo(0x3a);
        assertThat(Fp8.encode(0x1.fp-7f)).as("rounds up into the smallest normal").isEqualTo(0x08);
    }

    static Stream<Long> seeds() {
        return Gen.seeds("Fp8Tests", 40);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void encodingIsTheNearestCodeTiesToEven(long seed) {
        Gen g = new Gen(seed);
        for (int i = 0; i < 500; i++) {
            // Magnitudes from below the smallest subnormal to beyond the largest value, and exact ties.
            float v = g.chance(0.2)
                    ? (float) ((reference(g.intBetween(0, 0x7d)) + reference(g.intBetween(0, 0x7d) + 1)) / 2)
                    : (float) (g.intBetween(-1_000_000, 1_000_000) * 1e-6 * Math.pow(2, g.intBetween(-12, 10)));
            int expected = nearest(v);
            assertThat(Fp8.encode(v)).as("encode(%s)", v).isEqualTo(expected);
            assertThat(Math.abs(Fp8.decode(Fp8.encode(v)) - (double) v))
                    .as("within half a step of %s", v).isLessThanOrEqualTo(Math.max(Math.abs(v) / 16, 0x1p-10) + 1e-12
                            + Math.max(0, Math.abs(v) - Fp8.MAX));
        }
    }
    /**
     * A GEMM input row quantized per token (the CUDA kernels' {@code quant_f8}, {@code rmsnorm_f8},
     * {@code silu_mul_f8}): the scale is amax / 448, the largest value's code is ±448, and every value comes back
     * within half an E4M3 step (2⁻⁴ relative, or 2⁻¹⁰ of the scale among the subnormals), over rows of every
     * magnitude; the codes are {@link Fp8#encode} of the value times 448 / amax.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void rowsQuantizeToTheirAmaxScaleWithinHalfAStep(long seed) {
        Gen g = new Gen(seed);
        int n = g.intBetween(1, 300);
        float[] v = new float[n + 3];
        double magnitude = Math.pow(2, g.intBetween(-30, 30));
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (g.intBetween(-1_000_000, 1_000_000) * 1e-6 * magnitude);
        }
        byte[] codes = new byte[n + 5];
        float scale = Fp8.quantizeRow(v, 2, n, codes, 4);
        float amax = 0;
        for (int i = 0; i < n; i++) {
            amax = Math.max(amax, Math.abs(v[2 + i]));
        }
        assertThat(scale).isEqualTo(amax > 0 ? amax / 448f : 1f);
        float mul = amax > 0 ? 448f / amax : 1f;
        boolean sawMax = false;
        for (int i = 0; i < n; i++) {
            int code = codes[4 + i] & 0xff;
            assertThat(code).isEqualTo(Fp8.encode(v[2 + i] * mul));
            double back = (double) Fp8.decode(code) * scale;
            assertThat(Math.abs(back - v[2 + i])).as("value %d of %s", i, v[2 + i])
                    .isLessThanOrEqualTo(Math.max(Math.abs(v[2 + i]) / 16, scale * 0x1p-10) * (1 + 1e-5));
            sawMax |= amax > 0 && Math.abs(v[2 + i]) == amax && (code & 0x7f) == 0x7e;
        }
        assertThat(sawMax || amax == 0).as("the largest magnitude maps to 448").isTrue();
        assertThat(codes[0]).as("codes outside the row are left alone").isZero();
        assertThat(codes[n + 4]).isZero();
    }

    @Test
    void specialRowsQuantizeAsTheKernelsDo() {
        byte[] codes = new byte[4];
        assertThat(Fp8.quantizeRow(new float[] {0f, -0f, 0f}, 0, 3, codes, 0)).as("an all-zero row: scale 1").isEqualTo(1f);
        assertThat(codes).containsExactly(0, (byte) 0x80, 0, 0);

        float s = Fp8.quantizeRow(new float[] {1f, Float.NaN, -2f}, 0, 3, codes, 0);
        assertThat(s).as("NaN skipped by the amax, as fmaxf skips it").isEqualTo(2f / 448f);
        assertThat(codes[1]).isEqualTo((byte) Fp8.NAN);
        assertThat(codes[2] & 0xff).isEqualTo(0xfe);
        assertThat(codes[0] & 0xff).isEqualTo(Fp8.encode(224f));

        s = Fp8.quantizeRow(new float[] {1f, Float.POSITIVE_INFINITY}, 0, 2, codes, 0);
        assertThat(s).as("an infinite row").isInfinite();
        assertThat(codes[0]).isZero();
        assertThat(codes[1]).as("inf · 0 is NaN").isEqualTo((byte) Fp8.NAN);

        s = Fp8.quantizeRow(new float[] {1e-40f, -3e-41f}, 0, 2, codes, 0);
        assertThat(s).as("a row of subnormal floats: 448 / amax overflows").isEqualTo(1e-40f / 448f);
        assertThat(codes[0] & 0xff).isEqualTo(0x7e);
        assertThat(codes[1] & 0xff).isEqualTo(0xfe);

        assertThatThrownBy(() -> Fp8.quantizeRow(new float[3], 1, 3, new byte[3], 0))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("a row of 3 values at 1 of 3");
        assertThatThrownBy(() -> Fp8.quantizeRow(new float[3], 0, 3, new byte[3], 1))
                .isInstanceOf(IndexOutOfBoundsException.class);
    }
}
