package io.trtllm.sampling;

import java.util.Arrays;

/**
 * Occurrence counts of token ids, without boxing: an open-addressing table of indexes into dense
 * arrays of distinct tokens and their counts, so penalties visit only the tokens that occurred
 * (O(distinct tokens)), never the whole vocabulary.
 */
final class TokenCounts {
    private int[] tokens = new int[16];
    private int[] counts = new int[16];
    private int size;
    /** Open-addressing slots holding index + 1 into {@link #tokens}; 0 = empty. Length a power of two. */
    private int[] slots = new int[32];

    /** Counts one more occurrence of {@code token}. */
    void add(int token) {
        int mask = slots.length - 1;
        int slot = mix(token) & mask;
        while (slots[slot] != 0) {
            int index = slots[slot] - 1;
            if (tokens[index] == token) {
                counts[index]++;
                return;
            }
            slot = (slot + 1) & mask;
        }
        if (size == tokens.length) {
            tokens = Arrays.copyOf(tokens, size * 2);
            counts = Arrays.copyOf(counts, size * 2);
        }
        tokens[size] = token;
        counts[size] = 1;
        slots[slot] = ++size;
        if (size * 2 > slots.length) {
            rehash(slots.length * 2);
        }
    }

    /** How many times {@code token} was added. */
    int count(int token) {
        int mask = slots.length - 1;
        for (int slot = mix(token) & mask; slots[slot] != 0; slot = (slot + 1) & mask) {
            int index = slots[slot] - 1;
            if (tokens[index] == token) {
                return counts[index];
            }
        }
        return 0;
    }

    /** Number of distinct tokens. */
    int size() {
        return size;
    }

    /** The i-th distinct token, in order of first occurrence. */
    int token(int i) {
        return tokens[i];
    }

    /** The count of the i-th distinct token. */
    int countAt(int i) {
        return counts[i];
    }

    private void rehash(int capacity) {
        slots = new int[capacity];
        int mask = capacity - 1;
        for (int i = 0; i < size; i++) {
            int slot = mix(tokens[i]) & mask;
            while (slots[slot] != 0) {
                slot = (slot + 1) & mask;
            }
            slots[slot] = i + 1;
        }
    }

    private static int mix(int x) {
        int h = x * 0x9E3779B9;
        return h ^ (h >>> 16);
    }
}
