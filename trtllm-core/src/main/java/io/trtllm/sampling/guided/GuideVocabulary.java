package io.trtllm.sampling.guided;

import io.trtllm.sampling.TokenBitmask;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Collection;
import java.util.HexFormat;
import java.util.function.IntFunction;
import org.jspecify.annotations.Nullable;

/**
 * What guided decoding needs to know of a tokenizer: the bytes each token writes, which tokens end the
 * sequence, and whether the detokenizer drops a leading space of the first generated token. Build it
 * once per tokenizer and share it (compiled guides are cached per vocabulary content, by
 * {@link #fingerprint()}):
 *
 * <pre>{@code
 * GuideVocabulary vocab = GuideVocabulary.of(tokenizer.vocabSize(), tokenizer::tokenBytes,
 *         tokenizer.eosTokenIds(), tokenizer.decodeStripsLeadingSpace());
 * }</pre>
 *
 * <p>Tokens without bytes (null: special and other added tokens, ids that are no token) and tokens of
 * zero bytes are never allowed inside a guided output; the end tokens only where the output is
 * complete. Thread-safe and immutable (its tries are built once, on first use).
 */
public final class GuideVocabulary {
    private final byte[][] bytes;
    private final int[] endTokenIds;
    private final boolean firstTokenDropsLeadingSpace;
    private final String fingerprint;
    private volatile @Nullable Tries tries;

    private record Tries(TokenTrie trie, long[] candidates, @Nullable TokenTrie firstTrie, long @Nullable [] firstCandidates) {
    }

    private GuideVocabulary(byte[][] bytes, int[] endTokenIds, boolean firstTokenDropsLeadingSpace) {
        this.bytes = bytes;
        this.endTokenIds = endTokenIds;
        this.firstTokenDropsLeadingSpace = firstTokenDropsLeadingSpace;
        this.fingerprint = fingerprint(bytes, endTokenIds, firstTokenDropsLeadingSpace);
    }

    /**
     * @param size                        ids run from 0 to size - 1
     * @param tokenBytes                  the bytes token {@code id} writes, or null for a token never to
     *                                    allow (special and added tokens); the arrays are copied
     * @param endTokenIds                 end-of-sequence ids, allowed where the output is complete
     * @param firstTokenDropsLeadingSpace whether the first generated token's text loses a leading space
     *                                    (SentencePiece's decoder): then its bytes less that space count
     */
    public static GuideVocabulary of(int size, IntFunction<byte @Nullable []> tokenBytes,
                                     Collection<Integer> endTokenIds, boolean firstTokenDropsLeadingSpace) {
        if (size < 0) {
            throw new IllegalArgumentException("vocabulary size " + size);
        }
        byte[][] bytes = new byte[size][];
        for (int id = 0; id < size; id++) {
            byte[] b = tokenBytes.apply(id);
            bytes[id] = b == null ? null : b.clone();
        }
        int[] ends = endTokenIds.stream().mapToInt(Integer::intValue).distinct().sorted().toArray();
        for (int id : ends) {
            if (id < 0 || id >= size) {
                throw new IllegalArgumentException("end token id " + id + " is outside the vocabulary of " + size);
            }
        }
        return new GuideVocabulary(bytes, ends, firstTokenDropsLeadingSpace);
    }

    /** Ids run from 0 to size - 1. */
    public int size() {
        return bytes.length;
    }

    /** The bytes token {@code id} writes, or null when it is never allowed inside a guided output. */
    public byte @Nullable [] tokenBytes(int id) {
        return id < 0 || id >= bytes.length || bytes[id] == null ? null : bytes[id].clone();
    }

    /** End-of-sequence ids, ascending. */
    public int[] endTokenIds() {
        return endTokenIds.clone();
    }

    public boolean firstTokenDropsLeadingSpace() {
        return firstTokenDropsLeadingSpace;
    }

    /** SHA-256 of the content: compiled guides are shared between vocabularies of the same fingerprint. */
    public String fingerprint() {
        return fingerprint;
    }

    boolean isEnd(int id) {
        return Arrays.binarySearch(endTokenIds, id) >= 0;
    }

    int[] ends() {
        return endTokenIds;
    }

    /**
     * The bytes token {@code id} writes at this point of the output, or null when it may not be part of
     * it: special tokens, empty ones, and (as the first token where the decoder drops a leading space)
     * its bytes less that space.
     */
    byte @Nullable [] effectiveBytes(int id, boolean first) {
        if (id < 0 || id >= bytes.length) {
            return null;
        }
        byte[] b = bytes[id];
        if (b == null) {
            return null;
        }
        if (first && firstTokenDropsLeadingSpace && b.length > 0 && b[0] == ' ') {
            b = Arrays.copyOfRange(b, 1, b.length);
        }
        return b.length == 0 ? null : b;
    }

    TokenTrie trie(boolean first) {
        Tries t = tries();
        return first && t.firstTrie() != null ? t.firstTrie() : t.trie();
    }

    /** Every token a mask can allow (end tokens aside), as a bitmask. */
    long[] candidates(boolean first) {
        Tries t = tries();
        return first && t.firstCandidates() != null ? t.firstCandidates() : t.candidates();
    }

    private Tries tries() {
        Tries t = tries;
        if (t == null) {
            synchronized (this) {
                t = tries;
                if (t == null) {
                    t = buildTries();
                    tries = t;
                }
            }
        }
        return t;
    }

    private Tries buildTries() {
        byte[][] normal = new byte[bytes.length][];
        for (int id = 0; id < bytes.length; id++) {
            normal[id] = effectiveBytes(id, false);
        }
        TokenTrie trie = TokenTrie.build(normal);
        long[] candidates = candidates(normal);
        if (!firstTokenDropsLeadingSpace) {
            return new Tries(trie, candidates, null, null);
        }
        byte[][] first = new byte[bytes.length][];
        for (int id = 0; id < bytes.length; id++) {
            first[id] = effectiveBytes(id, true);
        }
        return new Tries(trie, candidates, TokenTrie.build(first), candidates(first));
    }

    private static long[] candidates(byte[][] effective) {
        long[] words = new long[TokenBitmask.words(effective.length)];
        for (int id = 0; id < effective.length; id++) {
            if (effective[id] != null) {
                words[id >>> 6] |= 1L << id;
            }
        }
        return words;
    }

    private static String fingerprint(byte[][] bytes, int[] ends, boolean strip) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(("guide-vocabulary/1 " + bytes.length + " " + strip + " " + Arrays.toString(ends) + "\n")
                    .getBytes(StandardCharsets.US_ASCII));
            byte[] length = new byte[4];
            for (byte[] b : bytes) {
                int n = b == null ? -1 : b.length;
                length[0] = (byte) (n >>> 24);
                length[1] = (byte) (n >>> 16);
                length[2] = (byte) (n >>> 8);
                length[3] = (byte) n;
                sha.update(length);
                if (b != null) {
                    sha.update(b);
                }
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    @Override
    public String toString() {
        return "GuideVocabulary[" + bytes.length + " tokens, " + fingerprint.substring(0, 12) + "]";
    }
}
