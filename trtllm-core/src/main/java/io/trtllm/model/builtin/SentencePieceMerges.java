package io.trtllm.model.builtin;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Derives BPE merge rules from a SentencePiece BPE vocabulary and its scores, so a SentencePiece
 * model can run as a Hugging Face {@code tokenizers} BPE model.
 *
 * <p>SentencePiece BPE has no merge list: encoding repeatedly joins the adjacent pair whose
 * concatenation is the best-scored piece. Hugging Face's {@code convert_slow_tokenizer}
 * ({@code SentencePieceExtractor}) turns that into merges: for every piece, every split into two
 * pieces that are both in the vocabulary is a merge, and merges are ordered by the score of the
 * piece they produce, best first.
 *
 * <p>Among merges of equal score, the order here is (left id, right id) — what the 2023
 * {@code SentencePieceExtractor} produced and what Llama-2's published {@code tokenizer.json}
 * contains (the test compares all 61,249 merges with llama-tokenizer-js's copy of it). Newer
 * transformers ({@code generate_merges}) break ties by longer left piece, then longer right
 * piece; that reorders alternatives that produce the same piece but did not change a single
 * tokenization we compared.
 */
public final class SentencePieceMerges {

    /** One merge rule: the pieces {@code left} and {@code right} join into {@code left + right}. */
    public record Merge(String left, String right) {
    }

    private SentencePieceMerges() {
    }

    /**
     * The merges of a SentencePiece BPE vocabulary, highest priority first.
     *
     * @param pieces pieces by id, in SentencePiece form ({@code ▁} for space)
     * @param scores score of each piece (higher merges earlier)
     */
    public static List<Merge> derive(List<String> pieces, float[] scores) {
        if (pieces.size() != scores.length) {
            throw new IllegalArgumentException(pieces.size() + " pieces but " + scores.length + " scores");
        }
        // Like the Python dict HF builds: a repeated piece maps to its last id.
        Map<String, Integer> ids = new HashMap<>(pieces.size() * 2);
        for (int id = 0; id < pieces.size(); id++) {
            ids.put(pieces.get(id), id);
        }
        // Candidates packed as {score, left, right} triples in a growable int array: ~60k merges
        // for a 32k vocabulary, so no per-merge objects until the result.
        int[] packed = new int[pieces.size() * 3 * 2];
        int n = 0;
        for (int id = 0; id < pieces.size(); id++) {
            String piece = pieces.get(id);
            // Split between code points, never inside a surrogate pair (pieces can hold emoji or CJK
            // extension characters).
            for (int at = piece.isEmpty() ? 0 : piece.offsetByCodePoints(0, 1); at > 0 && at < piece.length();
                    at = piece.offsetByCodePoints(at, 1)) {
                Integer left = ids.get(piece.substring(0, at));
                Integer right = ids.get(piece.substring(at));
                if (left != null && right != null) {
                    if (n + 3 > packed.length) {
                        packed = Arrays.copyOf(packed, packed.length * 2);
                    }
                    packed[n++] = id;
                    packed[n++] = left;
                    packed[n++] = right;
                }
            }
        }
        Integer[] order = new Integer[n / 3];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        int[] merges = packed;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(scores[merges[3 * b]], scores[merges[3 * a]]); // score, descending
            if (c == 0) {
                c = Integer.compare(merges[3 * a + 1], merges[3 * b + 1]);
            }
            if (c == 0) {
                c = Integer.compare(merges[3 * a + 2], merges[3 * b + 2]);
            }
            return c;
        });
        Merge[] result = new Merge[order.length];
        for (int i = 0; i < order.length; i++) {
            int m = order[i];
            result[i] = new Merge(pieces.get(merges[3 * m + 1]), pieces.get(merges[3 * m + 2]));
        }
        return List.of(result);
    }
}
