package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Streaming detokenization: the deltas concatenate to {@code decode(ids)}, and none of them carries
 * half a character (U+FFFD), for the text set of the parity test, on byte-level BPE tokenizers
 * (Qwen3, Llama 3: tokens split CJK characters and emoji into bytes) and on a SentencePiece BPE
 * tokenizer with byte fallback (Mistral, laid out as Llama 2: {@code <0xF0>} tokens, and a decoder
 * that strips the leading space of the first token only).
 */
class IncrementalDetokenizerTests {
    private static Tokenizer qwen3;
    private static Tokenizer llama3;
    private static Tokenizer mistral;
    private static List<String> texts;

    @BeforeAll
    static void load() throws IOException {
        qwen3 = Tokenizer.load(TestFixtures.qwen3Tokenizer());
        llama3 = Tokenizer.load(TestFixtures.llama3Tokenizer());
        mistral = Tokenizer.load(TestFixtures.mistralTokenizer());
        try (InputStream in = IncrementalDetokenizerTests.class.getClassLoader()
                .getResourceAsStream("reference/tokenizer-texts.json")) {
            texts = new ObjectMapper().readValue(in, new TypeReference<>() { });
        }
    }

    @AfterAll
    static void close() {
        qwen3.close();
        llama3.close();
        mistral.close();
    }

    static Stream<Arguments> tokenizersAndSkip() {
        return Stream.of(
                Arguments.of("qwen3", false), Arguments.of("qwen3", true),
                Arguments.of("llama3", false), Arguments.of("llama3", true),
                Arguments.of("mistral", false), Arguments.of("mistral", true));
    }

    private static Tokenizer tokenizer(String name) {
        return switch (name) {
            case "qwen3" -> qwen3;
            case "llama3" -> llama3;
            default -> mistral;
        };
    }

    @ParameterizedTest(name = "{0}, skipSpecialTokens={1}")
    @MethodSource("tokenizersAndSkip")
    void deltasConcatenateToDecodeAndNeverSplitACharacter(String name, boolean skipSpecialTokens) {
        Tokenizer tokenizer = tokenizer(name);
        for (String text : texts) {
            int[] ids = tokenizer.encode(text, true);
            List<String> deltas = stream(tokenizer, ids, skipSpecialTokens);
            String expected = tokenizer.decode(ids, skipSpecialTokens);
            assertThat(String.join("", deltas)).as("deltas of %s", text).isEqualTo(expected);
            assertThat(deltas).as("deltas of %s", text).noneMatch(d -> d.indexOf('\uFFFD') >= 0);
        }
    }

    @Test
    void multiByteCharactersSplitAcrossTokensAreHeldBackUntilComplete() {
        // Each emoji is several byte-level tokens in Llama 3's vocabulary; the first ones alone are invalid UTF-8.
        String text = "🦙🤖👨\u200d👩\u200d👧";
        int[] ids = llama3.encode(text, false);
        assertThat(ids.length).isGreaterThan(text.codePointCount(0, text.length()));
        IncrementalDetokenizer detokenizer = llama3.newDetokenizer(false);
        int held = 0;
        for (int id : ids) {
            String delta = detokenizer.add(id);
            if (delta.isEmpty()) {
                held++;
            }
            assertThat(delta).doesNotContain("\uFFFD");
        }
        assertThat(held).isPositive();
        assertThat(detokenizer.flush()).isEmpty();
        assertThat(detokenizer.text()).isEqualTo(text);
    }

    @Test
    void sentencePieceStripsTheLeadingSpaceOfTheFirstTokenOnly() {
        // <s> ▁Hello ▁world , ▁again: decode() strips the space of ▁Hello, the first token it decodes.
        int[] ids = mistral.encode("Hello world, again", true);
        assertThat(ids[0]).isEqualTo(1);
        assertThat(stream(mistral, ids, true)).containsExactly("", "Hello", " world", ",", " again", "");
        assertThat(String.join("", stream(mistral, ids, false))).isEqualTo("<s> Hello world, again");
        // A text that starts with a space keeps it: "▁" "▁single" decode to " single" after the strip.
        int[] spaced = mistral.encode(" single leading space", false);
        assertThat(String.join("", stream(mistral, spaced, true))).isEqualTo(" single leading space");
    }

    @Test
    void byteFallbackTokensAreHeldBackUntilTheCharacterIsComplete() {
        // The llama emoji is not in Mistral's vocabulary: it is encoded as its four UTF-8 bytes, <0xF0> <0x9F> <0xA6> <0x99>.
        int[] ids = mistral.encode("a🦙b", false);
        Integer f0 = mistral.tokenToId("<0xF0>");
        assertThat(ids).contains(f0);
        IncrementalDetokenizer detokenizer = mistral.newDetokenizer(true);
        List<String> deltas = new ArrayList<>();
        for (int id : ids) {
            deltas.add(detokenizer.add(id));
        }
        assertThat(deltas).containsExactly("a", "", "", "", "🦙", "b");
        assertThat(detokenizer.flush()).isEmpty();
    }

