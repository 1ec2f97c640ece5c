package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.SafeTensors;
import io.trtllm.model.SafeTensorsWriter;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints that don't fit their config, and batches that don't fit the cache, fail clearly. */
class CpuModelRunnerLoadTests {
    @TempDir
    Path tmp;

    /** Copies the llama3 parity fixture (F32) with its tensors passed through {@code edit}. */
    private Path editedCheckpoint(UnaryOperator<List<SafeTensorsWriter.Entry>> edit) throws IOException {
        Path src = ArchitectureParityTests.fixture("llama3");
        Files.copy(src.resolve("config.json"), tmp.resolve("config.json"));
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        try (var st = SafeTensors.open(src.resolve("model.safetensors"))) {
            for (String name : st.names()) {
                Tensor t = st.tensor(name);
                if (t.dtype() != DType.F32) {
                    throw new IllegalStateException("fixture expected in F32");
                }
                float[] data = t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
                entries.add(new SafeTensorsWriter.Entry(name, t.shape(), data));
            }
        }
        SafeTensorsWriter.writeF32(tmp.resolve("model.safetensors"), edit.apply(entries), Map.of("format", "pt"));
        return tmp;
    }

    private CpuModelRunner open(Path dir, Checkpoint weights) {
        return new CpuModelRunner(ModelConfig.load(dir), weights, new KvCacheSpec(4, 8), 1);
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = editedCheckpoint(list -> list.stream()
                .filter(e -> !e.name().equals("model.layers.1.mlp.up_proj.weight")).toList());
        try (var weights = Checkpoint.open(dir)) {
            assertThatThrownBy(() -> open(dir, weights))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("model.layers.1.mlp.up_proj.weight");
        }
    }

    @Test
    void wrongShapeIsNamedWithBothShapes() throws IOException {
        Path dir = editedCheckpoint(list -> list.stream().map(e -> e.name().equals("model.layers.0.self_attn.k_proj.weight")
                ? new SafeTensorsWriter.Entry(e.name(), new long[] {16, 128}, new float[16 * 128]) : e).toList());
        try (var weights = Checkpoint.open(dir)) {
            assertThatThrownBy(() -> open(dir, weights))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("model.layers.0.self_attn.k_proj.weight")
                    .hasMessageContaining("[16, 128]")
                    .hasMessageContaining("expected [32, 64]");
        }
    }

    @Test
    void untiedModelWithoutLmHeadIsNamed() throws IOException {
        Path dir = editedCheckpoint(UnaryOperator.identity());
        Files.writeString(dir.resolve("config.json"),
                Files.readString(dir.resolve("config.json")).replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"));
        try (var weights = Checkpoint.open(dir)) {
            assertThatThrownBy(() -> open(dir, weights))
                    .isInstanceOf(ModelFormatException.class).hasMessageContaining("lm_head.weight");
        }
    }

    @Test
    void batchesThatDoNotFitAreRejected() throws IOException {
        Path dir = ArchitectureParityTests.fixture("llama3");
        try (var weights = Checkpoint.open(dir); var runner = open(dir, weights)) {
            assertThatThrownBy(() -> runner.forward(Batch.of(new SequenceChunk(new int[10], 0, new int[] {0}, LogitsMode.LAST))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("need 2");
            assertThatThrownBy(() -> runner.forward(Batch.of(new SequenceChunk(new int[] {1}, 0, new int[] {4}, LogitsMode.LAST))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("block id 4");
            assertThatThrownBy(() -> runner.forward(Batch.of(new SequenceChunk(new int[] {256}, 0, new int[] {0}, LogitsMode.LAST))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("token id 256");
            assertThatThrownBy(() -> runner.forward(Batch.of(new SequenceChunk(new int[] {1}, 256, new int[] {0, 1, 2, 3}, LogitsMode.LAST))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_position_embeddings 256");
        }
    }
}
