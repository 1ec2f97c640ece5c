package io.trtllm.model;

import static io.trtllm.model.SafeTensorsFiles.F32_LE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTests {
    @TempDir
    Path dir;

    private static SafeTensorsWriter.Entry entry(String name, float... values) {
        return new SafeTensorsWriter.Entry(name, new long[] {values.length}, values);
    }

    private void shard(String file, SafeTensorsWriter.Entry... entries) {
        SafeTensorsWriter.writeF32(dir.resolve(file), List.of(entries), Map.of("format", "pt"));
    }

    private void index(String weightMapJson) throws IOException {
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE),
                "{\"metadata\": {\"total_size\": 0}, \"weight_map\": " + weightMapJson + "}");
    }

    /** Two shards in Hugging Face's naming, the index listing every tensor. */
    private void twoShards() throws IOException {
        shard("model-00001-of-00002.safetensors", entry("embed", 1, 2), entry("layers.0.w", 3));
        shard("model-00002-of-00002.safetensors", entry("layers.1.w", 4, 5, 6), entry("norm", 7));
        index("""
                {"embed": "model-00001-of-00002.safetensors",
                 "layers.0.w": "model-00001-of-00002.safetensors",
                 "layers.1.w": "model-00002-of-00002.safetensors",
                 "norm": "model-00002-of-00002.safetensors"}""");
    }

    @Test
    void openShouldReadASingleFileCheckpoint() {
        shard(Checkpoint.SINGLE_FILE, entry("a", 1, 2), entry("b", 3));
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertThat(ckpt.directory()).isEqualTo(dir);
            assertThat(ckpt.names()).containsExactly("a", "b");
            assertThat(ckpt.contains("b")).isTrue();
            assertThat(ckpt.tensor("a").data().toArray(F32_LE)).containsExactly(1, 2);
        }
    }

    @Test
    void openShouldRoundTripAShardedCheckpoint() throws IOException {
        twoShards();
        Tensor fromFirst;
        Tensor fromSecond;
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertThat(ckpt.names()).containsExactly("embed", "layers.0.w", "layers.1.w", "norm");
            fromFirst = ckpt.tensor("embed");
            fromSecond = ckpt.tensor("layers.1.w");
            assertThat(fromFirst.data().toArray(F32_LE)).containsExactly(1, 2);
            assertThat(fromSecond.shape()).containsExactly(3);
            assertThat(fromSecond.data().toArray(F32_LE)).containsExactly(4, 5, 6);
            assertThat(ckpt.tensor("norm").data().get(F32_LE, 0)).isEqualTo(7f);
        }
        // close() unmapped both shards
        assertThatThrownBy(() -> fromFirst.data().get(F32_LE, 0)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> fromSecond.data().get(F32_LE, 0)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void readingAfterCloseShouldFailWithIllegalStateException() throws IOException {
        twoShards();
        Checkpoint ckpt = Checkpoint.open(dir);
        ckpt.close();
        ckpt.close();
        assertThatThrownBy(() -> ckpt.tensor("norm"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("closed");
    }

    @Test
    void shardsMayBeSymlinksOutOfTheDirectoryAsInTheHubCache() throws IOException {
        // ~/.cache/huggingface/hub/models--x/snapshots/<rev>/model.safetensors -> ../../blobs/<sha>
        Path blobs = Files.createDirectories(dir.resolve("blobs"));
        Path snapshot = Files.createDirectories(dir.resolve("snapshots/abc123"));
        SafeTensorsWriter.writeF32(blobs.resolve("e3b0c442"), List.of(entry("w", 9)), Map.of());
        Files.createSymbolicLink(snapshot.resolve("model-00001-of-00001.safetensors"),
                Path.of("../../blobs/e3b0c442"));
        Files.writeString(snapshot.resolve(Checkpoint.INDEX_FILE),
                "{\"weight_map\": {\"w\": \"model-00001-of-00001.safetensors\"}}");
        try (Checkpoint ckpt = Checkpoint.open(snapshot)) {
            assertThat(ckpt.tensor("w").data().get(F32_LE, 0)).isEqualTo(9f);
        }
    }

    @Test
    void singleFileShouldWinOverAnIndexLikeTransformers() throws IOException {
        shard(Checkpoint.SINGLE_FILE, entry("single", 1));
        index("{\"other\": \"missing.safetensors\"}");
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertThat(ckpt.names()).containsExactly("single");
        }
    }

    @Test
    void tensorShouldNameDirectoryAndTensorWhenMissing() throws IOException {
        twoShards();
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertThat(ckpt.contains("lm_head")).isFalse();
            assertThatThrownBy(() -> ckpt.tensor("lm_head"))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("tensor 'lm_head' not found")
                    .hasMessageContaining(dir.toString());
        }
    }

    @Test
    void openShouldRejectADirectoryWithoutWeights() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{}");
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("no weights")
                .hasMessageContaining("model.safetensors")
                .hasMessageContaining("model.safetensors.index.json")
                .hasMessageNotContaining(".bin");
    }

    @Test
    void openShouldExplainThatBinCheckpointsAreNotSupported() throws IOException {
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {0x50, 0x4B});
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("pytorch_model.bin")
                .hasMessageContaining(".bin (PyTorch pickle) checkpoints are not supported")
                .hasMessageContaining("convert to safetensors");
    }

    @Test
    void openShouldRejectAPathThatIsNotADirectory() {
        Path missing = dir.resolve("nowhere");
        assertThatThrownBy(() -> Checkpoint.open(missing))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(missing.toString());
    }

    @Test
    void openShouldNameIndexAndShardWhenAShardIsMissing() throws IOException {
        shard("model-00001-of-00002.safetensors", entry("a", 1));
        index("{\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}");
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(Checkpoint.INDEX_FILE)
                .hasMessageContaining("shard 'model-00002-of-00002.safetensors' is missing");
    }

    @Test
    void openShouldRejectATensorListedInTheIndexButAbsentFromItsShard() throws IOException {
        twoShards();
        index("""
                {"embed": "model-00001-of-00002.safetensors",
                 "layers.0.w": "model-00001-of-00002.safetensors",
                 "layers.1.w": "model-00002-of-00002.safetensors",
                 "norm": "model-00001-of-00002.safetensors"}""");
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(Checkpoint.INDEX_FILE)
                .hasMessageContaining("tensor 'norm'")
                .hasMessageContaining("model-00001-of-00002.safetensors")
                .hasMessageContaining("absent");
    }

    @Test
    void openShouldRejectShardPathsThatEscapeTheDirectory() throws IOException {
        Path model = Files.createDirectories(dir.resolve("model"));
        SafeTensorsWriter.writeF32(dir.resolve("outside.safetensors"), List.of(entry("w", 1)), Map.of());
        for (String shard : List.of("../outside.safetensors", dir.resolve("outside.safetensors").toString(),
                "sub/../../outside.safetensors", "")) {
            Files.writeString(model.resolve(Checkpoint.INDEX_FILE),
                    "{\"weight_map\": {\"w\": \"" + shard + "\"}}");
            assertThatThrownBy(() -> Checkpoint.open(model))
                    .as(shard)
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(Checkpoint.INDEX_FILE)
                    .hasMessageContaining("shard '" + shard + "'")
                    .hasMessageContaining("relative path inside");
        }
    }

    @Test
    void openShouldRejectATensorInTwoShards() throws IOException {
        shard("s1.safetensors", entry("w", 1), entry("a", 2));
        shard("s2.safetensors", entry("w", 3));
        index("{\"w\": \"s1.safetensors\", \"a\": \"s1.safetensors\", \"x\": \"s2.safetensors\"}");
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("tensor 'w' is in two shards, s1.safetensors and s2.safetensors");
    }

    @Test
    void openShouldRejectAMalformedIndex() throws IOException {
        Path index = dir.resolve(Checkpoint.INDEX_FILE);
        for (String json : List.of("{not json", "{\"metadata\": {}}", "{\"weight_map\": []}", "{\"weight_map\": {}}",
                "{\"weight_map\": {\"w\": 3}}")) {
            Files.writeString(index, json);
            assertThatThrownBy(() -> Checkpoint.open(dir))
                    .as(json)
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(index.toString());
        }
    }

    @Test
    void openShouldNameTheShardWhenAShardIsCorrupt() throws IOException {
        twoShards();
        Files.write(dir.resolve("model-00002-of-00002.safetensors"), new byte[] {1, 2, 3});
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("model-00002-of-00002.safetensors");
    }
}
