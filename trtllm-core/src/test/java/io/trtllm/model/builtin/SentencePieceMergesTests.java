package io.trtllm.model.builtin;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.builtin.SentencePieceMerges.Merge;
import java.util.List;
import org.junit.jupiter.api.Test;

class SentencePieceMergesTests {

    @Test
    void mergesFollowScoreOfTheProducedPiece() {
        List<String> pieces = List.of("<unk>", "a", "b", "c", "bc", "ab", "abc");
        float[] scores = {0, 0, 0, 0, -1, -2, -3};
        assertThat(SentencePieceMerges.derive(pieces, scores)).containsExactly(
                new Merge("b", "c"), // bc, score -1
                new Merge("a", "b"), // ab, -2
                new Merge("a", "bc"), // abc, -3: both splits, ordered by left id
                new Merge("ab", "c"));
    }

    @Test
    void equalScoresAreOrderedByLeftThenRightIdAcrossPieces() {
        // Llama-2's whitespace pieces all score -1e9; its tokenizer.json orders their merges by ids.
        List<String> pieces = List.of("x", "y", "xx", "yy", "xxx");
        float[] scores = {0, 0, -5, -5, -5};
        assertThat(SentencePieceMerges.derive(pieces, scores)).containsExactly(
                new Merge("x", "x"), new Merge("x", "xx"), new Merge("y", "y"), new Merge("xx", "x"));
    }

    @Test
    void splitsBetweenCodePointsNotInsideSurrogatePairs() {
        String grin = "\uD83D\uDE00"; // U+1F600, two UTF-16 units
        List<String> pieces = List.of("<unk>", grin, "a", "\uD83D", "\uDE00a", grin + "a", "a" + grin);
        float[] scores = {0, 0, 0, 0, 0, -1, -2};
        // "\uD83D" + "\uDE00a" are both "pieces" here, but that split cuts a character in two.
        assertThat(SentencePieceMerges.derive(pieces, scores)).containsExactly(
                new Merge(grin, "a"), new Merge("a", grin));
    }

    @Test
    void splitsOnlyIntoPiecesOfTheVocabulary() {
        List<String> pieces = List.of("a", "b", "abc");
        assertThat(SentencePieceMerges.derive(pieces, new float[] {0, 0, -1})).isEmpty();
    }
}
