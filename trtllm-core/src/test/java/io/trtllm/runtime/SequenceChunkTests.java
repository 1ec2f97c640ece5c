package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.sampling.TokenSampling;
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
