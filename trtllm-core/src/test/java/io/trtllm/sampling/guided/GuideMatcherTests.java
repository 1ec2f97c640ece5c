package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.sampling.TokenBitmask;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The matcher's life cycle and the edges of its API. */
class GuideMatcherTests {
    private static int token(GuideVocabulary vocab, String text) {
        byte[] want = text.getBytes(StandardCharsets.UTF_8);
        for (int id = 0; id < vocab.size(); id++) {
            if (java.util.Arrays.equals(vocab.tokenBytes(id), want)) {
                return id;
            }
        }
        throw new AssertionError("no token " + text);
    }

    @Test
    void choiceEndsOnlyOnACompleteChoiceThenOnlyTheEndToken() {
        GuideVocabulary vocab = Vocabularies.small(false);
        int end = vocab.endTokenIds()[0];
        GuideMatcher m = GuidedDecoding.compile(GuidedDecodingParams.choice(List.of("yes", "yes sir")), vocab).newMatcher();
        assertThat(m.canTerminate()).isFalse();
        assertThat(m.accept(end)).isFalse();
        assertThat(m.accept(token(vocab, "yes"))).isTrue();
        assertThat(m.canTerminate()).isTrue();
        assertThat(m.isComplete()).isFalse(); // " sir" may follow
        GuideMatcher fork = m.fork();
        assertThat(fork.accept(token(vocab, " sir".substring(0, 1)))).isTrue();
        assertThat(fork.canTerminate()).isFalse();
        assertThat(m.canTerminate()).as("the original is unchanged by its fork").isTrue();
        assertThat(m.accept(end)).isTrue();
        assertThat(m.isTerminated()).isTrue();
        assertThat(m.isComplete()).isTrue();
        long[] mask = new long[TokenBitmask.words(vocab.size())];
        assertThat(m.fillNextTokenMask(mask)).isZero();
        assertThat(m.accept(token(vocab, "yes"))).isFalse();
        m.reset();
        assertThat(m.acceptedTokens()).isZero();
        assertThat(m.accept(token(vocab, "yes"))).isTrue();
    }

    @Test
    void aCompleteOutputAllowsOnlyTheEndToken() {
        GuideVocabulary vocab = Vocabularies.small(false);
        GuideMatcher m = GuidedDecoding.compile(GuidedDecodingParams.choice(List.of("no")), vocab).newMatcher();
        assertThat(m.accept(token(vocab, "no"))).isTrue();
        assertThat(m.isComplete()).isTrue();
        long[] mask = new long[TokenBitmask.words(vocab.size())];
        assertThat(m.fillNextTokenMask(mask)).isEqualTo(1);
        assertThat(TokenBitmask.isSet(mask, vocab.endTokenIds()[0])).isTrue();
    }

    @Test
    void theFirstTokenLosesItsLeadingSpaceWhereTheDecoderDropsIt() {
        GuideVocabulary stripping = Vocabularies.small(true);
        GuideVocabulary keeping = Vocabularies.small(false);
        GuidedDecodingParams yes = GuidedDecodingParams.choice(List.of("yes"));
        GuideMatcher m = GuidedDecoding.compile(yes, stripping).newMatcher();
        assertThat(m.isTokenAllowed(token(stripping, " yes"))).isTrue();
        assertThat(m.accept(token(stripping, " yes"))).isTrue();
        assertThat(m.canTerminate()).isTrue();
        assertThat(GuidedDecoding.compile(yes, keeping).newMatcher().isTokenAllowed(token(keeping, " yes"))).isFalse();
        // Only the first token: later, " yes" writes its space.
        GuideMatcher twice = GuidedDecoding.compile(GuidedDecodingParams.regex("yes( yes)?"), stripping).newMatcher();
        assertThat(twice.accept(token(stripping, " yes"))).isTrue();
        assertThat(twice.accept(token(stripping, " yes"))).isTrue();
        assertThat(twice.canTerminate()).isTrue();
        assertThat(twice.isComplete()).isTrue();
    }

