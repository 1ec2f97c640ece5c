package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.TokenSampling;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** What a chunk asks of the runner, and the typed result a pass hands back for it. */
class SequenceChunkTests {

    @Test
    void onlySampleChunksCarrySamplingParametersAndTheyAskForOneRow() {
        var sampling = new TokenSampling(0.8f, 40, 0.9f, 0f, 5L, 2);
        var chunk = new SequenceChunk(new int[] {1, 2, 3}, 0, new int[] {0}, SequenceChunk.LogitsMode.SAMPLE, sampling);
        assertThat(chunk.logitsRows()).isEqualTo(1);
        assertThat(chunk.firstLogitsRow()).isEqualTo(2);
        assertThat(chunk.sampling()).isEqualTo(sampling);
        assertThat(new SequenceChunk(new int[] {1}, 0, new int[] {0}, SequenceChunk.LogitsMode.LAST).sampling()).isNull();
        assertThatThrownBy(() -> new SequenceChunk(new int[] {1}, 0, new int[] {0}, SequenceChunk.LogitsMode.SAMPLE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs its sampling parameters");
        assertThatThrownBy(() -> new SequenceChunk(new int[] {1}, 0, new int[] {0}, SequenceChunk.LogitsMode.LAST, sampling))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not LAST");
    }

    @Test
    void aTokenMaskIsReadWithoutCopiesAndStagedZeroPaddedAsTheCallerWidthAsks() {
        long[] mask = new long[2];                      // tokens 0..127
        mask[0] = 1L << 3 | 1L << 63;
        mask[1] = 1L << 1;                              // token 65
        var chunk = new SequenceChunk(new int[] {1}, 0, new int[] {0}, SequenceChunk.LogitsMode.ARGMAX, null, mask);
        mask[0] = -1L;                                  // the chunk kept its own copy
        assertThat(chunk.allows(3)).isTrue();
        assertThat(chunk.allows(63)).isTrue();
        assertThat(chunk.allows(65)).isTrue();
        assertThat(chunk.allows(4)).isFalse();
        assertThat(chunk.allows(200)).as("past the mask").isFalse();
        var free = new SequenceChunk(new int[] {1}, 0, new int[] {0}, SequenceChunk.LogitsMode.ARGMAX);
        assertThat(free.allows(200)).isTrue();

        float[] logits = new float[2 + 100];
        Arrays.fill(logits, 1f);
        chunk.applyTokenMask(logits, 2, 100);
        float[] expected = new float[2 + 100];
        Arrays.fill(expected, 1f);
        TokenBitmask.apply(new long[] {1L << 3 | 1L << 63, 1L << 1}, expected, 2, 100);
        assertThat(logits).containsExactly(expected);
        float[] untouched = logits.clone();
        free.applyTokenMask(logits, 2, 100);
        assertThat(logits).containsExactly(untouched);

        try (Arena arena = Arena.ofConfined()) {
            var target = arena.allocate(5 * Long.BYTES);
            target.fill((byte) 0x55);
            chunk.copyTokenMask(target, Long.BYTES, 4);  // words 1..4 of the target: the mask's two, then zeros
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 0)).isEqualTo(0x5555555555555555L);
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 1)).isEqualTo(1L << 3 | 1L << 63);
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 2)).isEqualTo(1L << 1);
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 3)).isZero();
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 4)).isZero();
            chunk.copyTokenMask(target, 0, 1);           // narrower than the mask: its first word only
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 0)).isEqualTo(1L << 3 | 1L << 63);
            assertThat(target.getAtIndex(ValueLayout.JAVA_LONG, 1)).isEqualTo(1L << 3 | 1L << 63);
            assertThatThrownBy(() -> free.copyTokenMask(target, 0, 1)).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void aResultCarriesPerChunkATokenIdLogitsRowsBothOrNeither() {
        float[] rows = {0.5f, -1f, 2f};
        ForwardResult result = ForwardResult.builder(4).tokenId(0, 7).logits(1, rows).tokenId(2, 0).logits(2, rows)
                .tokenId(3, ForwardResult.NO_TOKEN).build();
        assertThat(result.size()).isEqualTo(4);
        assertThat(result.tokenId(0)).isEqualTo(7);
        assertThat(result.logits(0)).isEmpty();
        assertThat(result.tokenId(1)).isEqualTo(ForwardResult.NO_TOKEN);
        assertThat(result.logits(1)).isSameAs(rows);
        assertThat(result.tokenId(2)).isZero();
        assertThat(result.logits(2)).isSameAs(rows);
        assertThat(result.tokenId(3)).isEqualTo(ForwardResult.NO_TOKEN);
        assertThat(result.logits(3)).isEmpty();
        assertThatThrownBy(() -> ForwardResult.builder(1).tokenId(0, -2)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("token id must be >= 0, or -1 for none, got -2");
    }
}
