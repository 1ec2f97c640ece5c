package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.sampling.TokenBitmask;
import io.trtllm.testing.Gen;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Applying a mask to a row bans exactly the tokens whose bit is clear, inside the row only. */
class TokenBitmaskPropertyTests {
    static Stream<Long> seeds() {
        return Gen.seeds("token bitmask apply = bit by bit", 200);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void bansExactlyTheClearedBits(long seed) {
        Gen gen = new Gen(seed);
        int vocab = gen.intBetween(0, 400);
        int offset = gen.intBetween(0, 70);
        long[] words = new long[gen.intBetween(0, TokenBitmask.words(vocab) + 2)];
        for (int w = 0; w < words.length; w++) {
            words[w] = gen.oneOf(0L, -1L, gen.anyLong(), 1L << gen.intBetween(0, 63));
        }
        float[] logits = new float[offset + vocab + 5];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = i;
        }
        TokenBitmask.apply(words, logits, offset, vocab);
        for (int i = 0; i < logits.length; i++) {
            boolean inRow = i >= offset && i < offset + vocab;
            boolean banned = inRow && !TokenBitmask.isSet(words, i - offset);
            assertThat(logits[i]).as("logit %d", i).isEqualTo(banned ? Float.NEGATIVE_INFINITY : (float) i);
        }
    }
}
