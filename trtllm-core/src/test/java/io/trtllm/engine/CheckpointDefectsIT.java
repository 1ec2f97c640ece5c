package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.stream.Stream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints that cannot run, one class of defect per test: each fails before a build with a
 * {@link ModelFormatException} that names the file, the tensor and the expected shape, and leaves the
 * engine cache as it was: no entry, no staging directory, and the good engine already cached (in a
 * cache of one record, which a published bad engine would have evicted) still there.
 */
class CheckpointDefectsIT {
    private static final Device CPU = new Device("cpu", "amd64", 512, 32);

    @TempDir
    Path tmp;
    Path root;
    EngineCache cache;
    String goodKey;
    TinyCheckpoint ckpt;
    Path bad;

    @BeforeEach
    void cacheWithOneGoodEngine() {
        root = tmp.resolve("cache");
        cache = new EngineCache(root, new BuildCacheConfig(root, 1, Long.MAX_VALUE), Clock.systemUTC());
        try (EngineLease good = cache.acquire(TinyModels.llama(tmp.resolve("good")), config(), CPU, false,
                BuildProgress.NONE)) {
            goodKey = good.load().key();
        }
        ckpt = TinyCheckpoint.llama(tmp.resolve("fixture"));
        bad = tmp.resolve("bad");
    }

    private static BuildConfig config() {
        return BuildConfig.builder(64).build();
    }

    /** Acquires the engine of {@code bad}: it must fail as a ModelFormatException with the cache untouched. */
    private AbstractThrowableAssert<?, ? extends Throwable> assertRefused() {
        var failure = assertThatThrownBy(() -> cache.acquire(bad, config(), CPU, false, BuildProgress.NONE).close())
                .isInstanceOf(ModelFormatException.class);
        assertCacheUntouched();
        return failure;
    }

    private void assertCacheUntouched() {
        try (Stream<Path> s = Files.list(root.resolve("engines"))) {
            assertThat(s.map(p -> p.getFileName().toString())).as("entries, staging or trash directories")
                    .containsExactlyInAnyOrder(goodKey, ".locks");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertThat(cache.list()).extracting(EngineCache.Entry::key).containsExactly(goodKey);
    }

    private String weights() {
        return bad.resolve("model.safetensors").toString();
    }

    private String configFile() {
        return bad.resolve("config.json").toString();
    }

    @Test
    void missingTensor() {
        ckpt.tensors.remove("model.layers.1.mlp.down_proj.weight");
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights())
                .hasMessageContaining("tensor 'model.layers.1.mlp.down_proj.weight' is missing")
                .hasMessageContaining("[64, 128]").hasMessageContaining("hidden_size, intermediate_size");
    }

    @Test
    void missingLmHeadOfAnUntiedModel() {
        ckpt.config.put("tie_word_embeddings", false);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("tensor 'lm_head.weight' is missing")
                .hasMessageContaining("[256, 64]");
    }

    @Test
    void wrongShape() {
        // k_proj: num_key_value_heads 2 × head_dim 16 = 32 rows; a [16, 64] matrix of the same file size class
        ckpt.tensors.put("model.layers.0.self_attn.k_proj.weight", new TinyCheckpoint.Weights(new long[] {16, 64},
                new float[16 * 64]));
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("'model.layers.0.self_attn.k_proj.weight'")
                .hasMessageContaining("has shape [16, 64], expected [32, 64]")
                .hasMessageContaining("num_key_value_heads × head_dim").hasMessageContaining(configFile());
    }

