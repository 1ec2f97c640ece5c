package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.TokenBitmask;
import org.junit.jupiter.api.Test;

/** GBNF grammars: llama.cpp's syntax, recursion, and the errors of bad grammars. */
class GbnfGrammarTests {
    /** llama.cpp's grammars/json.gbnf, in substance. */
    static final String JSON_GBNF = """
            root   ::= object
            value  ::= object | array | string | number | ("true" | "false" | "null") ws

            object ::=
              "{" ws (
                        string ":" ws value
                ("," ws string ":" ws value)*
              )? "}" ws

            array  ::=
              "[" ws (
                        value
                ("," ws value)*
              )? "]" ws

            string ::=
              "\\"" (
                [^"\\\\\\x7F\\x00-\\x1F] |
                "\\\\" (["\\\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
              )* "\\"" ws

            number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

            # Optional space: by convention, applied in this grammar after literal chars when allowed
            ws ::= | " " | "\\n" [ \\t]{0,20}
            """;

    private static CompiledGuide grammar(String gbnf) {
        return Languages.compile(GuidedDecodingParams.grammar(gbnf));
    }

    @Test
    void llamaCppJsonGrammar() {
        CompiledGuide g = grammar(JSON_GBNF);
        for (String ok : new String[] {"{}", "{\"a\": [1, 2.5e3, {\"b\": null}], \"c\": \"\\u00e9\"}", "{\"x\":{\"y\":{\"z\":[[[]]]}}} "}) {
            assertThat(Languages.matches(g, ok)).as(ok).isTrue();
        }
        for (String bad : new String[] {"[]", "{\"a\" 1}", "{\"a\": tru}", "{,}"}) {
            assertThat(Languages.matches(g, bad)).as(bad).isFalse();
        }
        assertThat(Languages.isViablePrefix(g, "{\"a\": [1, {\"b\": tr")).isTrue();
    }

    @Test
    void recursionNestsAndAlternativesContinueOnLinesStartingWithABar() {
        CompiledGuide g = grammar("""
                root ::= "(" root ")"
                       | "x"   # a continuation line
                """);
        assertThat(Languages.matches(g, "x")).isTrue();
        assertThat(Languages.matches(g, "((((x))))")).isTrue();
        assertThat(Languages.matches(g, "((x)")).isFalse();
    }

    @Test
    void repetitionsCharClassesAndEscapes() {
        CompiledGuide g = grammar("root ::= [a-c]{2,3} [^a-z\\n]? \"\\t\" . \"\\u00e9\" [\\U0001F600] x{,2}\nx ::= \"-\"");
        assertThat(Languages.matches(g, "ab\t日é😀")).isTrue();
        assertThat(Languages.matches(g, "abcZ\t!é😀--")).isTrue();
        assertThat(Languages.matches(g, "a\t!é😀")).isFalse();
        assertThat(Languages.matches(g, "ab\n\t!é😀")).isFalse();
    }

    @Test
    void badGrammarsSayWhereAndWhat() {
        assertThatThrownBy(() -> grammar("root ::= a\n")).hasMessageContaining("\"a\", which is not defined");
        assertThatThrownBy(() -> grammar("start ::= \"x\"")).hasMessageContaining("no rule \"root\"");
        assertThatThrownBy(() -> grammar("root ::= \"x")).hasMessageContaining("line 1").hasMessageContaining("unterminated");
        assertThatThrownBy(() -> grammar("root ::= \"x\"\nroot ::= \"y\"")).hasMessageContaining("defined twice");
        assertThatThrownBy(() -> grammar("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\""))
                .hasMessageContaining("left-recursive");
        assertThatThrownBy(() -> grammar("root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"z\""))
                .hasMessageContaining("left-recursive");
        assertThatThrownBy(() -> grammar("root ::= <[1000]>")).hasMessageContaining("token references");
        assertThatThrownBy(() -> grammar("root ::= [z-a]")).hasMessageContaining("out of order");
        assertThatThrownBy(() -> grammar("root ::= \"a\" root")).hasMessageContaining("matches no text");
        assertThatThrownBy(() -> grammar("root ::= (\"a\"")).hasMessageContaining("expected )");
    }

    @Test
    void ambiguityIsBoundedAndReported() {
        // A run of x's parses as items nested to any depth: one parse alive per depth.
        CompiledGuide g = grammar("""
                root ::= item+
                item ::= "x" | "x" item | "(" root ")"
                """);
        GuideMatcher m = g.newMatcher();
        for (int i = 0; i < 100; i++) {
            assertThat(m.accept('x')).isTrue();
        }
        assertThat(m.canTerminate()).isTrue();
        assertThat(m.config().frames.length).isGreaterThan(10).isLessThanOrEqualTo(CompiledGuide.MAX_STACKS);
        // Two rules nesting in any order: the parses alive double with each x, up to the depth limit.
        CompiledGuide exponential = grammar("""
                root ::= a
                a ::= "x" | "x" a | "x" b
                b ::= "x" | "x" a | "x" b
                """);
        GuideMatcher e = exponential.newMatcher();
        assertThatThrownBy(() -> {
            for (int i = 0; i < 64; i++) {
                e.accept('x');
            }
        }).isInstanceOf(GuidedDecodingException.class).hasMessageContaining("too ambiguous");
    }

    @Test
    void nestingDeeperThanTheLimitIsNeverGeneratedAndNeverStuck() {
        CompiledGuide g = GuidedDecoding.compile(GuidedDecodingParams.grammar("root ::= \"(\" root \")\" | \"x\""),
                Vocabularies.bytes(), new GuideOptions(0, 3));
        assertThat(Languages.matches(g, "((x))")).isTrue();
        assertThat(Languages.matches(g, "(((x)))")).isFalse();
        GuideMatcher m = g.newMatcher();
        assertThat(m.accept('(')).isTrue();
        assertThat(m.accept('(')).isTrue();
        long[] mask = new long[TokenBitmask.words(257)];
        assertThat(m.fillNextTokenMask(mask)).isEqualTo(1); // only x: a third ( could not be closed within 3 levels
        assertThat(TokenBitmask.isSet(mask, 'x')).isTrue();
        // Every output of root calls the recursive rule a: two levels at least.
        String twoLevels = "root ::= \"(\" root \")\" | \"[\" a \"]\"\na ::= \"<\" a \">\" | \"x\"";
        assertThatThrownBy(() -> GuidedDecoding.compile(GuidedDecodingParams.grammar(twoLevels), Vocabularies.bytes(),
                new GuideOptions(0, 1))).hasMessageContaining("cannot be completed within 1 levels");
        assertThat(Languages.matches(GuidedDecoding.compile(GuidedDecodingParams.grammar(twoLevels), Vocabularies.bytes(),
                new GuideOptions(0, 2)), "[x]")).isTrue();
    }
}
