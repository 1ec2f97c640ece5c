package io.trtllm.sampling.guided;

import java.util.Arrays;

/**
 * The tokens a configuration allows (end-of-sequence aside), stored in whichever of three forms is
 * smallest: the allowed ids (a state inside a literal allows a handful), the ids it forbids among
 * the tokens that can be allowed at all (a state inside a JSON string forbids a few thousand), or a
 * bitmask. Immutable.
 */
final class TokenSet {
    private enum Form { ALLOWED, FORBIDDEN, BITS }

    private final Form form;
    private final int[] ids;
    private final long[] bits;
    private final int count;

    private TokenSet(Form form, int[] ids, long[] bits, int count) {
        this.form = form;
        this.ids = ids;
        this.bits = bits;
        this.count = count;
    }

    /**
     * @param allowed    the allowed tokens, as a bitmask over the vocabulary
     * @param candidates every token that can be allowed (a bitmask of the same length)
     */
    static TokenSet of(long[] allowed, long[] candidates) {
        int count = 0;
        int candidateCount = 0;
        for (int w = 0; w < allowed.length; w++) {
            count += Long.bitCount(allowed[w]);
            candidateCount += Long.bitCount(candidates[w]);
        }
        int forbidden = candidateCount - count;
        long bitsBytes = allowed.length * 8L;
        if (count * 4L <= bitsBytes && count <= forbidden) {
            return new TokenSet(Form.ALLOWED, ids(allowed, count, false, candidates), new long[0], count);
        }
        if (forbidden * 4L <= bitsBytes) {
            return new TokenSet(Form.FORBIDDEN, ids(allowed, forbidden, true, candidates), candidates, count);
        }
        return new TokenSet(Form.BITS, new int[0], allowed.clone(), count);
    }

    private static int[] ids(long[] allowed, int n, boolean forbidden, long[] candidates) {
        int[] out = new int[n];
        int k = 0;
        for (int w = 0; w < allowed.length; w++) {
            long word = forbidden ? candidates[w] & ~allowed[w] : allowed[w];
            while (word != 0) {
                out[k++] = w * 64 + Long.numberOfTrailingZeros(word);
                word &= word - 1;
            }
        }
        return out;
    }

    /** Writes the set into {@code words} (bit {@code id & 63} of word {@code id >>> 6}); words past it are cleared. */
    void fill(long[] words) {
        switch (form) {
            case ALLOWED -> {
                Arrays.fill(words, 0L);
                for (int id : ids) {
                    if (id >>> 6 < words.length) {
                        words[id >>> 6] |= 1L << id;
                    }
                }
            }
            case FORBIDDEN -> {
                copy(bits, words);
                for (int id : ids) {
                    if (id >>> 6 < words.length) {
                        words[id >>> 6] &= ~(1L << id);
                    }
                }
            }
            case BITS -> copy(bits, words);
        }
    }

    private static void copy(long[] from, long[] to) {
        int n = Math.min(from.length, to.length);
        System.arraycopy(from, 0, to, 0, n);
        Arrays.fill(to, n, to.length, 0L);
    }

    boolean contains(int id) {
        return switch (form) {
            case ALLOWED -> Arrays.binarySearch(ids, id) >= 0;
            case FORBIDDEN -> id >>> 6 < bits.length && (bits[id >>> 6] & 1L << id) != 0 && Arrays.binarySearch(ids, id) < 0;
            case BITS -> id >>> 6 < bits.length && (bits[id >>> 6] & 1L << id) != 0;
        };
    }

    /** Number of allowed tokens. */
    int count() {
        return count;
    }

    /** Bytes this set holds on to (the candidates' bitmask of the FORBIDDEN form is shared, not counted). */
    int weight() {
        return 32 + ids.length * 4 + (form == Form.BITS ? bits.length * 8 : 0);
    }
}
