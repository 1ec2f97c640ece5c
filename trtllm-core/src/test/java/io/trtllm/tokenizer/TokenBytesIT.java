package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.testing.Gen;
import io.trtllm.testing.TestFixtures;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Tokenizer#tokenBytes} is what the Rust decoder writes: for every token of the byte-level
 * (Qwen3, Llama 3) and SentencePiece (Mistral, stories15M) vocabularies whose bytes are UTF-8, and for
 * the concatenation over encoded random texts.
 */
class TokenBytesIT {
    private static List<Tokenizer> tokenizers;

    @BeforeAll
    static void load() {
        tokenizers = List.of(Tokenizer.load(TestFixtures.qwen3Tokenizer()), Tokenizer.load(TestFixtures.llama3Tokenizer()),
                Tokenizer.load(TestFixtures.mistralTokenizer()),
                Tokenizer.load(BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null))));
    }

    @AfterAll
    static void close() {
        tokenizers.forEach(Tokenizer::close);
    }

    @Test
    void everyTokenDecodesToItsBytes() {
        for (Tokenizer t : tokenizers) {
            int checked = 0;
            for (int id = 0; id < t.vocabSize(); id++) {
                byte[] bytes = t.tokenBytes(id);
                if (bytes == null) {
                    continue;
                }
                String text = strictUtf8(bytes);
                if (text == null) {
                    continue; // part of a character: checked in sequences below
                }
                if (t.decodeStripsLeadingSpace() && text.startsWith(" ")) {
                    text = text.substring(1); // a decode of one token drops its leading space
                }
                assertThat(t.decode(new int[] {id}, false)).as("%s token %d", t, id).isEqualTo(text);
                checked++;
            }
            assertThat(checked).as("%s tokens checked", t).isGreaterThan(t.vocabSize() / 2);
        }
    }

    @Test
    void addedTokensHaveNoBytes() {
        Tokenizer qwen3 = tokenizers.get(0);
        assertThat(qwen3.tokenBytes(qwen3.tokenToId("<|im_start|>"))).isNull();
        assertThat(qwen3.tokenBytes(qwen3.tokenToId("<tool_call>"))).as("an added token that is not special").isNull();
        assertThat(qwen3.tokenBytes(-1)).isNull();
        assertThat(qwen3.tokenBytes(qwen3.vocabSize() + 5)).isNull();
        Tokenizer mistral = tokenizers.get(2);
        assertThat(mistral.tokenBytes(mistral.tokenToId("</s>"))).isNull();
        assertThat(mistral.tokenBytes(mistral.tokenToId("<0x0A>"))).containsExactly('\n');
        assertThat(mistral.tokenBytes(mistral.tokenToId("▁the"))).containsExactly(" the".getBytes(StandardCharsets.UTF_8));
        assertThat(mistral.decodeStripsLeadingSpace()).isTrue();
        assertThat(qwen3.decodeStripsLeadingSpace()).isFalse();
        Tokenizer llama3 = tokenizers.get(1);
        assertThat(llama3.tokenBytes(llama3.encode(" hello", false)[0])).containsExactly(" hello".getBytes(StandardCharsets.UTF_8));
    }

    static Stream<Long> seeds() {
        return Gen.seeds("token bytes concatenate to the decoded text", 40);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void bytesOfEncodedTextConcatenateToItsDecoding(long seed) {
        Gen gen = new Gen(seed);
        String text = gen.frequency(3, () -> gen.string("abc xyz{}\":,\n\t0123é日本😀", 0, 40), 1, () -> gen.anyString(30));
        for (Tokenizer t : tokenizers) {
            int[] ids = t.encode(text, false);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int i = 0; i < ids.length; i++) {
                byte[] b = t.tokenBytes(ids[i]);
                assertThat(b).as("%s token %d of %s", t, ids[i], text).isNotNull();
                if (i == 0 && t.decodeStripsLeadingSpace() && b.length > 0 && b[0] == ' ') {
                    out.write(b, 1, b.length - 1);
                } else {
                    out.writeBytes(b);
                }
            }
            String decoded = t.decode(ids, false);
            String ours = new String(out.toByteArray(), StandardCharsets.UTF_8);
            assertThat(ours).as("%s on %s", t, text).isEqualTo(decoded);
        }
    }

    private static String strictUtf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