    @Test
    void chatStreamWithSpecialTokens() {
        int[] ids = qwen3.encode("<|im_start|>assistant\n<think>\n\n</think>\n\n你好！😀<|im_end|>", false);
        assertThat(String.join("", stream(qwen3, ids, true))).isEqualTo("assistant\n<think>\n\n</think>\n\n你好！😀");
        assertThat(String.join("", stream(qwen3, ids, false)))
                .isEqualTo("<|im_start|>assistant\n<think>\n\n</think>\n\n你好！😀<|im_end|>");
    }

    @Test
    void textIsTheConcatenationOfDeltasSoFar() {
        IncrementalDetokenizer detokenizer = qwen3.newDetokenizer(true);
        StringBuilder seen = new StringBuilder();
        for (int id : qwen3.encode("Hello, 世界", false)) {
            seen.append(detokenizer.add(id));
            assertThat(detokenizer.text()).isEqualTo(seen.toString());
        }
        assertThat(detokenizer.text()).isEqualTo("Hello, 世界");
    }

    @Test
    void randomTokenStreamsMatchDecodeIncludingInvalidBytes() {
        // Random ids include byte tokens that never form valid UTF-8; decode() renders them as U+FFFD,
        // and the stream (with its final flush) must say the same.
        Random random = new Random(42);
        for (Tokenizer tokenizer : List.of(qwen3, llama3)) {
            int[] byteTokens = byteTokenIds(tokenizer);
            for (int run = 0; run < 50; run++) {
                int[] ids = new int[1 + random.nextInt(40)];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = random.nextInt(4) == 0 ? byteTokens[random.nextInt(byteTokens.length)]
                            : random.nextInt(tokenizer.vocabSize());
                }
                for (boolean skip : new boolean[] {false, true}) {
                    assertThat(String.join("", stream(tokenizer, ids, skip)))
                            .as("%s skip=%s ids=%s", tokenizer, skip, java.util.Arrays.toString(ids))
                            .isEqualTo(tokenizer.decode(ids, skip));
                }
            }
        }
    }

    @Test
    void decodeWindowStaysSmallOnLongStreams() {
        String text = "The quick brown fox jumps over the lazy dog. 日本語のテキスト 😀 ".repeat(200);
        int[] ids = llama3.encode(text, false);
        IncrementalDetokenizer detokenizer = llama3.newDetokenizer(true);
        int maxWindow = 0;
        for (int id : ids) {
            detokenizer.add(id);
            maxWindow = Math.max(maxWindow, detokenizer.windowLength());
        }
        assertThat(ids.length).isGreaterThan(3000);
        assertThat(maxWindow).isLessThanOrEqualTo(8);
        assertThat(detokenizer.text()).isEqualTo(text);
    }

    @Test
    void invalidBytesAreEmittedOnceTheCapIsReached() {
        // Stray continuation bytes (0x80) never complete: the detokenizer stops holding them back
        // after MAX_PENDING_TOKENS instead of re-decoding a growing window forever.
        int continuationByte = byteTokenIds(llama3)[0x80];
        IncrementalDetokenizer detokenizer = llama3.newDetokenizer(false);
        for (int i = 0; i < 100; i++) {
            detokenizer.add(continuationByte);
            assertThat(detokenizer.windowLength()).isLessThanOrEqualTo(2 * (IncrementalDetokenizer.MAX_PENDING_TOKENS + 1));
        }
        detokenizer.flush();
        assertThat(detokenizer.text()).isEqualTo("\uFFFD".repeat(100));
    }

    @Test
    void negativeIdsAreRejected() {
        assertThatThrownBy(() -> qwen3.newDetokenizer(false).add(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    private static List<String> stream(Tokenizer tokenizer, int[] ids, boolean skipSpecialTokens) {
        IncrementalDetokenizer detokenizer = tokenizer.newDetokenizer(skipSpecialTokens);
        List<String> deltas = new ArrayList<>();
        for (int id : ids) {
            deltas.add(detokenizer.add(id));
        }
        deltas.add(detokenizer.flush());
        assertThat(detokenizer.text()).isEqualTo(String.join("", deltas));
        return deltas;
    }

    /**
     * Ids of the 256 single-byte tokens of a GPT-2 style byte-level vocabulary, by byte value: bytes
     * are mapped to printable characters ('!'..'~', '¡'..'¬', '®'..'ÿ', then U+0100 onwards).
     */
    private static int[] byteTokenIds(Tokenizer tokenizer) {
        int[] ids = new int[256];
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + next++);
            Integer id = tokenizer.tokenToId(String.valueOf(c));
            assertThat(id).as("byte token for 0x%02x", b).isNotNull();
            ids[b] = id;
        }
        return ids;
    }
}