    @Test
    void specialEmptyAndUnknownTokensAreNeverAllowed() {
        GuideVocabulary vocab = Vocabularies.small(false);
        GuideMatcher m = GuidedDecoding.compile(GuidedDecodingParams.regex("(.|\\n)*"), vocab).newMatcher();
        long[] mask = new long[TokenBitmask.words(vocab.size() + 200)];
        m.fillNextTokenMask(mask);
        for (int id = 0; id < vocab.size() + 200; id++) {
            byte[] b = vocab.tokenBytes(id);
            boolean ordinary = b != null && b.length > 0;
            if (!ordinary && !vocab.isEnd(id)) {
                assertThat(TokenBitmask.isSet(mask, id)).as("token %d", id).isFalse();
                assertThat(m.accept(id)).isFalse();
            }
        }
        assertThat(m.accept(-1)).isFalse();
    }

    @Test
    void paramsAndVocabulariesAreCheckedWhereTheyEnter() {
        assertThatThrownBy(() -> GuidedDecodingParams.choice(List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GuidedDecodingParams.regex(" ")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new GuidedDecodingParams(GuidedDecodingParams.Kind.JSON_OBJECT, "x", List.of()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GuideVocabulary.of(3, id -> new byte[] {1}, List.of(3), false))
                .hasMessageContaining("end token id 3");
        assertThatThrownBy(() -> new GuideOptions(-1, 4)).hasMessageContaining("maxWhitespace");
        assertThatThrownBy(() -> new GuideOptions(4, 0)).hasMessageContaining("maxDepth");
        assertThatThrownBy(() -> Languages.compile(GuidedDecodingParams.regex("a{3}b{2,1}"))).hasMessageContaining("out of order");
        assertThatThrownBy(() -> Languages.compile(GuidedDecodingParams.regex("[]"))).hasMessageContaining("matches no text");
        assertThatThrownBy(() -> Languages.compile(GuidedDecodingParams.regex("(a{1000}){1000}"))).hasMessageContaining("too large");
    }

    @Test
    void vocabulariesWithEqualContentShareAFingerprint() {
        assertThat(Vocabularies.small(false).fingerprint()).isEqualTo(Vocabularies.small(false).fingerprint())
                .isNotEqualTo(Vocabularies.small(true).fingerprint());
    }

    @Test
    void masksAreSharedInstancesOnlyWhereTheAllowedTokensAreTheSame() {
        GuideVocabulary vocab = Vocabularies.small(false);
        CompiledGuide guide = GuidedDecoding.compileUncached(GuidedDecodingParams.regex("[a-z]{40}"), vocab, GuideOptions.DEFAULT);
        GuideMatcher one = guide.newMatcher();
        GuideMatcher two = guide.newMatcher();
        int a = token(vocab, "a");
        assertThat(one.nextTokenBitmask()).as("the same configuration: one instance").isSameAs(two.nextTokenBitmask());
        one.accept(a);
        two.accept(a);
        two.accept(a);
        // Far from the end, positions 1 and 2 allow the same tokens (every run of letters the vocabulary has): one
        // instance, though their configurations differ.
        assertThat(one.nextTokenBitmask()).isSameAs(two.nextTokenBitmask());
        for (int i = 0; i < 37; i++) {
            two.accept(a);
        }
        // One letter left: only single letters, then (complete) only the end token. Different words, other instances.
        var last = two.nextTokenBitmask();
        assertThat(last).isNotSameAs(one.nextTokenBitmask()).isNotEqualTo(one.nextTokenBitmask());
        assertThat(last.allows(a)).isTrue();
        assertThat(last.allows(token(vocab, "ab"))).isFalse();
        two.accept(a);
        var done = two.nextTokenBitmask();
        assertThat(done.count()).isEqualTo(1);
        assertThat(done.allows(vocab.endTokenIds()[0])).isTrue();
        long[] words = new long[TokenBitmask.words(vocab.size())];
        assertThat(two.fillNextTokenMask(words)).isEqualTo(1);
        assertThat(words).containsExactly(done.toArray());
        two.accept(vocab.endTokenIds()[0]);
        assertThat(two.nextTokenBitmask().count()).isZero();
    }
}
