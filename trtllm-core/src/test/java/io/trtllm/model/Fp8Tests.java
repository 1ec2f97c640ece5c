package io.trtllm.model;

import static org.assertj.core.api.Assertions.assertThat;

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
}
