package io.trtllm.sampling.guided;

import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.testing.TestFixtures;
import io.trtllm.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Vocabularies for the tests: the real ones of Llama 3 and Qwen3 (byte-level BPE) and stories15M
 * (SentencePiece with byte fallback), loaded once per JVM, and small synthetic ones.
 */
final class Vocabularies {
    /** A real tokenizer and the guide vocabulary made from it. */
    record Real(String name, Tokenizer tokenizer, GuideVocabulary vocabulary) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static final Map<String, Real> REAL = new ConcurrentHashMap<>();

    private Vocabularies() {
    }

    static Real llama3() {
        return REAL.computeIfAbsent("llama3", n -> real(n, Tokenizer.load(TestFixtures.llama3Tokenizer())));
    }

    static Real qwen3() {
        return REAL.computeIfAbsent("qwen3", n -> real(n, Tokenizer.load(TestFixtures.qwen3Tokenizer())));
    }

    static Real stories15M() {
        return REAL.computeIfAbsent("stories15M", n -> real(n,
                Tokenizer.load(BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null)))));
    }

    static List<Real> all() {
        return List.of(llama3(), qwen3(), stories15M());
    }

    private static Real real(String name, Tokenizer t) {
        return new Real(name, t, GuideVocabulary.of(t.vocabSize(), t::tokenBytes, t.eosTokenIds(), t.decodeStripsLeadingSpace()));
    }

    /**
     * A small vocabulary: every single byte (so any text can be written), JSON-ish pieces, multi-byte
     * characters whole and split, long runs, an empty token, special tokens without bytes, and the end
     * token last.
     */
    static GuideVocabulary small(boolean firstTokenDropsLeadingSpace) {
        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(new byte[] {(byte) b});
        }
        for (String s : List.of("{", "}", "{\"", "\":", "\": ", "\",", "\", \"", "\"}", "\"]", "[", "]", "[\"", ", ",
                "true", "false", "null", "nul", "tr", "ue", "0", "1", "12", "123", "-1", "0.", ".5", "e+", "E-3",
                "name", "age", "\"name\"", "\"age\":", " \"", "  ", "    ", "\n", "\n  ", "\n\n\n\n", " {", " [",
                "ab", "abc", "ba", "xyz", "red", "green", "blue", " sky", "é", "ü", "日本", "😀", "\\n", "\\u00", "\\\"",
                "A", "AB", "-", "T1", ":00", "Z", "2024-", "01", "-15", "yes", "no", "maybe", " yes", "\"yes\"",
                "()", "((", "))", "+", "*", "x", "1+2", "<think>")) {
            tokens.add(s.getBytes(StandardCharsets.UTF_8));
        }
        byte[] smile = "😀".getBytes(StandardCharsets.UTF_8);
        tokens.add(new byte[] {smile[0], smile[1]});
        tokens.add(new byte[] {smile[2], smile[3]});
        tokens.add(new byte[] {smile[3], '"'});
        tokens.add(new byte[0]); // an empty token: never allowed
        tokens.add(null); // a special token
        tokens.add(null);
        tokens.add(null); // the end token
        int end = tokens.size() - 1;
        byte[][] array = tokens.toArray(byte[][]::new);
        return GuideVocabulary.of(array.length, id -> array[id], List.of(end), firstTokenDropsLeadingSpace);
    }

    /** A vocabulary of single bytes only, the end token at 256: one token per byte, for exact language checks. */
    static GuideVocabulary bytes() {
        return GuideVocabulary.of(257, id -> id < 256 ? new byte[] {(byte) id} : null, List.of(256), false);
    }
}
