package io.trtllm.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The parameters of a runner's own draw: validated where they enter, and the counter-based uniform number
 * (SplitMix64, the same stream as {@link SplittableRandom}). Their place in a chunk: the runtime's
 * {@code SequenceChunkTests}.
 */
class TokenSamplingTests {

    @Test
    void theUniformOfStepSIsTheSPlusFirstDoubleOfASplittableRandomOfTheKey() {
        for (long key : new long[] {0L, 1L, -1L, 42L, 0x9e3779b97f4a7c15L, Long.MIN_VALUE}) {
            var random = new SplittableRandom(key);
            for (int step = 0; step < 1000; step++) {
                double u = TokenSampling.uniform(key, step);
                assertThat(u).as("key %d step %d", key, step).isEqualTo(random.nextDouble());
                assertThat(u).isGreaterThanOrEqualTo(0).isLessThan(1);
            }
        }
        assertThat(new TokenSampling(1f, 0, 1f, 0f, 7L, 3).uniform()).isEqualTo(TokenSampling.uniform(7L, 3));
    }

    @Test
    void parametersOutOfRangeAreRejectedNamingTheValue() {
        assertThatThrownBy(() -> new TokenSampling(0f, 0, 1f, 0f, 1L, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("temperature").hasMessageContaining("0.0");
        assertThatThrownBy(() -> new TokenSampling(Float.POSITIVE_INFINITY, 0, 1f, 0f, 1L, 0))
                .hasMessageContaining("temperature");
        assertThatThrownBy(() -> new TokenSampling(1f, -1, 1f, 0f, 1L, 0)).hasMessageContaining("top_k must be >= 0");
        assertThatThrownBy(() -> new TokenSampling(1f, 0, 0f, 0f, 1L, 0)).hasMessageContaining("top_p must be in (0, 1]");
        assertThatThrownBy(() -> new TokenSampling(1f, 0, 1f, 1.5f, 1L, 0)).hasMessageContaining("min_p must be in [0, 1]");
        assertThatThrownBy(() -> new TokenSampling(1f, 0, 1f, 0f, 1L, -1)).hasMessageContaining("step must be >= 0, got -1");
    }

    @Test
    void minPIsALogBoundAndOffIsMinusInfinity() {
        assertThat(new TokenSampling(1f, 0, 1f, 0f, 1L, 0).logMinP()).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(new TokenSampling(1f, 0, 1f, 0.1f, 1L, 0).logMinP()).isEqualTo(Math.log(0.1f));
    }
}
