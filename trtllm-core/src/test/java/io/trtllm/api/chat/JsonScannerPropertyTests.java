package io.trtllm.api.chat;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.testing.Gen;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The incremental scanner is a JSON object recognizer: on random near-JSON texts it accepts exactly what
 * Jackson (strict by default) parses as one object, and the members it reports are Jackson's.
 */
class JsonScannerPropertyTests {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static Stream<Long> seeds() {
        return Gen.seeds("json scanner = jackson", 500);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void acceptsWhatJacksonParses(long seed) {
        Gen gen = new Gen(seed);
        String text = mutate(gen, object(gen, 0));
        List<String> keys = new ArrayList<>();
        List<StringBuilder> values = new ArrayList<>();
        JsonScanner scanner = new JsonScanner(new JsonScanner.Listener() {
            @Override
            public void key(String key) {
                keys.add(key);
                values.add(new StringBuilder());
            }

            @Override
            public void valueChar(char c) {
                values.getLast().append(c);
            }

            @Override
            public void valueEnd() {
            }
        });
        boolean accepted = false;
        for (int i = 0; i < text.length(); i++) {
            JsonScanner.Status s = scanner.feed(text.charAt(i));
            if (s == JsonScanner.Status.ERROR) {
                break;
            }
            if (s == JsonScanner.Status.DONE) {
                accepted = text.substring(i + 1).isBlank();
                break;
            }
        }
        JsonNode jackson;
        try {
            jackson = JSON.readTree(text);
        } catch (Exception e) {
            jackson = null;
        }
        boolean expected = jackson != null && jackson.isObject();
        assertThat(accepted).as("%s", text).isEqualTo(expected);
        if (accepted) {
            var fields = jackson.properties().iterator();
            for (int i = 0; i < keys.size(); i++) {
                var f = fields.next();
                assertThat(keys.get(i)).isEqualTo(f.getKey());
                try {
                    assertThat(JSON.readTree(values.get(i).toString())).as("value of %s in %s", f.getKey(), text)
                            .isEqualTo(f.getValue());
                } catch (Exception e) {
                    throw new AssertionError("value text " + values.get(i) + " of " + text, e);
                }
            }
            assertThat(fields.hasNext()).isFalse();
        }
    }

    private static String object(Gen gen, int depth) {
        StringBuilder s = new StringBuilder("{");
        int n = gen.intBetween(0, 3);
        for (int i = 0; i < n; i++) {
            s.append(i > 0 ? gen.oneOf(",", " , ", ",\n") : gen.oneOf("", " ", "\n"));
            // Keys differ (Jackson keeps the last of duplicates; the scanner reports each).
            s.append(string(gen).replaceFirst("^\"", "\"" + i)).append(gen.oneOf(":", " : ", ":\t")).append(value(gen, depth + 1));
        }
        return s.append(gen.oneOf("", " ")).append('}').toString();
    }

    private static String value(Gen gen, int depth) {
        return gen.frequency(
                3, () -> string(gen),
                3, () -> gen.oneOf("0", "-1", "12.5", "1e5", "-0.0E-2", "3", "1E+2", "10"),
                1, () -> gen.oneOf("true", "false", "null"),
                depth < 3 ? 2 : 0, () -> gen.bool() ? object(gen, depth)
                        : "[" + (gen.bool() ? "" : value(gen, depth + 1) + (gen.bool() ? "" : ", " + value(gen, depth + 1))) + "]");
    }

    private static String string(Gen gen) {
        return "\"" + gen.frequency(4, () -> gen.string("ab é😀 ", 0, 5), 1, () -> gen.oneOf("\\n", "\\\"", "\\\\", "\\u00e9",
                "\\ud83d\\ude00", "\\/", "\\t")) + "\"";
    }

    /** Sometimes breaks the text: a character dropped, doubled, replaced by one of JSON's, or the end cut. */
    private static String mutate(Gen gen, String s) {
        if (gen.chance(0.4) || s.isEmpty()) {
            return s;
        }
        int at = gen.intBetween(0, s.length() - 1);
        String c = gen.oneOf("{", "}", "[", "]", ",", ":", "\"", "\\", "0", "01", "-", "e", ".", "t", "nul", " ", "\u0001", "\n", "x");
        return switch (gen.intBetween(0, 3)) {
            case 0 -> s.substring(0, at) + s.substring(at + 1);
            case 1 -> s.substring(0, at) + c + s.substring(at);
            case 2 -> s.substring(0, at) + c + s.substring(at + 1);
            default -> s.substring(0, at);
        };
    }
}
