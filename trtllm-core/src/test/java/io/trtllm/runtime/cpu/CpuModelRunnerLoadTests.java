package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineBuilder;
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

    /** An engine's weights, built for {@code panelRows} with {@code quantization}, into {@code tmp/name}. */
    private Path engine(String name, Quantization quantization, DType dtype, int panelRows) {
        Path out = tmp.resolve(name);
        new EngineBuilder(BuildConfig.builder(64).dtype(dtype.name()).quantization(quantization).build(),
                new Device("cpu", "test", 0, panelRows)).build(ArchitectureParityTests.fixture("llama3"), out);
        return out;
    }

    private static float[] logits(CpuModelRunner runner) {
        int[] prompt = {1, 17, 200, 31, 99, 5, 250, 3, 64, 128};
        return runner.forward(Batch.of(new SequenceChunk(prompt, 0, new int[] {0, 1}, LogitsMode.ALL))).logits(0);
    }

    @Test
    void anEnginesPanelsInPlaceGiveTheBitsOfPackingAtLoad() {
        Path dir = ArchitectureParityTests.fixture("llama3");
        for (Kernels kernels : List.of(new VectorKernels(), new ScalarKernels())) {
            for (DType dtype : List.of(DType.F32, DType.BF16)) {
                Path engine = engine("engine-" + kernels.panelRows() + "-" + dtype, Quantization.NONE, dtype, kernels.panelRows());
                // The same weights as a plain checkpoint (row-major, in the engine's dtype): packed at load. The
                // fixture is F32; a CUDA engine (plain tensors, BF16 or F16 only) holds its BF16 version.
                Path plain = dtype == DType.F32 ? dir : engine.resolveSibling("plain-" + kernels.panelRows() + "-" + dtype);
                if (!Files.exists(plain)) {
                    new EngineBuilder(BuildConfig.builder(64).dtype(dtype.name()).build(), Device.cuda(Device.ANY_ARCH))
                            .build(dir, plain);
                }
                try (var e = Checkpoint.open(engine); var p = Checkpoint.open(plain);
                     var inPlace = new CpuModelRunner(ModelConfig.load(dir), e, new KvCacheSpec(4, 8), DType.F32, 1, kernels);
                     var packed = new CpuModelRunner(ModelConfig.load(dir), p, new KvCacheSpec(4, 8), DType.F32, 1, kernels)) {
                    assertThat(e.contains("model.embed_tokens.panels")).isTrue();
                    assertThat(p.contains("model.layers.0.self_attn.q_proj.weight")).isTrue();
                    assertThat(logits(inPlace)).as("%s %s", kernels.description(), dtype).containsExactly(logits(packed));
                }
            }
        }
    }

    @Test
    void weightsCopiedOntoHugePagesGiveTheBitsOfWeightsLeftInPlace() {
        Path dir = ArchitectureParityTests.fixture("llama3");
        int panelRows = CpuKernels.best().panelRows();
        List<Path> sources = new ArrayList<>(List.of(dir)); // a checkpoint, packed at load: not copied again
        for (Quantization q : List.of(Quantization.NONE, Quantization.INT8, Quantization.INT4)) {
            sources.add(engine("hp-" + q.id(), q, DType.F32, panelRows)); // engines, mapped in place: copied
        }
        sources.add(engine("hp-bf16", Quantization.NONE, DType.BF16, panelRows));
        for (Path source : sources) {
            float[] inPlace;
            try (var w = Checkpoint.open(source)) {
                System.setProperty(CpuWeights.HUGE_PAGES_PROPERTY, "false");
                try (var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), 2)) {
                    assertThat(runner.description()).doesNotContain("huge pages");
                    // Only an engine with INT4 matrices says how it runs them (an F32 engine said "INT4 as W4A8" too).
                    assertThat(runner.description().contains("INT4 as W4A8")).as(source.toString())
                            .isEqualTo(W4A8.enabled() && source.getFileName().toString().startsWith("hp-int4"));
                    inPlace = logits(runner);
                } finally {
                    System.clearProperty(CpuWeights.HUGE_PAGES_PROPERTY);
                }
                try (var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), 2)) {
                    // Copied wherever this machine's kernel offers transparent huge pages (it does on the CI machine).
                    assertThat(runner.description().contains("huge pages")).as(source.toString())
                            .isEqualTo(HugePages.available() && source != dir);
                    assertThat(logits(runner)).as(source.toString()).containsExactly(inPlace);
                }
            }
        }
    }

    @Test
    void sixteenBitWeightsWidenedAtLoadGiveTheBitsOfTheConvertingKernels() {
        Path dir = ArchitectureParityTests.fixture("llama3");
        for (Kernels kernels : List.of(new VectorKernels(), new ScalarKernels())) {
            for (DType dtype : List.of(DType.BF16, DType.F16)) {
                Path engine = engine("widen-" + kernels.panelRows() + "-" + dtype, Quantization.NONE, dtype, kernels.panelRows());
                try (var w = Checkpoint.open(engine)) {
                    float[] converting;
                    System.setProperty(CpuWeights.WIDEN_PROPERTY, "false");
                    try (var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), DType.F32, 2, kernels)) {
                        assertThat(runner.weights().widenedBytes()).isZero();
                        assertThat(runner.weights().lmHead().format()).isEqualTo(PackedMatrix.Format.valueOf(dtype.name()));
                        converting = logits(runner);
                    } finally {
                        System.clearProperty(CpuWeights.WIDEN_PROPERTY);
                    }
                    try (var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), DType.F32, 2, kernels)) {
                        CpuWeights weights = runner.weights();
                        assertThat(weights.widenedBytes()).isPositive();
                        assertThat(weights.placement()).contains("widened to float32");
                        assertThat(weights.lmHead().format()).isEqualTo(PackedMatrix.Format.F32);
                        assertThat(weights.layer(0).wqkv().format()).isEqualTo(PackedMatrix.Format.F32);
                        assertThat(weights.layer(weights.layers() - 1).down().format()).isEqualTo(PackedMatrix.Format.F32);
                        assertThat(logits(runner)).as("%s %s", kernels.description(), dtype).containsExactly(converting);
                    }
                }
            }
        }
    }

    @Test
    void hugePageMemoryIsAlignedZeroedAndWholePages() {
        // Where the kernel offers none, there is nothing to allocate (the test above checks the runner then keeps
        // its weights in place): reported as skipped, not passed.
        org.junit.jupiter.api.Assumptions.assumeTrue(HugePages.available(), "transparent huge pages offered by the kernel");
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            var memory = HugePages.allocate(arena, 3 * HugePages.SIZE + 1);
            assertThat(memory).isNotNull();
            assertThat(memory.address() % HugePages.SIZE).isZero();
            assertThat(memory.byteSize()).isEqualTo(4 * HugePages.SIZE);
            assertThat(memory.asSlice(0, 4096).toArray(ValueLayout.JAVA_BYTE)).containsOnly((byte) 0);
            memory.set(ValueLayout.JAVA_LONG, memory.byteSize() - 8, -1L);
            assertThat(memory.get(ValueLayout.JAVA_LONG, memory.byteSize() - 8)).isEqualTo(-1L);
        }
    }

    @Test
    void quantizedEnginesRunAndStayCloseToF32() {
        Path dir = ArchitectureParityTests.fixture("llama3");
        float[] reference;
        try (var w = Checkpoint.open(dir); var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), 1)) {
            reference = logits(runner);
        }
        int panelRows = CpuKernels.best().panelRows();
        for (Quantization q : List.of(Quantization.INT8, Quantization.INT4)) {
            Path engine = engine("engine-" + q.id(), q, DType.F32, panelRows);
            try (var w = Checkpoint.open(engine);
                 var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), 1)) {
                float[] got = logits(runner);
                double error = 0, signal = 0;
                for (int i = 0; i < got.length; i++) {
                    error += (got[i] - reference[i]) * (got[i] - reference[i]);
                    signal += reference[i] * reference[i];
                }
                assertThat(Math.sqrt(error / signal)).as("%s relative RMS logit error", q)
                        .isLessThan(q == Quantization.INT8 ? 0.02 : 0.6); // measured 0.37 for int4: random weights, 64-wide groups
            }
        }
    }

    @Test
    void anInt4EngineWithInt8ActivationsGivesAPromptTheSameLogitsAloneAndBatched() {
        Path dir = ArchitectureParityTests.fixture("llama3");
        int[] prompt = {1, 17, 200, 31, 99, 5, 250, 3, 64, 128};
        int[] other = {1, 44, 9, 230, 17, 6};
        for (Kernels kernels : List.of(new VectorKernels(true), new ScalarKernels(true))) {
            Path engine = engine("engine-w4a8-" + kernels.panelRows(), Quantization.INT4, DType.F32, kernels.panelRows());
            float[] weightOnly;
            try (var w = Checkpoint.open(engine);
                 var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(8, 8), DType.F32, 2,
                         kernels instanceof VectorKernels ? new VectorKernels(false) : new ScalarKernels(false))) {
                weightOnly = runner.forward(Batch.of(new SequenceChunk(prompt, 0, new int[] {0, 1}, LogitsMode.ALL))).logits(0);
            }
            try (var w = Checkpoint.open(engine);
                 var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(8, 8), DType.F32, 2, kernels)) {
                float[] alone = runner.forward(Batch.of(new SequenceChunk(prompt, 0, new int[] {0, 1}, LogitsMode.ALL))).logits(0);
                // Another prompt in the same pass (its rows are quantized beside ours), then a decode row beside a chunk.
                var batched = runner.forward(new Batch(List.of(new SequenceChunk(other, 0, new int[] {2, 3}, LogitsMode.ALL),
                        new SequenceChunk(prompt, 0, new int[] {4, 5}, LogitsMode.ALL))));
                assertThat(batched.logits(1)).as("%s: the prompt's logits beside another", kernels.description()).isEqualTo(alone);
                float[] last = runner.forward(Batch.of(new SequenceChunk(new int[] {prompt[9]}, 9, new int[] {0, 1},
                        LogitsMode.LAST))).logits(0);
                var mixed = runner.forward(new Batch(List.of(new SequenceChunk(other, 0, new int[] {6, 7}, LogitsMode.LAST),
                        new SequenceChunk(new int[] {prompt[9]}, 9, new int[] {4, 5}, LogitsMode.LAST))));
                assertThat(mixed.logits(1)).as("%s: a decode row beside a prompt chunk", kernels.description()).isEqualTo(last);
                // The integer path ran: its logits are close to, not equal to, the weight-only kernels'.
                assertThat(alone).isNotEqualTo(weightOnly);
                double error = 0, signal = 0;
                for (int i = 0; i < alone.length; i++) {
                    error += (alone[i] - weightOnly[i]) * (alone[i] - weightOnly[i]);
                    signal += weightOnly[i] * weightOnly[i];
                }
                assertThat(Math.sqrt(error / signal)).as("%s: W4A8 vs weight-only relative RMS", kernels.description())
                        .isLessThan(0.05);
            }
        }
    }

    @Test
    void enginesOfAnotherPanelHeightOrWithMissingTensorsAreRefusedClearly() throws IOException {
        Path dir = ArchitectureParityTests.fixture("llama3");
        int other = CpuKernels.best().panelRows() == 16 ? 32 : 16;
        Path engine = engine("other", Quantization.INT8, DType.F32, other);
        try (var w = Checkpoint.open(engine)) {
            if (CpuKernels.best() instanceof VectorKernels) {
                assertThatThrownBy(() -> new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), 1))
                        .isInstanceOf(ModelFormatException.class)
                        .hasMessageContaining("is stored in panels of " + other + " rows")
                        .hasMessageContaining("rebuild the engine");
            }
            // The scalar kernels take any panel height.
            try (var runner = new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), DType.F32, 1, new ScalarKernels())) {
                assertThat(logits(runner)).hasSize(10 * 256);
            }
            Tensor qweight = w.tensor("model.layers.0.mlp.up_proj.qweight");
            assertThatThrownBy(() -> PackedMatrix.mapped("model.layers.0.mlp.up_proj", 128, 64, null, qweight, null))
                    .isInstanceOf(ModelFormatException.class).hasMessageContaining("no 'model.layers.0.mlp.up_proj.scales'");
            Tensor scales = w.tensor("model.layers.0.mlp.up_proj.scales");
            assertThatThrownBy(() -> PackedMatrix.mapped("model.layers.0.mlp.up_proj", 100, 64, null, qweight, scales))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("'model.layers.0.mlp.up_proj.qweight' has shape [" + 128 / other + ", 64, " + other
                            + "], expected [" + (100 + other - 1) / other + ", 64, " + other + "]");
        }
        // An engine's float tensors only: the linear weights are missing in every layout.
        Path noScales = tmp.resolve("no-scales");
        Files.createDirectories(noScales);
        Files.copy(dir.resolve("config.json"), noScales.resolve("config.json"));
        try (var st = SafeTensors.open(engine.resolve("model.safetensors"))) {
            List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
            for (String name : st.names()) {
                Tensor t = st.tensor(name);
                if (t.dtype() == DType.F32 && !name.equals("model.layers.1.mlp.up_proj.scales")) {
                    entries.add(new SafeTensorsWriter.Entry(name, t.shape(),
                            t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN))));
                }
            }
            SafeTensorsWriter.writeF32(noScales.resolve("model.safetensors"), entries, Map.of());
        }
        try (var w = Checkpoint.open(noScales)) {
            assertThatThrownBy(() -> new CpuModelRunner(ModelConfig.load(dir), w, new KvCacheSpec(4, 8), 1))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("'model.layers.0.self_attn.q_proj.weight' not found")
                    .hasMessageContaining("q_proj.qweight");
        }
    }

    @Test
    void integerWeightsOfAPlainCheckpointAreRefusedNamingTheTensor() {
        var tensor = new Tensor("model.layers.0.mlp.up_proj.weight", DType.I8, new long[] {2, 2},
                java.lang.foreign.Arena.ofAuto().allocate(4));
        assertThatThrownBy(() -> WeightMatrix.of(tensor, 2, 2)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'model.layers.0.mlp.up_proj.weight' has dtype I8")
                .hasMessageContaining("quantized checkpoints are not supported");
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
