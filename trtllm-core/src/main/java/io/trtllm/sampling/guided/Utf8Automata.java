package io.trtllm.sampling.guided;

import dk.brics.automaton.Automaton;
import dk.brics.automaton.State;
import dk.brics.automaton.Transition;

/**
 * Automata over bytes (chars 0..255 of dk.brics automata) that accept exactly the UTF-8 encodings of
 * one code point of a set: the compilation of a character class to bytes, so that every automaton of
 * a guide reads the bytes tokens are made of, and a character split across tokens is matched byte by
 * byte. Surrogates are left out (UTF-8 has no encoding for them).
 *
 * <p>A range is split, as in the UTF-8 range compilers of RE2 and Rust's regex, into ranges whose
 * encodings have the same length and share all but trailing bytes, until each is a product of byte
 * ranges ({@code [E1-E3][80-BF][80-BF]}).
 */
final class Utf8Automata {
    private static final int[] LENGTH_LIMITS = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

    private Utf8Automata() {
    }

    /** A minimal DFA accepting the UTF-8 of each code point in {@code set} (surrogates excepted). */
    static Automaton of(CodePointSet set) {
        CodePointSet writable = set.minus(CodePointSet.range(0xD800, 0xDFFF));
        Automaton a = new Automaton();
        State start = new State();
        a.setInitialState(start);
        State accept = new State();
        accept.setAccept(true);
        int[] r = writable.ranges();
        for (int i = 0; i < r.length; i += 2) {
            int lo = r[i];
            for (int n = 0; n < LENGTH_LIMITS.length && lo <= r[i + 1]; n++) {
                if (lo > LENGTH_LIMITS[n]) {
                    continue;
                }
                int hi = Math.min(r[i + 1], LENGTH_LIMITS[n]);
                split(lo, hi, n + 1, start, accept);
                lo = hi + 1;
            }
        }
        a.setDeterministic(false);
        a.minimize();
        return a;
    }

    /** Adds paths for {@code [lo, hi]}, all of whose code points encode to {@code length} bytes. */
    private static void split(int lo, int hi, int length, State start, State accept) {
        for (int i = 1; i < length; i++) {
            int mask = (1 << (6 * i)) - 1;
            if ((lo & ~mask) != (hi & ~mask)) {
                if ((lo & mask) != 0) {
                    split(lo, lo | mask, length, start, accept);
                    split((lo | mask) + 1, hi, length, start, accept);
                    return;
                }
                if ((hi & mask) != mask) {
                    split(lo, (hi & ~mask) - 1, length, start, accept);
                    split(hi & ~mask, hi, length, start, accept);
                    return;
                }
            }
        }
        byte[] a = encode(lo, length);
        byte[] b = encode(hi, length);
        State s = start;
        for (int k = 0; k < length; k++) {
            State t = k == length - 1 ? accept : new State();
            s.addTransition(new Transition((char) (a[k] & 0xFF), (char) (b[k] & 0xFF), t));
            s = t;
        }
    }

    static byte[] encode(int cp, int length) {
        return switch (length) {
            case 1 -> new byte[] {(byte) cp};
            case 2 -> new byte[] {(byte) (0xC0 | cp >> 6), (byte) (0x80 | cp & 0x3F)};
            case 3 -> new byte[] {(byte) (0xE0 | cp >> 12), (byte) (0x80 | cp >> 6 & 0x3F), (byte) (0x80 | cp & 0x3F)};
            default -> new byte[] {(byte) (0xF0 | cp >> 18), (byte) (0x80 | cp >> 12 & 0x3F),
                    (byte) (0x80 | cp >> 6 & 0x3F), (byte) (0x80 | cp & 0x3F)};
        };
    }
}
