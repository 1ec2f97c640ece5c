package io.trtllm.sampling.guided;

import java.util.ArrayList;
import java.util.List;

/**
 * The UTF-8 encodings of a set of code points as sequences of byte ranges, so that a character class
 * compiles to bytes and a character split across tokens is matched byte by byte. Surrogates are left
 * out (UTF-8 has no encoding for them). A range is split, as in the UTF-8 range compilers of RE2 and
 * Rust's regex, into ranges whose encodings have the same length and share all but trailing bytes,
 * until each is a product of byte ranges ({@code [E1-E3][80-BF][80-BF]}).
 */
final class Utf8Automata {
    private static final int[] LENGTH_LIMITS = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

    private Utf8Automata() {
    }

    /** Each sequence as {@code [lo0, hi0, lo1, hi1, ...]}: one byte range per byte of the encoding. */
    static List<int[]> sequences(CodePointSet set) {
        CodePointSet writable = set.minus(CodePointSet.range(0xD800, 0xDFFF));
        List<int[]> out = new ArrayList<>();
        int[] r = writable.ranges();
        for (int i = 0; i < r.length; i += 2) {
            int lo = r[i];
            for (int n = 0; n < LENGTH_LIMITS.length && lo <= r[i + 1]; n++) {
                if (lo > LENGTH_LIMITS[n]) {
                    continue;
                }
                int hi = Math.min(r[i + 1], LENGTH_LIMITS[n]);
                split(lo, hi, n + 1, out);
                lo = hi + 1;
            }
        }
        return out;
    }

    private static void split(int lo, int hi, int length, List<int[]> out) {
        for (int i = 1; i < length; i++) {
            int mask = (1 << (6 * i)) - 1;
            if ((lo & ~mask) != (hi & ~mask)) {
                if ((lo & mask) != 0) {
                    split(lo, lo | mask, length, out);
                    split((lo | mask) + 1, hi, length, out);
                    return;
                }
                if ((hi & mask) != mask) {
                    split(lo, (hi & ~mask) - 1, length, out);
                    split(hi & ~mask, hi, length, out);
                    return;
                }
            }
        }
        byte[] a = encode(lo, length);
        byte[] b = encode(hi, length);
        int[] seq = new int[2 * length];
        for (int k = 0; k < length; k++) {
            seq[2 * k] = a[k] & 0xFF;
            seq[2 * k + 1] = b[k] & 0xFF;
        }
        out.add(seq);
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
