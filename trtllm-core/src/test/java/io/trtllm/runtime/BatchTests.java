package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Batch#previousChunk}: which chunks may take their token from the previous pass, and who accepts them. */
class BatchTests {
    private static final SequenceChunk DECODE = new SequenceChunk(new int[] {0}, 5, new int[] {0}, LogitsMode.ARGMAX);
    private static final SequenceChunk PREFILL = new SequenceChunk(new int[] {1, 2, 3}, 0, new int[] {1}, LogitsMode.NONE);

    @Test
    void aBatchWithoutPreviousChunksChainsNothing() {
        var batch = new Batch(List.of(DECODE, PREFILL));
        assertThat(batch.chainsTokens()).isFalse();
        assertThat(batch.previousChunk(0)).isEqualTo(-1);
        assertThat(batch.previousChunk(1)).isEqualTo(-1);
    }

    @Test
    void aOneTokenChunkMayTakeItsTokenFromThePreviousPass() {
        int[] previous = {3, -1};
        var batch = new Batch(List.of(DECODE, PREFILL), previous);
        previous[0] = 7; // the batch keeps its own copy
        assertThat(batch.chainsTokens()).isTrue();
        assertThat(batch.previousChunk(0)).isEqualTo(3);
        assertThat(batch.previousChunk(1)).isEqualTo(-1);
        assertThat(batch.previous()).containsExactly(3, -1);
    }

    @Test
    void previousChunksAreChecked() {
        assertThatThrownBy(() -> new Batch(List.of(DECODE, PREFILL), new int[] {-1, 0}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("chunk 1").hasMessageContaining("3 tokens");
        assertThatThrownBy(() -> new Batch(List.of(DECODE, PREFILL), new int[] {0}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 entries for 2 chunks");
        assertThatThrownBy(() -> new Batch(List.of(DECODE), new int[] {-2}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-2");
    }

    @Test
    void aRunnerThatDoesNotOverlapRefusesAChainedBatchAndRunsOthersAtOnce() {
        var result = ForwardResult.builder(1).tokenId(0, 42).build();
        ModelRunner runner = new ModelRunner() {
            @Override
            public ModelConfig config() {
                throw new UnsupportedOperationException();
            }

            @Override
            public KvCacheSpec kvCache() {
                return new KvCacheSpec(4, 16);
            }

            @Override
            public String backend() {
                return "plain";
            }

            @Override
            public ForwardResult forward(Batch batch) {
                return result;
            }

            @Override
            public void close() {
            }
        };
        assertThat(runner.overlaps()).isFalse();
        assertThat(runner.launch(Batch.of(DECODE)).await()).isSameAs(result);
        assertThatThrownBy(() -> runner.launch(new Batch(List.of(DECODE), new int[] {0})))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("plain runner does not overlap");
    }
}
