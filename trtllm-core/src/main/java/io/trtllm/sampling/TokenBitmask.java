package io.trtllm.sampling;

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
            int base = w * 64;
            int end = Math.min(64, vocab - base);
            long word = w < words.length ? words[w] : 0L;
            long banned = ~word & (end == 64 ? -1L : (1L << end) - 1);
            if (banned == 0) {
                continue;
            }
            if (banned == -1L) {
                java.util.Arrays.fill(logits, offset + base, offset + base + 64, Float.NEGATIVE_INFINITY);
                continue;
            }
            while (banned != 0) {
                logits[offset + base + Long.numberOfTrailingZeros(banned)] = Float.NEGATIVE_INFINITY;
                banned &= banned - 1;
            }
        }
    }
}
