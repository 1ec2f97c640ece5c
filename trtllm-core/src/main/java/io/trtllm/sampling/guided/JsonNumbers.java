package io.trtllm.sampling.guided;

import io.trtllm.api.config.GuidedDecodingException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * JSON numbers between bounds, as automata: {@code minimum}, {@code maximum}, {@code exclusiveMinimum}
 * and {@code exclusiveMaximum} of JSON Schema, exactly, for integers and for decimals of any precision.
 * A bounded number is written without exponent, and never as {@code -0}.
 *
 * <p>A non-negative numeral {@code I(.D)?} compares with a bound {@code C = Ic.Fc} (Fc without trailing
 * zeros) by its integer part first ({@link #intLess}/{@link #intGreater} of digit strings), and on a
 * tie by its fraction digits ({@link #fracAtMost} and friends); a negative numeral is {@code -} and a
 * positive magnitude between the negated bounds. The pieces are intersected as automata.
 */
final class JsonNumbers {
    /** Longest bound, in digits, that we compile (1e300 has 301). */
    static final int MAX_BOUND_DIGITS = 100;

    private static final Expr DIGIT = JsonGrammar.DIGIT;

    private JsonNumbers() {
    }

    /**
     * Numbers (or integers) x with {@code lo <= x} ({@code <} when exclusive) and {@code x <= hi}, each
     * bound optional; null when no number is in range.
     */
    static @Nullable Dfa range(boolean integer, @Nullable BigDecimal lo, boolean loExclusive,
                               @Nullable BigDecimal hi, boolean hiExclusive) {
        Dfa nonNegative = Automata.of(numeral(integer));
        if (lo != null && lo.signum() >= 0) {
            nonNegative = nonNegative.intersect(atLeast(integer, lo, loExclusive));
        }
        if (hi != null) {
            nonNegative = hi.signum() < 0 ? Dfa.empty() : nonNegative.intersect(atMost(integer, hi, hiExclusive));
        }
        Expr negative;
        if (lo != null && lo.signum() >= 0) {
            negative = Expr.NOTHING;
        } else {
            // -M in range: M > 0, M <= -lo, M >= -hi (when hi < 0).
            Dfa magnitude = Automata.of(numeral(integer)).intersect(atLeast(integer, BigDecimal.ZERO, true));
            if (lo != null) {
                magnitude = magnitude.intersect(atMost(integer, lo.negate(), loExclusive));
            }
            if (hi != null && hi.signum() < 0) {
                magnitude = magnitude.intersect(atLeast(integer, hi.negate(), hiExclusive));
            }
            negative = Expr.seq(Expr.literal("-"), new Expr.Lang(magnitude));
        }
        Dfa all = Automata.of(Expr.alt(new Expr.Lang(nonNegative), negative));
        return all.isEmpty() ? null : all;
    }

    /** Non-negative numerals: {@code (0|[1-9][0-9]*)(\.[0-9]+)?}, without the fraction for integers. */
    private static Expr numeral(boolean integer) {
        Expr i = JsonGrammar.integerDigits();
        return integer ? i : Expr.seq(i, Expr.optional(Expr.seq(Expr.literal("."), Expr.plus(DIGIT))));
    }

    /** Non-negative numerals {@code <= c} ({@code <} when strict); c >= 0. */
    static Dfa atMost(boolean integer, BigDecimal c, boolean strict) {
        String[] parts = split(c);
        String ic = parts[0];
        String fc = parts[1];
        Expr below = Expr.seq(intLess(ic), fraction(integer, Expr.star(DIGIT), true));
        Fraction tie = strict ? fracLess(fc) : fracAtMost(fc);
        Expr equal = Expr.seq(Expr.literal(ic), fraction(integer, tie.nonEmpty, tie.empty));
        return Automata.of(Expr.alt(below, equal));
    }

    /** Non-negative numerals {@code >= c} ({@code >} when strict); c >= 0. */
    static Dfa atLeast(boolean integer, BigDecimal c, boolean strict) {
        String[] parts = split(c);
        String ic = parts[0];
        String fc = parts[1];
        Expr above = Expr.seq(intGreater(ic), fraction(integer, Expr.star(DIGIT), true));
        Fraction tie = strict ? fracGreater(fc) : fracAtLeast(fc);
        Expr equal = Expr.seq(Expr.literal(ic), fraction(integer, tie.nonEmpty, tie.empty));
        return Automata.of(Expr.alt(above, equal));
    }

    /**
     * The fraction part of a numeral whose fraction digits D are in a set: nothing (D empty) when the
     * set holds the empty string, {@code .D} for its non-empty strings; integers take only the former.
     */
    private static Expr fraction(boolean integer, Expr nonEmptyDigits, boolean empty) {
        List<Expr> options = new ArrayList<>();
        if (empty) {
            options.add(Expr.EMPTY);
        }
        if (!integer) {
            options.add(Expr.seq(Expr.literal("."), nonEmptyDigits));
        }
        return Expr.alt(options);
    }

    /** The integer digits and fraction digits (no trailing zeros) of c >= 0. */
    private static String[] split(BigDecimal c) {
        if (c.signum() < 0) {
            throw new IllegalArgumentException("negative bound " + c);
        }
        String plain = c.stripTrailingZeros().toPlainString();
        if (plain.length() > MAX_BOUND_DIGITS) {
            throw new GuidedDecodingException("the bound " + c + " has more than " + MAX_BOUND_DIGITS + " digits");
        }
        int dot = plain.indexOf('.');
        return dot < 0 ? new String[] {plain, ""} : new String[] {plain.substring(0, dot), plain.substring(dot + 1)};
    }

    /** Canonical non-negative integers less than {@code n} (digits, canonical). */
    static Expr intLess(String n) {
        List<Expr> options = new ArrayList<>();
        int len = n.length();
        // Fewer digits.
        if (len > 1) {
            options.add(Expr.literal("0"));
            options.add(Expr.seq(JsonGrammar.NONZERO_DIGIT, Expr.repeat(DIGIT, 0, len - 2)));
        }
        // Same number of digits, smaller at the first difference.
        for (int i = 0; i < len; i++) {
            int d = n.charAt(i) - '0';
            int lowest = i == 0 && len > 1 ? 1 : 0;
            if (d - 1 >= lowest) {
                options.add(Expr.seq(Expr.literal(n.substring(0, i)), Expr.chars(CodePointSet.range('0' + lowest, '0' + d - 1)),
                        Expr.repeat(DIGIT, len - i - 1, len - i - 1)));
            }
        }
        return Expr.alt(options);
    }

    /** Canonical non-negative integers greater than {@code n}. */
    static Expr intGreater(String n) {
        List<Expr> options = new ArrayList<>();
        int len = n.length();
        options.add(Expr.seq(JsonGrammar.NONZERO_DIGIT, Expr.repeat(DIGIT, len, Expr.UNBOUNDED)));
        if (!n.equals("0")) {
            for (int i = 0; i < len; i++) {
                int d = n.charAt(i) - '0';
                if (d < 9) {
                    options.add(Expr.seq(Expr.literal(n.substring(0, i)), Expr.chars(CodePointSet.range('0' + d + 1, '9')),
                            Expr.repeat(DIGIT, len - i - 1, len - i - 1)));
                }
            }
        } else {
            // Every other canonical integer of one digit.
            options.add(JsonGrammar.NONZERO_DIGIT);
        }
        return Expr.alt(options);
    }

    /** A set of fraction digit strings: its non-empty strings, and whether it holds the empty one. */
    private record Fraction(Expr nonEmpty, boolean empty) {
    }

    /** D with 0.D <= 0.f. */
    private static Fraction fracAtMost(String f) {
        if (f.isEmpty()) {
            return new Fraction(Expr.plus(Expr.literal("0")), true);
        }
        int d = f.charAt(0) - '0';
        Fraction rest = fracAtMost(f.substring(1));
        List<Expr> options = new ArrayList<>();
        if (d > 0) {
            options.add(Expr.seq(Expr.chars(CodePointSet.range('0', '0' + d - 1)), Expr.star(DIGIT)));
        }
        options.add(Expr.seq(Expr.literal(String.valueOf(d)), rest.empty ? Expr.optional(rest.nonEmpty) : rest.nonEmpty));
        return new Fraction(Expr.alt(options), true);
    }

    /** D with 0.D < 0.f. */
    private static Fraction fracLess(String f) {
        if (f.isEmpty()) {
            return new Fraction(Expr.NOTHING, false);
        }
        int d = f.charAt(0) - '0';
        Fraction rest = fracLess(f.substring(1));
        List<Expr> options = new ArrayList<>();
        if (d > 0) {
            options.add(Expr.seq(Expr.chars(CodePointSet.range('0', '0' + d - 1)), Expr.star(DIGIT)));
        }
        // f has no trailing zeros: 0.d < 0.f exactly when f goes on after d.
        Expr after = rest.empty ? Expr.optional(rest.nonEmpty) : rest.nonEmpty;
        if (f.length() > 1) {
            options.add(Expr.seq(Expr.literal(String.valueOf(d)), Expr.alt(Expr.EMPTY, after)));
        } else {
            options.add(Expr.seq(Expr.literal(String.valueOf(d)), after));
        }
        return new Fraction(Expr.alt(options), true);
    }

    /** D with 0.D >= 0.f. */
    private static Fraction fracAtLeast(String f) {
        if (f.isEmpty()) {
            return new Fraction(Expr.plus(DIGIT), true);
        }
        int d = f.charAt(0) - '0';
        Fraction rest = fracAtLeast(f.substring(1));
        List<Expr> options = new ArrayList<>();
        if (d < 9) {
            options.add(Expr.seq(Expr.chars(CodePointSet.range('0' + d + 1, '9')), Expr.star(DIGIT)));
        }
        options.add(Expr.seq(Expr.literal(String.valueOf(d)), rest.empty ? Expr.optional(rest.nonEmpty) : rest.nonEmpty));
        return new Fraction(Expr.alt(options), false);
    }

    /** D with 0.D > 0.f. */
    private static Fraction fracGreater(String f) {
        if (f.isEmpty()) {
            // Some digit not zero.
            return new Fraction(Expr.seq(Expr.star(DIGIT), JsonGrammar.NONZERO_DIGIT, Expr.star(DIGIT)), false);
        }
        int d = f.charAt(0) - '0';
        Fraction rest = fracGreater(f.substring(1));
        List<Expr> options = new ArrayList<>();
        if (d < 9) {
            options.add(Expr.seq(Expr.chars(CodePointSet.range('0' + d + 1, '9')), Expr.star(DIGIT)));
        }
        options.add(Expr.seq(Expr.literal(String.valueOf(d)), rest.nonEmpty));
        return new Fraction(Expr.alt(options), false);
    }
}
