package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.model.ModelFormatException;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading, encoding and decoding with real tokenizers (Qwen3, Llama 3, Mistral), and what goes wrong how. */
class TokenizerTests {
    private static Tokenizer qwen3;
    private static Tokenizer llama3;

    @BeforeAll
    static void load() {
        qwen3 = Tokenizer.load(TestFixtures.qwen3Tokenizer());
        llama3 = Tokenizer.load(TestFixtures.llama3Tokenizer());
    }

    @AfterAll
    static void close() {
        qwen3.close();
        llama3.close();
    }

    @Test
    void encodesWithTheModelsVocabulary() {
        // "Hello" "," " world" "!" in each vocabulary.
        assertThat(qwen3.encode("Hello, world!", false)).containsExactly(9707, 11, 1879, 0);
        assertThat(llama3.encode("Hello, world!", false)).containsExactly(9906, 11, 1917, 0);
    }

    @Test
    void specialTokenTextsEncodeToTheirIds() {
        assertThat(qwen3.encode("<|im_start|>user\nHi<|im_end|>", false))
                .startsWith(151644).endsWith(151645);
        assertThat(llama3.encode("<|begin_of_text|>Hi<|eot_id|>", false))
                .startsWith(128000).endsWith(128009);
    }

    @Test
    void decodeRoundTripsText() {
        for (Tokenizer tokenizer : new Tokenizer[] {qwen3, llama3}) {
            for (String text : new String[] {"Hello, world!", "  two spaces\tand a tab\n", "日本語のテキスト 😀👨\u200d👩\u200d👧", ""}) {
                assertThat(tokenizer.decode(tokenizer.encode(text, false), false)).as("%s: %s", tokenizer, text).isEqualTo(text);
            }
        }
    }

    @Test
    void decodeSkipsSpecialTokensOnlyWhenAsked() {
        int[] ids = qwen3.encode("<|im_start|>user\nHello<|im_end|>", false);
        assertThat(qwen3.decode(ids, false)).isEqualTo("<|im_start|>user\nHello<|im_end|>");
        assertThat(qwen3.decode(ids, true)).isEqualTo("user\nHello");
        // <tool_call> is an added token that is not special: it stays.
        assertThat(qwen3.decode(qwen3.encode("<tool_call>x", false), true)).isEqualTo("<tool_call>x");
    }

    @Test
    void decodeLeavesOutIdsOutsideTheVocabularyAndRejectsNegativeOnes() {
        assertThat(qwen3.decode(new int[] {9707, 10_000_000}, false)).isEqualTo("Hello");
        assertThatThrownBy(() -> qwen3.decode(new int[] {9707, -1}, false))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-1");
    }

    @Test
    void vocabularyAndSpecialTokens() {
        assertThat(qwen3.vocabSize()).isEqualTo(151_643 + 26);
        assertThat(llama3.vocabSize()).isEqualTo(128_000 + 256);
        assertThat(qwen3.tokenToId("<|im_end|>")).isEqualTo(151645);
        assertThat(qwen3.tokenToId("Hello")).isEqualTo(9707);
        assertThat(llama3.tokenToId("<|eot_id|>")).isEqualTo(128009);
        assertThat(qwen3.tokenToId("not a token")).isNull();
        assertThat(qwen3.isSpecialToken(151645)).isTrue();
        assertThat(qwen3.isSpecialToken(151657)).as("<tool_call>").isFalse();
        assertThat(qwen3.isSpecialToken(9707)).isFalse();
    }

    @Test
    void configTokens() {
        assertThat(qwen3.eosTokenIds()).containsExactly(151645);
        assertThat(qwen3.bosToken()).isNull();
        assertThat(qwen3.addBosToken()).isFalse();
        assertThat(qwen3.hasChatTemplate()).isTrue();
        assertThat(llama3.eosTokenIds()).containsExactly(128001);
        assertThat(llama3.bosToken()).isEqualTo("<|begin_of_text|>");
        assertThat(llama3.addBosToken()).isNull();
        assertThat(llama3.hasChatTemplate()).isTrue();
    }

