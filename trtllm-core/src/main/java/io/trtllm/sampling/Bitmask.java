package io.trtllm.sampling;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * An immutable token bitmask ({@link TokenBitmask}'s layout: token {@code id} is allowed when bit {@code id & 63}
 * of word {@code id >>> 6} is set), shared rather than copied: a guide hands the same instance to every sequence
 * that stands where the same tokens are allowed, so that a device runner can tell by identity that a row's mask is
 * one it has already uploaded ({@code MaskSlots}) and copy nothing.
 *
 * <p>Identity is only a hint: two instances with the same words are equal ({@link #equals}), and a runner that
 * meets a new instance stages it again, which is always correct.
 */
public final class Bitmask {
    /** No token allowed. */
    public static final Bitmask NONE = new Bitmask(new long[0], 0);

    private final long[] words;
    private final int count;
    private final int hash;

    private Bitmask(long[] words, int count) {
        this.words = words;
        this.count = count;
        this.hash = Arrays.hashCode(words);
    }

    /** A mask of a copy of {@code words}. */
    public static Bitmask copyOf(long[] words) {
        return owning(words.clone());
    }

    /**
     * A mask over {@code words} itself, which the caller hands over: nothing may change the array afterwards
     * (a guide's cache, which builds each mask once).
     */
    public static Bitmask owning(long[] words) {
        return new Bitmask(words, TokenBitmask.count(words));
    }

    /** Words of the mask (tokens past them are not allowed). */
    public int words() {
        return words.length;
    }

    /** Number of allowed tokens. */
    public int count() {
        return count;
    }

    /** Whether token {@code id} is allowed. */
    public boolean allows(int id) {
        return TokenBitmask.isSet(words, id);
    }

    /** A copy of the words. */
    public long[] toArray() {
        return words.clone();
    }

    /** Writes the mask into {@code target}: its first words, zeros past the mask's end. */
    public void copyTo(long[] target) {
        int n = Math.min(words.length, target.length);
        System.arraycopy(words, 0, target, 0, n);
        Arrays.fill(target, n, target.length, 0L);
    }

    /**
     * Writes the mask's first {@code n} words to {@code target} from byte {@code offset} (native order), zeros past
     * the mask's end, in one bulk copy: how a device runner stages it for upload.
     */
    public void copyTo(MemorySegment target, long offset, int n) {
        int copied = Math.min(n, words.length);
        MemorySegment.copy(words, 0, target, ValueLayout.JAVA_LONG, offset, copied);
        if (copied < n) {
            target.asSlice(offset + (long) copied * Long.BYTES, (long) (n - copied) * Long.BYTES).fill((byte) 0);
        }
    }

    /** Bans every token the mask does not allow in {@code logits[offset .. offset + vocab)} ({@link TokenBitmask#apply}). */
    public void apply(float[] logits, int offset, int vocab) {
        TokenBitmask.apply(words, logits, offset, vocab);
    }

    @Override
    public boolean equals(Object o) {
        return o == this || o instanceof Bitmask b && hash == b.hash && Arrays.equals(words, b.words);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return "Bitmask[" + count + " of " + words.length * 64 + "]";
    }
}
