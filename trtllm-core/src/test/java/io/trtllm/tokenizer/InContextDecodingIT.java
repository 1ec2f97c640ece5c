package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.StreamSupport;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Output text is the text the reference gives it after its prompt: for every split of each text of
 * {@code reference/in-context-NAME.json} (made by {@link InContextReference}) into a prompt and an
 * output, the incremental detokenizer over the prompt, fed the output one token at a time, and
 * {@link IncrementalDetokenizer#decodeAfter}, give {@code decode(prompt + output)} less
 * {@code decode(prompt)} — with SentencePiece's leading space ({@code " was"}, not {@code "was"}), and
 * characters whose bytes are split across tokens and across the prompt's end.
 */
class InContextDecodingIT {

    @ParameterizedTest
    @ValueSource(strings = {"stories15M", "llama3", "qwen3"})
    void outputTextIsDecodedInThePromptsContext(String name) throws IOException {
        JsonNode reference;
        try (InputStream in = getClass().getResourceAsStream("/reference/in-context-" + name + ".json")) {
            assertThat(in).as("reference/in-context-%s.json (made by InContextReference)", name).isNotNull();
            reference = new ObjectMapper().readTree(in);
        }
        Path dir = TokenizerParityIT.tokenizerDirectory(name);
        assertThat(TokenizerParityIT.sha256(dir.resolve(Tokenizer.FILE_NAME)))
                .as("in-context-%s.json was made from another tokenizer.json: rerun InContextReference", name)
                .isEqualTo(reference.get("tokenizer_json_sha256").asText());
        assertThat(StreamSupport.stream(reference.get("cases").spliterator(), false).map(c -> c.get("text").asText())
                .toList()).as("texts; rerun InContextReference").isEqualTo(InContextReference.TEXTS);

        int exact = 0;
        var soft = new SoftAssertions();
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            for (JsonNode c : reference.get("cases")) {
                int[] ids = StreamSupport.stream(c.get("ids").spliterator(), false).mapToInt(JsonNode::asInt).toArray();
                soft.assertThat(tokenizer.encode(c.get("text").asText(), true)).as("ids of %s", c.get("text"))
                        .containsExactly(ids);
                for (JsonNode split : c.get("splits")) {
                    int at = split.get("at").asInt();
                    int[] prompt = Arrays.copyOf(ids, at);
                    int[] output = Arrays.copyOfRange(ids, at, ids.length);
                    boolean inside = split.get("prompt_ends_inside_a_character").asBoolean();
                    for (boolean skip : new boolean[] {false, true}) {
                        String expected = split.get(skip ? "output_text_skip_special" : "output_text").asText();
                        String what = name + " " + c.get("text") + " at " + at + (skip ? " skipping special" : "");
                        String whole = IncrementalDetokenizer.decodeAfter(tokenizer, prompt, output, skip);
                        if (inside) {
                            // A prompt of token ids that ends inside a character (a text prompt never does):
                            // the reference's difference depends on how the decoder garbles the prompt's
                            // broken tail, which a decode of the prompt's last tokens cannot reproduce. Only
                            // consistency is promised: the stream gives what the whole decode gives.
                            soft.assertThat(incremental(tokenizer, prompt, output, skip, false)).as(what).isEqualTo(whole);
                            continue;
                        }
                        soft.assertThat(incremental(tokenizer, prompt, output, skip, true)).as(what).isEqualTo(expected);
                        soft.assertThat(whole).as(what).isEqualTo(expected);
                    }
                    exact += inside ? 0 : 1;
                }
            }
        }
        soft.assertAll();
        assertThat(exact).as("splits checked exactly").isGreaterThan(50);
    }

    private static String incremental(Tokenizer tokenizer, int[] prompt, int[] output, boolean skip) {
        return incremental(tokenizer, prompt, output, skip, true);
    }

    private static String incremental(Tokenizer tokenizer, int[] prompt, int[] output, boolean skip, boolean clean) {
        IncrementalDetokenizer detok = tokenizer.newDetokenizer(skip, prompt);
        StringBuilder text = new StringBuilder();
        for (int id : output) {
            String delta = detok.add(id);
            if (clean) { // never half a character, nor a character garbled by the window's start
                assertThat(delta).as("delta of %s after %s", id, Arrays.toString(prompt)).doesNotContain("\uFFFD");
            }
            text.append(delta);
        }
        text.append(detok.flush());
        assertThat(detok.text()).isEqualTo(text.toString());
        return text.toString();
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories15M"})
    void withoutAPromptTheTextIsThePlainDecode(String name) {
        try (Tokenizer tokenizer = Tokenizer.load(TokenizerParityIT.tokenizerDirectory(name))) {
            int[] ids = tokenizer.encode("was walking", false);
            assertThat(IncrementalDetokenizer.decodeAfter(tokenizer, new int[0], ids, true))
                    .isEqualTo(tokenizer.decode(ids, true)).isEqualTo("was walking");
            assertThat(List.of(incremental(tokenizer, new int[0], ids, true))).containsExactly("was walking");
        }
    }
}
