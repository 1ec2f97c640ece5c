package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.InputFormat;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.testing.Gen;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Generations of the other kinds on the real vocabularies: regex outputs match (java.util.regex),
 * choice outputs are one of the choices, json_object outputs are JSON objects (Jackson), grammar
 * outputs are sentences of the grammar (a recursive-descent recognizer written here), and every
 * supported string format validates (networknt, formats asserted).
 */
class GuidedKindsGenerationIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    static final List<String> REGEXES = List.of(
            "[A-Z][a-z]{2,6}( [A-Z][a-z]{2,6})?",
            "(\\+|-)?[0-9]{1,4}(\\.[0-9]{1,2})?",
            "(yes|no), because [a-z ]{5,20}\\.",
            "[\\w.]+@[a-z]+\\.(com|org)",
            "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}",
            "(é|ü|日本|😀){1,4}!");
    static final List<String> CHOICES = List.of("positive", "negative", "neutral", "very positive", "日本語");
    static final String ARITHMETIC = """
            root ::= expr
            expr ::= term (ws ("+" | "-") ws term)*
            term ::= factor (ws "*" ws factor)*
            factor ::= [0-9]{1,3} | "(" ws expr ws ")"
            ws ::= " "?
            """;
    static final List<String> FORMATS = List.of("date", "time", "date-time", "uuid", "ipv4", "ipv6", "hostname",
            "email", "uri");

    static Stream<Arguments> cases() {
        return Stream.of("llama3", "qwen3", "stories15M").flatMap(vocab -> Stream.of("regex", "choice", "json_object",
                "grammar", "formats").flatMap(kind -> Gen.seeds("guided " + kind + " on " + vocab, 40)
                .map(seed -> Arguments.of(vocab, kind, seed))));
    }

    @ParameterizedTest(name = "{0} {1} seed {2}")
    @MethodSource("cases")
    void outputsAreInTheLanguage(String vocab, String kind, long seed) throws Exception {
        Gen gen = new Gen(seed);
        Vocabularies.Real real = switch (vocab) {
            case "llama3" -> Vocabularies.llama3();
            case "qwen3" -> Vocabularies.qwen3();
            default -> Vocabularies.stories15M();
        };
        GuidedDecodingParams params;
        String regex = gen.oneOf(REGEXES);
        String format = gen.oneOf(FORMATS);
        params = switch (kind) {
            case "regex" -> GuidedDecodingParams.regex(regex);
            case "choice" -> GuidedDecodingParams.choice(CHOICES);
            case "json_object" -> GuidedDecodingParams.jsonObject();
            case "grammar" -> GuidedDecodingParams.grammar(ARITHMETIC);
            default -> GuidedDecodingParams.json("{\"type\": \"string\", \"format\": \"" + format + "\"}");
        };
        CompiledGuide guide = GuidedDecoding.compile(params, real.vocabulary());
        Walks.Output out = Walks.walk(guide, gen, gen.intBetween(0, 40), 2000);
        assertThat(out.ended()).isTrue();
        String text = GuidedGenerationPropertyIT.checkText(real, out);
        switch (kind) {
            case "regex" -> assertThat(Pattern.compile(regex).matcher(text).matches()).as("/%s/ matches %s", regex, text).isTrue();
            case "choice" -> assertThat(CHOICES).contains(text);
            case "json_object" -> {
                JsonNode node = JSON.readTree(text);
                assertThat(node.isObject()).as(text).isTrue();
            }
            case "grammar" -> assertThat(new Arithmetic(text).parse()).as("arithmetic: %s", text).isTrue();
            default -> {
                var schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12)
                        .getSchema("{\"type\": \"string\", \"format\": \"" + format + "\"}", InputFormat.JSON);
                assertThat(schema.validate(text, InputFormat.JSON, c -> c.executionConfig(x -> x.formatAssertionsEnabled(true))))
                        .as("%s: %s", format, text).isEmpty();
            }
        }
    }

    /** A recursive-descent recognizer of the arithmetic grammar, independent of the engine. */
    static final class Arithmetic {
        private final byte[] s;
        private int i;

        Arithmetic(String text) {
            this.s = text.getBytes(StandardCharsets.UTF_8);
        }

        boolean parse() {
            return expr() && i == s.length;
        }

        private boolean expr() {
            if (!term()) {
                return false;
            }
            while (true) {
                int save = i;
                ws();
                if (i < s.length && (s[i] == '+' || s[i] == '-')) {
                    i++;
                    ws();
                    if (!term()) {
                        return false;
                    }
                } else {
                    i = save;
                    return true;
                }
            }
        }

        private boolean term() {
            if (!factor()) {
                return false;
            }
            while (true) {
                int save = i;
                ws();
                if (i < s.length && s[i] == '*') {
                    i++;
                    ws();
                    if (!factor()) {
                        return false;
                    }
                } else {
                    i = save;
                    return true;
                }
            }
        }

        private boolean factor() {
            if (i < s.length && s[i] == '(') {
                i++;
                ws();
                if (!expr()) {
                    return false;
                }
                ws();
                if (i < s.length && s[i] == ')') {
                    i++;
                    return true;
                }
                return false;
            }
            int digits = 0;
            while (i < s.length && s[i] >= '0' && s[i] <= '9' && digits < 3) {
                i++;
                digits++;
            }
            return digits > 0;
        }

        private void ws() {
            if (i < s.length && s[i] == ' ') {
                i++;
            }
        }
    }
}
