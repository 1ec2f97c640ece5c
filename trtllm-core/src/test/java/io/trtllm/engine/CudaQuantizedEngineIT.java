package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.Fp8;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.cuda.QuantizedLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Weight-only INT8 / INT4 engines for the CUDA backend, built without a GPU (an engine for any GPU
 * carries no kernels, so NVRTC is not needed): the tensors of {@link CudaQuantizedTransform}'s layout,
 * every quantized value the checkpoint's weight within half a scale, the tied LM head quantized beside
 * an embedding that keeps its dtype, and the build config in the cache key.
 */
class CudaQuantizedEngineIT {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Device ANY_GPU = Device.cuda(Device.ANY_ARCH);

    @TempDir
    Path tmp;
    Path model;

    @BeforeEach
    void setUp() {
        model = TinyModels.llama(tmp.resolve("model"));
    }

    private static float floatAt(Tensor t, long i) {
        return switch (t.dtype()) {
            case F32 -> t.data().get(F32, i * 4);
            case BF16 -> Float.intBitsToFloat((t.data().get(U16, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(t.data().get(U16, i * 2));
            default -> throw new IllegalArgumentException(t.dtype().toString());
        };
    }

    @ParameterizedTest
    @EnumSource(value = Quantization.class, names = {"INT8", "INT4"})
    void linearWeightsAreQuantizedRowMajorWithinHalfAScaleOfTheCheckpoint(Quantization q) {
        Path out = tmp.resolve("engine-" + q.id());
        var result = new EngineBuilder(BuildConfig.builder(64).quantization(q).build(), ANY_GPU).build(model, out);
        assertThat(result.tensors()).isPositive();
        boolean int4 = q == Quantization.INT4;
        ModelConfig config = ModelConfig.load(model);
        assertThat(config.tieWordEmbeddings()).as("the fixture's head is tied").isTrue();
        try (EngineLease lease = EngineCache.openPrebuilt(out); Checkpoint source = Checkpoint.open(model)) {
            Checkpoint engine = lease.weights();
            assertThat(lease.config().buildConfig().quantization()).isEqualTo(q);
            assertThat(engine.names()).contains("model.embed_tokens.weight", "lm_head.qweight", "lm_head.scales",
                    "model.layers.0.input_layernorm.weight").doesNotContain("lm_head.weight",
                    "model.layers.0.self_attn.q_proj.weight");
            assertThat(engine.tensor("model.embed_tokens.weight").dtype()).as("the embedding keeps its dtype")
                    .isEqualTo(source.tensor("model.embed_tokens.weight").dtype());
            int modules = 0;
            for (String name : source.names()) {
                boolean linear = CpuLayoutTransform.isLinear(name) || name.equals("model.embed_tokens.weight");
                if (!linear) {
                    continue;
                }
                String module = name.equals("model.embed_tokens.weight") ? "lm_head"
                        : name.substring(0, name.length() - ".weight".length());
                Tensor w = source.tensor(name);
                int rows = (int) w.dim(0);
                int cols = (int) w.dim(1);
                int group = int4 ? QuantizedLayout.int4GroupSize(name, cols) : cols;
                Tensor values = engine.tensor(module + QuantizedLayout.QWEIGHT);
                Tensor scales = engine.tensor(module + QuantizedLayout.SCALES);
                assertThat(values.dtype()).isEqualTo(int4 ? DType.U8 : DType.I8);
                assertThat(values.shape()).isEqualTo(int4 ? new long[] {rows, cols / 2} : new long[] {rows, cols});
                assertThat(scales.dtype()).isEqualTo(DType.F32);
                assertThat(scales.shape()).isEqualTo(int4 ? new long[] {rows, cols / group} : new long[] {rows});
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        float s = scales.data().get(F32, 4L * (int4 ? (long) r * (cols / group) + c / group : r));
                        int v;
                        if (int4) {
                            int b = values.data().get(ValueLayout.JAVA_BYTE, (long) r * (cols / 2) + c / 2) & 0xff;
                            int bits = c % 2 == 0 ? b & 0xf : b >>> 4;
                            v = bits >= 8 ? bits - 16 : bits;
                        } else {
                            v = values.data().get(ValueLayout.JAVA_BYTE, (long) r * cols + c);
                        }
                        float x = floatAt(w, (long) r * cols + c);
                        assertThat(Math.abs(x - (double) v * s)).as("%s (%d, %d)", module, r, c)
                                .isLessThanOrEqualTo(s * 0.50001);
                    }
                }
                modules++;
            }
            assertThat(modules).as("7 per layer and the head").isEqualTo(7 * config.numLayers() + 1);
        }
    }

    @Test
    void fp8EnginesHoldE4m3ValuesWithinHalfAStepOfTheCheckpoint() {
        Path out = tmp.resolve("engine-fp8");
        new EngineBuilder(BuildConfig.builder(64).quantization(Quantization.FP8).build(), ANY_GPU).build(model, out);
        try (EngineLease lease = EngineCache.openPrebuilt(out); Checkpoint source = Checkpoint.open(model)) {
            Tensor w = source.tensor("model.layers.1.mlp.down_proj.weight");
            Tensor values = lease.weights().tensor("model.layers.1.mlp.down_proj.qweight");
            Tensor scales = lease.weights().tensor("model.layers.1.mlp.down_proj.scales");
            assertThat(values.dtype()).isEqualTo(DType.F8_E4M3);
            assertThat(values.shape()).isEqualTo(w.shape());
            assertThat(scales.shape()).isEqualTo(new long[] {w.dim(0)});
            // FP8 recipe 2: the head is not quantized; the tied fixture's head is its float embedding.
            assertThat(lease.weights().names()).doesNotContain("lm_head.qweight", "lm_head.scales", "lm_head.weight")
                    .contains("model.embed_tokens.weight");
            assertThat(lease.config().weights()).isEqualTo("cuda row-major, dtype auto, weight-only fp8 (recipe "
                    + CudaQuantizedTransform.FP8_RECIPE + ": per-tensor scales, LM head not quantized)");
            long cols = w.dim(1);
            for (long i = 0; i < w.numel(); i++) {
                float s = scales.data().get(F32, 4L * (i / cols));
                float x = floatAt(w, i);
                double err = Math.abs(x - (double) Fp8.decode(values.data().get(ValueLayout.JAVA_BYTE, i)) * s);
                assertThat(err).as("element %d", i).isLessThanOrEqualTo(Math.abs(x) / 16 * 1.0001 + s * 0x1p-10 * 1.0001);
            }
        }
    }

    /**
     * FP8 recipe 2 plans no quantized head: a tied model's embedding is planned alone (the runner uses it as the
     * head), an untied model's {@code lm_head.weight} stays one float tensor; INT8 still quantizes both.
     */
    @Test
    void fp8LeavesTheLmHeadAFloatTensorTiedOrNot() throws java.io.IOException {
        ModelConfig tied = ModelConfig.load(model);
        Path untiedDir = java.nio.file.Files.createDirectories(tmp.resolve("untied"));
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(model.resolve("config.json").toFile());
        config.put("tie_word_embeddings", false);
        java.nio.file.Files.write(untiedDir.resolve("config.json"), json.writeValueAsBytes(config));
        ModelConfig untied = ModelConfig.load(untiedDir);
        long[] shape = {tied.vocabSize(), tied.hiddenSize()};
        var arena = java.lang.foreign.Arena.ofAuto();
        var embedding = new Tensor("model.embed_tokens.weight", DType.F32, shape, arena.allocate(shape[0] * shape[1] * 4));
        var head = new Tensor("lm_head.weight", DType.BF16, shape, arena.allocate(shape[0] * shape[1] * 2));
        var fp8Tied = new CudaQuantizedTransform(Dtype.BFLOAT16, Quantization.FP8, tied);
        var fp8Untied = new CudaQuantizedTransform(Dtype.BFLOAT16, Quantization.FP8, untied);
        assertThat(fp8Tied.plan(embedding)).extracting(EngineTensor::name).containsExactly("model.embed_tokens.weight");
        assertThat(fp8Untied.plan(embedding)).extracting(EngineTensor::name).containsExactly("model.embed_tokens.weight");
        assertThat(fp8Untied.plan(head)).singleElement().satisfies(t -> {
            assertThat(t.name()).isEqualTo("lm_head.weight");
            assertThat(t.dtype()).isEqualTo("BF16");
        });
        assertThat(new CudaQuantizedTransform(Dtype.BFLOAT16, Quantization.INT8, tied).plan(embedding))
                .extracting(EngineTensor::name).containsExactly("model.embed_tokens.weight", "lm_head.qweight", "lm_head.scales");
        assertThat(new CudaQuantizedTransform(Dtype.BFLOAT16, Quantization.INT8, untied).plan(head))
                .extracting(EngineTensor::name).containsExactly("lm_head.qweight", "lm_head.scales");
        assertThat(fp8Untied.plan(new Tensor("model.layers.0.mlp.down_proj.weight", DType.F32, new long[] {64, 128},
                arena.allocate(64 * 128 * 4)))).extracting(EngineTensor::name)
                .containsExactly("model.layers.0.mlp.down_proj.qweight", "model.layers.0.mlp.down_proj.scales");
    }

    @Test
    void fp8IsForGpusOfSm89OrNewerOnly() {
        BuildConfig fp8 = BuildConfig.builder(64).quantization(Quantization.FP8).build();
        assertThatThrownBy(() -> new EngineBuilder(fp8, Device.cpu())).isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("quantization fp8 runs on the cuda backend only")
                .hasMessageContaining("int8 or int4");
        assertThatThrownBy(() -> new EngineBuilder(fp8, Device.cuda("sm_80"))).isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("quantization fp8 needs a GPU of sm_89 or newer").hasMessageContaining("this one is sm_80");
        assertThatThrownBy(() -> new EngineBuilder(fp8, Device.cuda("sm_86"))).hasMessageContaining("this one is sm_86");
        new EngineBuilder(fp8, Device.cuda("sm_89"));
        new EngineBuilder(fp8, Device.cuda("sm_90"));
        new EngineBuilder(fp8, Device.cuda("sm_90a"));
        new EngineBuilder(fp8, Device.cuda("sm_100"));
        new EngineBuilder(fp8, ANY_GPU);  // checked when a runner opens it on a GPU
        assertThat(Quantization.parse("FP8")).isEqualTo(Quantization.FP8);
        assertThat(Quantization.FP8.id()).isEqualTo("fp8");
    }

    @Test
    void quantizationIsPartOfTheCudaEnginesKeyAndItsDescription() {
        BuildConfig base = BuildConfig.builder(128).build();
        String none = EngineCache.key(EngineCache.keyInputs(model, base, ANY_GPU));
        String int8 = EngineCache.key(EngineCache.keyInputs(model, base.toBuilder().quantization(Quantization.INT8).build(), ANY_GPU));
        String int4 = EngineCache.key(EngineCache.keyInputs(model, base.toBuilder().quantization(Quantization.INT4).build(), ANY_GPU));
        String fp8 = EngineCache.key(EngineCache.keyInputs(model, base.toBuilder().quantization(Quantization.FP8).build(), ANY_GPU));
        assertThat(int8).isNotEqualTo(none);
        assertThat(int4).isNotEqualTo(none).isNotEqualTo(int8);
        assertThat(fp8).isNotEqualTo(none).isNotEqualTo(int8).isNotEqualTo(int4);
        // An FP8 entry of another recipe is another key: rebuilt, never read as this recipe's.
        assertThat(EngineCache.keyInputs(model, base.toBuilder().quantization(Quantization.FP8).build(), ANY_GPU)
                .get("fp8_recipe").intValue()).isEqualTo(CudaQuantizedTransform.FP8_RECIPE).isEqualTo(2);
        assertThat(EngineCache.keyInputs(model, base.toBuilder().quantization(Quantization.INT8).build(), ANY_GPU)
                .has("fp8_recipe")).as("other keys unchanged").isFalse();
        ModelConfig config = ModelConfig.load(model);
        assertThat(EngineBuilder.defaultTransform(base.toBuilder().quantization(Quantization.INT4).build(), ANY_GPU, config)
                .describe()).isEqualTo("cuda row-major, dtype auto, weight-only int4");
        assertThat(EngineBuilder.defaultTransform(base, ANY_GPU, config)).isInstanceOf(DTypeConversion.class);
        assertThat(EngineBuilder.defaultTransform(base.toBuilder().quantization(Quantization.INT8).build(), Device.cpu(), config))
                .isInstanceOf(CpuLayoutTransform.class);
    }

    @Test
    void badShapesAreRefusedNamingTheTensor() {
        ModelConfig config = ModelConfig.load(model);
        var transform = new CudaQuantizedTransform(Dtype.AUTO, Quantization.INT4, config);
        var odd = new Tensor("model.layers.0.mlp.down_proj.weight", DType.F32, new long[] {64, 100},
                java.lang.foreign.Arena.ofAuto().allocate(64 * 100 * 4));
        assertThatThrownBy(() -> transform.plan(odd)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'model.layers.0.mlp.down_proj.weight'").hasMessageContaining("input dimension 100");
        var ints = new Tensor("model.layers.0.mlp.down_proj.weight", DType.I8, new long[] {8, 8},
                java.lang.foreign.Arena.ofAuto().allocate(64));
        assertThatThrownBy(() -> transform.plan(ints)).hasMessageContaining("has dtype I8");
        var vector = new Tensor("lm_head.weight", DType.F32, new long[] {64}, java.lang.foreign.Arena.ofAuto().allocate(256));
        assertThat(transform.plan(vector)).as("a tied model drops its own lm_head.weight").isEmpty();
        var untied = new Tensor("model.layers.1.self_attn.o_proj.weight", DType.F32, new long[] {64},
                java.lang.foreign.Arena.ofAuto().allocate(256));
        assertThatThrownBy(() -> transform.plan(untied)).hasMessageContaining("has shape [64], expected a matrix");
        assertThatThrownBy(() -> new CudaQuantizedTransform(Dtype.AUTO, Quantization.NONE, config))
                .hasMessageContaining("int8, int4 or fp8, not none");
        assertThat(transform.plan(new Tensor("model.norm.weight", DType.F32, new long[] {64},
                java.lang.foreign.Arena.ofAuto().allocate(256)))).as("a norm stays a float tensor").hasSize(1);
    }
}
