package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.testing.Gen;
import java.math.BigDecimal;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bounded numbers are exact: for random bounds (integral, decimal, negative, zero, inclusive or not)
 * a random numeral is accepted exactly when it is canonical JSON, without exponent and not -0, and lies
 * between the bounds by BigDecimal comparison.
 */
class JsonNumbersPropertyTests {
    static Stream<Long> seeds() {
        return Gen.seeds("bounded JSON numbers = BigDecimal comparison", 200);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void boundsAreExact(long seed) {
        Gen gen = new Gen(seed);
        boolean integer = gen.bool();
        BigDecimal lo = gen.orNull(0.3, () -> decimal(gen));
        BigDecimal hi = gen.orNull(0.3, () -> decimal(gen));
        if (lo == null && hi == null) {
            lo = decimal(gen);
        }
        boolean loEx = gen.bool();
        boolean hiEx = gen.bool();
        Dfa a = JsonNumbers.range(integer, lo, loEx, hi, hiEx);
        int inRange = 0;
        for (int i = 0; i < 300; i++) {
            String s = numeral(gen, lo, hi);
            boolean canonical = s.matches(integer ? "-?(0|[1-9][0-9]*)" : "-?(0|[1-9][0-9]*)(\\.[0-9]+)?")
                    && !s.matches("-0(\\.0+)?");
            boolean expected = false;
            if (canonical) {
                BigDecimal v = new BigDecimal(s);
                expected = (lo == null || (loEx ? v.compareTo(lo) > 0 : v.compareTo(lo) >= 0))
                        && (hi == null || (hiEx ? v.compareTo(hi) < 0 : v.compareTo(hi) <= 0));
            }
            boolean actual = a != null && a.matches(s.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            assertThat(actual).as("%s in %s%s, %s%s (integer %s)", s, loEx ? "(" : "[", lo, hi, hiEx ? ")" : "]", integer)
                    .isEqualTo(expected);
            inRange += expected ? 1 : 0;
        }
        if (a == null) {
            assertThat(inRange).isZero();
        }
    }

    private static BigDecimal decimal(Gen gen) {
        return gen.frequency(
                2, () -> BigDecimal.valueOf(gen.intBetween(-30, 30)),
                2, () -> new BigDecimal(gen.intBetween(-3000, 3000)).movePointLeft(gen.intBetween(0, 3)),
                1, () -> BigDecimal.ZERO,
                1, () -> new BigDecimal(gen.longBetween(-99_999_999_999L, 99_999_999_999L)).movePointLeft(gen.intBetween(0, 12)));
    }

    /** A numeral near the bounds, sometimes not canonical. */
    private static String numeral(Gen gen, BigDecimal lo, BigDecimal hi) {
        BigDecimal base = gen.oneOf(lo == null ? BigDecimal.ONE : lo, hi == null ? BigDecimal.TEN : hi, BigDecimal.ZERO);
        BigDecimal v = base.add(new BigDecimal(gen.intBetween(-25, 25)).movePointLeft(gen.intBetween(0, 4)));
        String s = v.toPlainString();
        return gen.frequency(
                6, () -> s,
                1, () -> s + gen.oneOf("0", "00", ".0", ".000", "5"),
                1, () -> gen.oneOf("-0", "-0.0", "00", "01", "1.", ".5", "-", "1e3", "0.10", "-00.5"),
                1, () -> v.negate().toPlainString());
    }
}