    @Test
    void sentencePieceTokenizerAddsBosThroughItsPostProcessor() {
        try (Tokenizer mistral = Tokenizer.load(TestFixtures.mistralTokenizer())) {
            assertThat(mistral.encode("Once upon a time", true)).containsExactly(1, 5713, 3714, 264, 727);
            assertThat(mistral.encode("Once upon a time", false)).containsExactly(5713, 3714, 264, 727);
            assertThat(mistral.decode(new int[] {1, 5713, 3714, 264, 727}, true)).isEqualTo("Once upon a time");
            assertThat(mistral.decode(new int[] {1, 5713, 3714, 264, 727}, false)).isEqualTo("<s> Once upon a time");
            assertThat(mistral.vocabSize()).isEqualTo(32_000);
            assertThat(mistral.bosToken()).isEqualTo("<s>");
            assertThat(mistral.addBosToken()).isTrue();
            assertThat(mistral.eosTokenIds()).containsExactly(2);
            // No chat template: the prompt is the plain text, encoded with the post-processor's BOS.
            assertThat(mistral.hasChatTemplate()).isFalse();
            assertThat(mistral.encodeChat(java.util.List.of(ChatMessage.user("Once upon a time")), true))
                    .containsExactly(1, 5713, 3714, 264, 727);
        }
    }

    @Test
    void specialTokensAreAddedOnlyWhenAskedAndNothingIsTruncatedOrPadded(@TempDir Path dir) throws IOException {
        // Llama 3's tokenizer.json with the post-processor of its later revision, which prepends BOS.
        ObjectMapper json = new ObjectMapper();
        ObjectNode tokenizerJson = (ObjectNode) json.readTree(TestFixtures.llama3Tokenizer().resolve("tokenizer.json").toFile());
        tokenizerJson.set("post_processor", json.readTree("""
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]}}}"""));
        json.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizerJson);
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            assertThat(tokenizer.encode("Hello", false)).containsExactly(9906);
            assertThat(tokenizer.encode("Hello", true)).containsExactly(128000, 9906);
            String longText = "word ".repeat(2000).strip();
            assertThat(tokenizer.encode(longText, true)).hasSize(2001);
            assertThat(tokenizer.encode("", true)).containsExactly(128000);
            assertThat(tokenizer.encode("", false)).isEmpty();
            // No tokenizer_config.json: no template, no eos.
            assertThat(tokenizer.hasChatTemplate()).isFalse();
            assertThat(tokenizer.eosTokenIds()).isEmpty();
        }
    }

    @Test
    void missingTokenizerJsonNamesTheFile(@TempDir Path dir) {
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(dir.resolve("tokenizer.json").toString())
                .hasMessageContaining("not found");
    }

    @Test
    void invalidTokenizerJsonNamesTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"model\": {\"vocab\": ");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("not valid JSON");

        Files.writeString(file, "{\"version\": \"1.0\"}");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("model.vocab");

        Files.writeString(file, "{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {\"a\": 0}}}");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("Hugging Face tokenizers");
    }

    @Test
    void invalidTokenizerConfigNamesTheFile(@TempDir Path dir) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
                StandardCopyOption.REPLACE_EXISTING);
        Path config = dir.resolve("tokenizer_config.json");

        Files.writeString(config, "{not json");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(config.toString());

        Files.writeString(config, "{\"eos_token\": 42}");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(config.toString())
                .hasMessageContaining("eos_token");

        Files.writeString(config, "{\"eos_token\": \"<|no_such_token|>\"}");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(config.toString())
                .hasMessageContaining("<|no_such_token|>");

        Files.writeString(config, "{\"chat_template\": 7}");
        assertThatThrownBy(() -> Tokenizer.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(config.toString())
                .hasMessageContaining("chat_template");
    }

    @Test
    void closedTokenizerSaysSo(@TempDir Path dir) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Tokenizer tokenizer = Tokenizer.load(dir);
        tokenizer.close();
        tokenizer.close();
        assertThatThrownBy(() -> tokenizer.encode("x", false))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }
}
