package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.InvalidSplitException;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An engine built for a split over ranks: a weights file per rank, its own cache key, its split kept at load. */
class ShardedEngineIT {
    private static final Device CPU = new Device("cpu", "amd64", 512, 32);
    private static final Parallelism TP2 = new Parallelism(2, 1);

    @TempDir
    Path tmp;

    @Test
    void aSplitEngineHoldsEachRanksShardInThePanelLayout() {
        Path model = TinyModels.llama(tmp.resolve("model"));
        ModelConfig config = ModelConfig.load(model);
        BuildConfig build = BuildConfig.builder(64).quantization(Quantization.INT8).build();

        Path engine = new EngineBuilder(build, CPU).parallelism(TP2).build(model, tmp.resolve("engine")).engineDir();

        assertThat(engine.resolve(EngineConfig.WEIGHTS_FILE)).doesNotExist();
        EngineConfig read = EngineConfig.read(engine);
        assertThat(read.mapping()).isEqualTo(TP2);
        EngineManifest.verify(engine); // the rank files are in the manifest
        try (var lease = EngineCache.openPrebuilt(engine)) {
            for (int r = 0; r < 2; r++) {
                Checkpoint rank = lease.rankWeights(r);
                assertThat(rank.location()).contains("rank" + r);
                // The rank's own vocabulary rows (256 / 2) of the embedding, its linear weights in quantized panels.
                assertThat(rank.tensor("model.embed_tokens.weight").shape()).containsExactly(config.vocabSize() / 2,
                        config.hiddenSize());
                assertThat(rank.names()).contains("model.layers.0.self_attn.q_proj.qweight",
                        "model.layers.1.mlp.down_proj.qweight", "lm_head.qweight").noneMatch(n -> n.endsWith(".weight")
                        && n.contains("_proj"));
            }
            assertThatThrownBy(lease::weights).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("split over ranks");
            // Run only with the split it was built for.
            assertThatThrownBy(() -> Runners.checkMapping(lease, Parallelism.NONE)).isInstanceOf(InvalidSplitException.class)
                    .hasMessageContaining("was built for TP 2 × PP 1 (2 ranks) and cannot run as TP 1 × PP 1")
                    .hasMessageContaining("load it with tensor_parallel_size 2 and pipeline_parallel_size 1");
            assertThatThrownBy(() -> Runners.checkMapping(lease, new Parallelism(1, 2)))
                    .isInstanceOf(InvalidSplitException.class).hasMessageContaining("cannot run as TP 1 × PP 2");
            Runners.checkMapping(lease, TP2);
        }
    }

    @Test
    void theSplitIsPartOfTheCacheKeyAndOneRankKeepsTheOldKey() {
        Path model = TinyModels.llama(tmp.resolve("model"));
        BuildConfig build = BuildConfig.builder(64).build();

        var one = EngineCache.keyInputs(model, build, CPU);
        var none = EngineCache.keyInputs(model, build, CPU, Parallelism.NONE);
        var tp2 = EngineCache.keyInputs(model, build, CPU, TP2);
        var pp2 = EngineCache.keyInputs(model, build, CPU, new Parallelism(1, 2));

        assertThat(none).isEqualTo(one);
        assertThat(none.has("mapping")).isFalse();
        assertThat(tp2.get("mapping").toString()).isEqualTo("{\"world_size\":2,\"tp_size\":2,\"pp_size\":1}");
        assertThat(EngineCache.key(tp2)).isNotEqualTo(EngineCache.key(none)).isNotEqualTo(EngineCache.key(pp2));
    }

    @Test
    void aSplitTheModelDoesNotAllowFailsBeforeAnythingIsWritten() {
        Path model = TinyModels.llama(tmp.resolve("model"));
        int heads = ModelConfig.load(model).numHeads();
        Path out = tmp.resolve("engine");

        assertThatThrownBy(() -> new EngineBuilder(BuildConfig.builder(64).build(), CPU)
                .parallelism(new Parallelism(heads + 1, 1)).build(model, out))
                .isInstanceOf(InvalidSplitException.class).hasMessageContaining("tensor_parallel_size " + (heads + 1));
        assertThat(out).doesNotExist();
        assertThat(tmp).isDirectoryNotContaining(p -> p.getFileName().toString().startsWith(".engine"));
    }
}
