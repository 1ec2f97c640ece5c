package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.testing.Gen;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The language of a regex guide is java.util.regex's: for patterns in the syntax both share, a random
 * string is a complete output exactly when {@link Pattern#matches} says so (or, for JSON Schema's
 * search semantics, when {@code find()} does), and a viable prefix exactly when the Java matcher hits
 * the end of the input without failing first.
 */
class RegexGuidePropertyTests {
    /** Patterns and an alphabet their interesting strings come from. */
    private static final List<String[]> PATTERNS = List.of(
            new String[] {"[a-c]+", "abcd"},
            new String[] {"a(b|cd)*e?", "abcde"},
            new String[] {"(ab|a)(bc|c)", "abc"},
            new String[] {"x{2,4}y{0,2}", "xy"},
            new String[] {"[^b]{3}", "ab\n"},
            new String[] {"\\d{3}-\\d{2}", "12-a"},
            new String[] {"\\w+@\\w+\\.(com|org)", "ab@.cmorg"},
            new String[] {"(0|[1-9][0-9]*)(\\.[0-9]+)?", "0159."},
            new String[] {"é+|日本語?", "é日本語a"},
            new String[] {"(😀|ü)*x", "😀üx"},
            new String[] {"\\s*yes\\s*|no", "yes no\t"},
            new String[] {"[\\u0041-\\u0043\\x61]{2}", "ABCab"},
            new String[] {"a.c", "ab\nc"},
            new String[] {"(?:ab)+?c|(?<n>d)", "abcd"},
            new String[] {"[-a]+[a-]", "a-b"},
            new String[] {"\\.\\*\\(", ".*(a"});

    static Stream<Long> seeds() {
        return Gen.seeds("regex guide = java.util.regex", 60);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void fullMatchAgreesWithJavaRegex(long seed) {
        Gen gen = new Gen(seed);
        String[] p = gen.oneOf(PATTERNS);
        CompiledGuide guide = Languages.compile(GuidedDecodingParams.regex(p[0]));
        Pattern java = Pattern.compile(p[0]);
        for (int i = 0; i < 200; i++) {
            String s = gen.string(p[1], 0, 8);
            Matcher m = java.matcher(s);
            boolean matches = m.matches();
            assertThat(Languages.matches(guide, s)).as("/%s/ on \"%s\"", p[0], s).isEqualTo(matches);
            boolean viable = matches || m.hitEnd();
            assertThat(Languages.isViablePrefix(guide, s)).as("/%s/ viable prefix \"%s\"", p[0], s).isEqualTo(viable);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void searchModeAgreesWithFind(long seed) {
        Gen gen = new Gen(seed);
        String[] p = gen.oneOf(PATTERNS);
        String pattern = gen.oneOf(p[0], "^" + p[0], p[0] + "$", "^" + p[0] + "$", "^(" + p[0] + ")$");
        CompiledGuide guide = GuidedDecoding.compileUncached(GuidedDecodingParams.regex("x"), Vocabularies.bytes(),
                GuideOptions.DEFAULT); // warm the vocabulary
        Pda pda = GrammarCompiler.compile(Grammar.of(RegexParser.parse(pattern, RegexParser.Mode.SEARCH)));
        CompiledGuide search = new CompiledGuide(GuidedDecodingParams.regex(pattern), GuideOptions.DEFAULT,
                guide.vocabulary(), pda, 0);
        // ECMAScript's $ is the end of the input; Java's also matches before a final line terminator.
        Pattern java = Pattern.compile(pattern.endsWith("$") ? pattern.substring(0, pattern.length() - 1) + "\\z" : pattern);
        for (int i = 0; i < 200; i++) {
            String s = gen.string(p[1] + "_", 0, 10);
            assertThat(Languages.matches(search, s)).as("/%s/ finds in \"%s\"", pattern, s)
                    .isEqualTo(java.matcher(s).find());
        }
    }
}
