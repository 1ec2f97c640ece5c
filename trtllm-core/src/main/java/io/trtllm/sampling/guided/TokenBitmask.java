package io.trtllm.sampling.guided;

/**
 * Token masks as {@code long[]} words: token {@code id} is allowed when bit {@code id & 63} of word
 * {@code id >>> 6} is set (xgrammar's layout, in 64-bit words). A sampler keeps one array per
 * constrained row, {@link #words(int)} long for the logits' width.
 */
public final class TokenBitmask {
    private TokenBitmask() {
    }

    /** Words for {@code vocab} tokens. */
    public static int words(int vocab) {
        return (vocab + 63) >>> 6;
    }

    public static boolean isSet(long[] words, int id) {
        return id >= 0 && id >>> 6 < words.length && (words[id >>> 6] & 1L << id) != 0;
    }

    /** Number of allowed tokens. */
    public static int count(long[] words) {
        int n = 0;
        for (long w : words) {
            n += Long.bitCount(w);
        }
        return n;
    }

    /**
     * Sets {@code logits[offset + i]} to negative infinity for every token {@code i < vocab} the mask
     * does not allow: the way a host sampler applies it before penalties' and warpers' draws.
     */
    public static void apply(long[] words, float[] logits, int offset, int vocab) {
        for (int w = 0; w * 64 < vocab; w++) {
            long word = w < words.length ? words[w] : 0L;
            if (word == -1L && w * 64 + 64 <= vocab) {
                continue;
            }
            int end = Math.min(64, vocab - w * 64);
            for (int b = 0; b < end; b++) {
                if ((word & 1L << b) == 0) {
                    logits[offset + w * 64 + b] = Float.NEGATIVE_INFINITY;
                }
            }
        }
    }
}