    @Test
    void moreLayersInTheConfigThanInTheCheckpoint() {
        ckpt.config.put("num_hidden_layers", 3);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights())
                .hasMessageContaining("tensor 'model.layers.2.input_layernorm.weight' (shape [64]) is missing")
                .hasMessageContaining(configFile() + " has num_hidden_layers 3")
                .hasMessageContaining("the checkpoint holds 2 layer(s) (layers 0..1)");
    }

    @Test
    void fewerLayersInTheConfigThanInTheCheckpoint() {
        ckpt.config.put("num_hidden_layers", 1);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("is of layer 1")
                .hasMessageContaining("num_hidden_layers 1 (layers 0..0)");
    }

    @Test
    void aBillionLayersFailAtOnceByNameNotWithOutOfMemory() {
        ckpt.config.put("num_hidden_layers", 1_000_000_000);
        ckpt.write(bad);
        long start = System.nanoTime();
        assertRefused().hasMessageContaining(weights())
                .hasMessageContaining("tensor 'model.layers.2.input_layernorm.weight' (shape [64]) is missing")
                .hasMessageContaining("num_hidden_layers 1000000000");
        assertThat((System.nanoTime() - start) / 1_000_000).as("ms").isLessThan(5_000);

        // "1e9" as JSON writes it is a float, not a layer count.
        ckpt.config.put("num_hidden_layers", 1e9);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(configFile()).hasMessageContaining("'num_hidden_layers' must be an integer");
    }

    @Test
    void aBillionLayersThroughLlmFailBeforeTheBuild() {
        ckpt.config.put("num_hidden_layers", 1_000_000_000);
        ckpt.write(bad);
        LlmArgs args = LlmArgs.builder(bad.toString()).backend("cpu").maxSeqLen(64)
                .buildCacheConfig(new BuildCacheConfig(root, 1, Long.MAX_VALUE)).build();
        assertThatThrownBy(() -> LLM.acquireEngine(args).close()).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("tensor 'model.layers.2.input_layernorm.weight' (shape [64]) is missing");
        assertCacheUntouched();
    }

    @Test
    void hiddenSizeBeyondTheFile() {
        ckpt.config.put("hidden_size", 1 << 20); // head_dim is explicit (16): heads stay as they are
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("'model.embed_tokens.weight'")
                .hasMessageContaining("has shape [256, 64], expected [256, 1048576]");
    }

    @Test
    void vocabSizeWhoseProductsOverflowAnInt() {
        ckpt.config.put("vocab_size", Integer.MAX_VALUE);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights())
                .hasMessageContaining("has shape [256, 64], expected [2147483647, 64]");

        ckpt.config.put("vocab_size", 3_000_000_000L);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(configFile()).hasMessageContaining("'vocab_size' must be an integer");
    }

    @Test
    void headCountTimesHeadDimBeyondAnInt() {
        ckpt.config.put("num_attention_heads", 65_536).put("num_key_value_heads", 65_536).put("head_dim", 65_536);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(configFile())
                .hasMessageContaining("num_attention_heads 65536 × head_dim 65536 = 4294967296 exceeds 2147483647");
    }

    @Test
    void zeroOrNegativeDimensions() {
        ckpt.config.put("intermediate_size", 0);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(configFile()).hasMessageContaining("intermediate_size must be > 0, got 0");

        ckpt.config.put("intermediate_size", 128).put("hidden_size", -64);
        ckpt.write(bad);
        assertRefused().hasMessageContaining(configFile()).hasMessageContaining("hidden_size must be > 0, got -64");
    }

    @Test
    void tensorOffsetsOutsideTheFile() {
        ckpt.writeRaw(bad, h -> ((com.fasterxml.jackson.databind.node.ArrayNode) h.get("model.norm.weight")
                .get("data_offsets")).set(1, 1L << 40), null);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("tensor 'model.norm.weight'")
                .hasMessageContaining("reach past the end of the data");
    }

    @Test
    void overlappingDataRanges() {
        // model.norm.weight [64] claims the first 256 bytes, which the embedding holds already.
        ckpt.writeRaw(bad, h -> {
            var offsets = (com.fasterxml.jackson.databind.node.ArrayNode) h.get("model.norm.weight").get("data_offsets");
            offsets.set(0, 0L);
            offsets.set(1, 256L);
        }, null);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("overlaps");
    }

    @Test
    void dataRangeThatDoesNotFitTheShape() {
        // Same bytes, a shape of one element more: the byte span no longer matches [65] of F32.
        ckpt.writeRaw(bad, h -> ((com.fasterxml.jackson.databind.node.ArrayNode) h.get("model.norm.weight").get("shape"))
                .set(0, 65L), null);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("tensor 'model.norm.weight'")
                .hasMessageContaining("shape/dtype mismatch: shape [65] of F32 is 260 bytes");
    }

    @Test
    void headerLengthBeyondTheFile() {
        ckpt.writeRaw(bad, h -> { }, 50_000_000L);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("not a safetensors file (header length 50000000, file size");
    }

    @Test
    void nanOrInfinityInWeights() {
        ckpt.tensors.get("model.layers.1.mlp.up_proj.weight").values()[64 * 5 + 7] = Float.NaN;
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("'model.layers.1.mlp.up_proj.weight' [128, 64]")
                .hasMessageContaining("holds NaN at element 327 (row 5, column 7)");

        ckpt.tensors.get("model.layers.1.mlp.up_proj.weight").values()[64 * 5 + 7] = 0.5f;
        ckpt.tensors.get("model.norm.weight").values()[63] = Float.NEGATIVE_INFINITY;
        ckpt.write(bad);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("'model.norm.weight' [64]")
                .hasMessageContaining("holds -Infinity at element 63");
    }

    @Test
    void integerTensorInACheckpoint() {
        ckpt.writeRaw(bad, h -> ((com.fasterxml.jackson.databind.node.ObjectNode) h.get("model.norm.weight"))
                .put("dtype", "I8").putArray("shape").add(256), null);
        assertRefused().hasMessageContaining(weights()).hasMessageContaining("tensor 'model.norm.weight' has dtype I8");
    }

    @Test
    void theParityFixturesOfEveryArchitecturePass() {
        for (String arch : List.of("llama3", "mistral", "qwen2", "qwen3")) {
            Path dir = tmp.resolve(arch);
            for (String f : List.of("config.json", "model.safetensors")) {
                try (var in = getClass().getResourceAsStream("/parity/" + arch + "/" + f)) {
                    Files.createDirectories(dir);
                    Files.copy(in, dir.resolve(f));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            var out = new EngineBuilder(config(), CPU).build(dir, tmp.resolve(arch + "-engine"));
            assertThat(out.tensors()).as(arch).isPositive();
        }
    }
}
