package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.engine.WarmUp;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The load-time JIT warm-up runs the shapes the engine was configured to serve, on stories15M's real CPU
 * runner: the prefill chunk a prompt gets (cut to max_num_tokens), a single decode, and batched decodes up
 * to max_batch_size (a small batch below the 16 rows where quantized matmuls switch kernels, and the large
 * one). What ran is recorded from the batches handed to the runner, whatever the timings did, so this
 * holds on a busy machine as on a quiet one: every shape runs at least once even when the budget is spent.
 */
class WarmUpCoverageIT {
    /** Room for every batched row of the warm-up: a KV cache of max_batch_size sequences would cut it. */
    private static final KvCacheConfig ROOMY = new KvCacheConfig(4096, 0.25, true, 32);

    private static List<WarmUp.Shape> shapesOf(LlmArgs args) {
        var engine = new LlmEngine(args);
        try {
            var warmUp = engine.model.warmUp();
            assertThat(warmUp.rounds()).isPositive();
            assertThat(engine.model.loadTimes().warmUp()).isGreaterThanOrEqualTo(warmUp.elapsed());
            return warmUp.shapes();
        } finally {
            engine.close();
        }
    }

    @Test
    void defaultLimitsWarmAPromptChunkASingleDecodeAndSmallAndLargeBatches() {
        var shapes = shapesOf(LlmArgs.builder("stories15M").backend("cpu").maxBatchSize(32).kvCacheConfig(ROOMY).build());

        // A prompt of 125 tokens: 15 groups of the eight-token microkernel plus a tail of 5, 31 attention row tiles
        // of 4 plus one row; its short cold-start twin of 13 tokens before it.
        assertThat(shapes).contains(new WarmUp.Shape(1, 125), new WarmUp.Shape(1, 13));
        assertThat(shapes.stream().filter(s -> !s.prefill()).map(WarmUp.Shape::sequences)).containsExactlyInAnyOrder(1, 11, 16);
    }

    @Test
    void smallLimitsAreWarmedAtTheirOwnSizes() {
        var shapes = shapesOf(LlmArgs.builder("stories15M").backend("cpu").maxBatchSize(4).maxNumTokens(48)
                .kvCacheConfig(ROOMY).build());

        assertThat(shapes.stream().filter(WarmUp.Shape::prefill).mapToInt(WarmUp.Shape::tokens).max()).hasValue(48);
        assertThat(shapes.stream().filter(s -> !s.prefill()).map(WarmUp.Shape::sequences)).containsExactlyInAnyOrder(1, 4);
    }
}
