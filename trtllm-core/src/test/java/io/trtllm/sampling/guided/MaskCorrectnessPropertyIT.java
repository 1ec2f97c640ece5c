package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.guided.ConfigSpace.Config;
import io.trtllm.testing.Gen;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The masks are right: at random points of random guides, a token is allowed exactly when feeding its
 * bytes one by one through the automaton keeps the text a viable prefix (the brute-force reference: no
 * trie, no cache, no compressed sets), end tokens exactly where the text is complete; every allowed
 * token leaves a text that can still be completed; {@code isTokenAllowed} and {@code accept} agree with
 * the mask. On the small vocabulary for many seeds, and spot-checked over the whole real vocabularies.
 */
class MaskCorrectnessPropertyIT {
    static final List<GuidedDecodingParams> GUIDES = List.of(
            GuidedDecodingParams.regex("(ab|ba)*c?[0-9]{1,3}"),
            GuidedDecodingParams.regex("\"[^\"\\\\]{0,5}\"|é+日本|😀{2}"),
            GuidedDecodingParams.choice(List.of("yes", "no", "maybe", "yes sir", "日本")),
            GuidedDecodingParams.jsonObject(),
            GuidedDecodingParams.json("""
                    {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6},
                     "age": {"type": "integer", "minimum": 0, "maximum": 130},
                     "tags": {"type": "array", "items": {"enum": ["red", "green", "blue sky"]}, "maxItems": 3}},
                     "required": ["name"]}"""),
            GuidedDecodingParams.json("""
                    {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "number"},
                      "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
                     "$ref": "#/$defs/node"}"""),
            GuidedDecodingParams.json("{\"type\": \"array\", \"items\": {\"type\": [\"string\", \"null\", \"boolean\"]}}"),
            GuidedDecodingParams.grammar("""
                    root ::= expr
                    expr ::= term (("+" | "-") term)*
                    term ::= factor ("*" factor)*
                    factor ::= [0-9]+ | "(" expr ")"
                    """),
            GuidedDecodingParams.grammar("""
                    root ::= "<think>" [a-z ]{0,8} "</think>" (ans | "(" root ")")
                    ans ::= "yes" | "no"
                    """));

    static Stream<Long> seeds() {
        return Gen.seeds("guided masks = brute force", 150);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void maskIsExactlyTheViableTokensOnTheSmallVocabulary(long seed) {
        Gen gen = new Gen(seed);
        GuideVocabulary vocab = Vocabularies.small(gen.bool());
        CompiledGuide guide = GuidedDecoding.compile(gen.oneOf(GUIDES), vocab,
                new GuideOptions(gen.intBetween(0, 4), gen.intBetween(3, 8)));
        GuideMatcher m = guide.newMatcher();
        int steps = gen.intBetween(0, 30);
        long[] mask = new long[TokenBitmask.words(vocab.size())];
        for (int i = 0; i < steps && !m.isComplete(); i++) {
            int allowed = m.fillNextTokenMask(mask);
            if (allowed == 0) {
                break; // a grammar that needs more nesting than maxDepth: checked below as well
            }
            int token = Walks.draw(mask, allowed, gen, false, 0, vocab);
            assertThat(m.accept(token)).isTrue();
        }
        checkAgainstBruteForce(guide, m, vocab.size() + gen.intBetween(0, 130), true);
    }

    @Test
    void masksAreExactOnTheRealVocabularies() {
        Gen gen = new Gen(20_261_207L);
        for (Vocabularies.Real real : Vocabularies.all()) {
            for (GuidedDecodingParams params : GUIDES) {
                CompiledGuide guide = GuidedDecoding.compile(params, real.vocabulary());
                for (int walk = 0; walk < 3; walk++) {
                    GuideMatcher m = guide.newMatcher();
                    long[] mask = new long[TokenBitmask.words(real.vocabulary().size())];
                    int steps = walk == 0 ? 0 : gen.intBetween(1, 12);
                    for (int i = 0; i < steps && !m.isComplete(); i++) {
                        int allowed = m.fillNextTokenMask(mask);
                        assertThat(m.accept(Walks.draw(mask, allowed, gen, gen.bool(), gen.anyLong(), real.vocabulary())))
                                .isTrue();
                    }
                    checkAgainstBruteForce(guide, m, real.vocabulary().size() + 64, false);
                }
            }
        }
    }

    /**
     * @param completable whether to check that every allowed token leaves a completable text (a search;
     *                    done on the small vocabulary)
     */
    private static void checkAgainstBruteForce(CompiledGuide guide, GuideMatcher m, int width, boolean completable) {
        GuideVocabulary vocab = guide.vocabulary();
        ConfigSpace space = guide.space();
        long[] mask = new long[TokenBitmask.words(width)];
        java.util.Arrays.fill(mask, -1L); // stale content must be overwritten
        int count = m.fillNextTokenMask(mask);
        assertThat(TokenBitmask.count(mask)).isEqualTo(count);
        int allowedNonEnd = 0;
        for (int id = 0; id < mask.length * 64; id++) {
            boolean expected;
            if (vocab.isEnd(id)) {
                expected = m.canTerminate();
            } else {
                byte[] b = vocab.effectiveBytes(id, m.isFirst());
                expected = false;
                if (b != null) {
                    Config c = m.config();
                    for (int i = 0; i < b.length && c != space.dead; i++) {
                        c = space.step(c, b[i]);
                    }
                    expected = c != space.dead;
                    if (expected && completable) {
                        assertThat(Walks.distance(space, c)).as("text after token %d can be completed", id)
                                .isLessThan(Integer.MAX_VALUE);
                    }
                }
            }
            assertThat(TokenBitmask.isSet(mask, id)).as("token %d (%s) allowed", id, describe(vocab, id)).isEqualTo(expected);
            assertThat(m.isTokenAllowed(id)).as("isTokenAllowed(%d)", id).isEqualTo(expected);
            if (expected && !vocab.isEnd(id)) {
                allowedNonEnd++;
                if (allowedNonEnd % 97 == 1) {
                    GuideMatcher fork = m.fork();
                    assertThat(fork.accept(id)).isTrue();
                    assertThat(fork.acceptedTokens()).isEqualTo(m.acceptedTokens() + 1);
                }
            } else if (!expected) {
                GuideMatcher fork = m.fork();
                assertThat(fork.accept(id)).as("accept of a forbidden token %d", id).isFalse();
                assertThat(fork.config()).isSameAs(m.config());
            }
        }
        if (!m.isComplete()) {
            assertThat(count).as("a matcher that is not complete allows some token").isPositive();
        }
    }

    private static String describe(GuideVocabulary vocab, int id) {
        byte[] b = vocab.tokenBytes(id);
        return b == null ? "no bytes" : new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }
}
