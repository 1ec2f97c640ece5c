package io.trtllm.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Makes {@code reference/in-context-NAME.json}, the fixtures of {@link InContextDecodingIT}: for
 * each text, its ids ({@code encode(text, addSpecialTokens=true)}) and, for every split of them into a
 * prompt {@code ids[0, at)} and an output {@code ids[at, n)}, the output's text as the reference
 * defines it — {@code decode(prompt + output)} less {@code decode(prompt)} (less their common prefix
 * when the prompt ends inside a character), with and without special tokens. Every decode here is of
 * a whole sequence, in one call, through the Rust Hugging Face {@code tokenizers} library that
 * transformers' fast tokenizers use (DJL binds it); the test checks the incremental detokenizer, which
 * sees the prompt's last tokens and the output one token at a time, against these.
 *
 * <p>Run from the repository root (after {@code mvn -pl trtllm-core test-compile}):
 * {@code java -cp "trtllm-core/target/test-classes:trtllm-core/target/classes:$(cat cp.txt)"
 * io.trtllm.tokenizer.InContextReference trtllm-core/src/test/resources/reference}, with
 * {@code cp.txt} from {@code mvn -pl trtllm-core dependency:build-classpath -Dmdep.outputFile=cp.txt}.
 */
public final class InContextReference {
    /** English, a split multi-byte character, CJK, emoji made of several code points, text the decoders normalise. */
    static final List<String> TEXTS = List.of(
            "The cat was walking in the park.",
            "Hello, 世界! 🦙 llamas 🦙🦙 are here",
            "naïve café – déjà vu… ½ ° €",
            "family 👩‍👩‍👧 and flags 🇫🇷🇯🇵 ok",
            "  two leading spaces\nnew line\ttab  end",
            "日本語のテキスト、と한국어 텍스트 and ελληνικά");

    private InContextReference() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "trtllm-core/src/test/resources/reference");
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        for (String name : List.of("stories15M", "llama3", "qwen3")) {
            Path dir = TokenizerParityIT.tokenizerDirectory(name);
            ObjectNode root = json.createObjectNode();
            root.put("generator", InContextReference.class.getName());
            root.put("tokenizer", name);
            root.put("tokenizer_json_sha256", TokenizerParityIT.sha256(dir.resolve(Tokenizer.FILE_NAME)));
            ArrayNode cases = root.putArray("cases");
            try (Tokenizer tokenizer = Tokenizer.load(dir)) {
                for (String text : TEXTS) {
                    int[] ids = tokenizer.encode(text, true);
                    ObjectNode c = cases.addObject().put("text", text);
                    ArrayNode idsNode = c.putArray("ids");
                    for (int id : ids) {
                        idsNode.add(id);
                    }
                    ArrayNode splits = c.putArray("splits");
                    for (int at = 1; at < ids.length; at++) {
                        ObjectNode split = splits.addObject().put("at", at);
                        split.put("prompt_ends_inside_a_character",
                                tokenizer.decode(java.util.Arrays.copyOf(ids, at), false).endsWith("\uFFFD"));
                        split.put("output_text", after(tokenizer, ids, at, false));
                        split.put("output_text_skip_special", after(tokenizer, ids, at, true));
                    }
                }
            }
            Files.writeString(out.resolve("in-context-" + name + ".json"), json.writeValueAsString(root) + "\n");
        }
    }

    /** {@code decode(ids)} less {@code decode(ids[0, at))}, each decoded whole. */
    static String after(Tokenizer tokenizer, int[] ids, int at, boolean skipSpecial) {
        String full = tokenizer.decode(ids, skipSpecial);
        String prompt = tokenizer.decode(java.util.Arrays.copyOf(ids, at), skipSpecial);
        int common = 0;
        while (common < Math.min(full.length(), prompt.length()) && full.charAt(common) == prompt.charAt(common)) {
            common++;
        }
        return full.substring(common);
    }
}
