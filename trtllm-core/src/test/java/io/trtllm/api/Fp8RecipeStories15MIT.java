package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.engine.CudaQuantizedTransform;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineLease;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.Fp8;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import io.trtllm.runtime.cuda.DequantizedCheckpoint;
import io.trtllm.runtime.cuda.GpuResults;
import io.trtllm.runtime.cuda.QuantizedLayout;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The FP8 recipe ({@link CudaQuantizedTransform#FP8_RECIPE}) on stories15M without a GPU: an FP8 engine built for
 * the CUDA backend, checked for which tensors are E4M3 and how they are scaled, then its weights emulated on the CPU
 * (the F32 backend on {@link DequantizedCheckpoint}: every E4M3 value times its scale, exactly the numbers the GPU
 * multiplies) and run greedily against transformers float32 — issue 15's bound for FP8, at least 32 of 64 tokens.
 * The GPU's BF16 activations (and W8A8's E4M3 ones) are not emulated here; {@code scripts/reference/fp8_recipes.py}
 * emulates those too (docs/PERFORMANCE.md, "FP8 recipe").
 */
class Fp8RecipeStories15MIT {
    private static final Logger LOG = LoggerFactory.getLogger(Fp8RecipeStories15MIT.class);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final List<String> MODULES = List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj");

    @TempDir
    Path tmp;

    @Test
    void fp8WeightsKeepTheGreedyTextOfTransformersFloat32ForAtLeast32Tokens() throws IOException {
        Path model = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint"));
        Path engineDir = tmp.resolve("engine");
        new EngineBuilder(BuildConfig.builder(256).quantization(Quantization.FP8).build(), Device.cuda(Device.ANY_ARCH))
                .build(model, engineDir);
        Path dequantized;
        try (EngineLease lease = EngineCache.openPrebuilt(engineDir); Checkpoint source = Checkpoint.open(model)) {
            Checkpoint engine = lease.weights();
            int layers = lease.config().modelConfig().numLayers();
            assertThat(lease.config().weights()).contains("recipe " + CudaQuantizedTransform.FP8_RECIPE);
            assertThat(engine.names().stream().filter(n -> n.endsWith(QuantizedLayout.QWEIGHT)).count())
                    .as("7 FP8 projections a layer, the head not among them").isEqualTo(7L * layers);
            assertThat(engine.names()).doesNotContain("lm_head.qweight", "lm_head.scales", "lm_head.weight");
            assertThat(engine.tensor("model.embed_tokens.weight").dtype()).as("the embedding, the tied head")
                    .isEqualTo(source.tensor("model.embed_tokens.weight").dtype());
            for (int l = 0; l < layers; l++) {
                for (String m : MODULES) {
                    String module = "model.layers." + l + "." + m;
                    assertScaledPerTensor(source.tensor(module + ".weight"), engine.tensor(module + QuantizedLayout.QWEIGHT),
                            engine.tensor(module + QuantizedLayout.SCALES));
                }
            }
            dequantized = DequantizedCheckpoint.write(engine, model, tmp.resolve("dequantized"));
        }
        int[] expected = CudaStories15MGpuTests.transformersGreedyIds();
        try (LLM llm = new LLM(LlmArgs.builder(dequantized.toString()).backend("cpu")
                .buildCacheConfig(new BuildCacheConfig(tmp.resolve("cache"), 4, 1L << 30)).build())) {
            int[] out = llm.generate("Once upon a time", SamplingParams.builder().maxTokens(64).temperature(0)
                    .ignoreEos(true).build()).output().tokenIds();
            int agree = GpuResults.agreement(out, expected);
            LOG.info("stories15M FP8 recipe {} weights emulated on the CPU (F32 activations): {}/64 greedy tokens equal to "
                    + "transformers float32", CudaQuantizedTransform.FP8_RECIPE, agree);
            assertThat(agree).isGreaterThanOrEqualTo(32);
        }
    }

    /**
     * One scale for the whole source tensor, {@code max|w| / 448} (so its largest value is E4M3's 448), and every code
     * {@code encode(w / s)}.
     */
    private static void assertScaledPerTensor(Tensor w, Tensor values, Tensor scales) {
        int rows = (int) w.dim(0);
        int cols = (int) w.dim(1);
        assertThat(values.dtype()).isEqualTo(DType.F8_E4M3);
        assertThat(values.shape()).isEqualTo(w.shape());
        assertThat(scales.shape()).isEqualTo(new long[] {rows});
        MemorySegment f32 = Arena.ofAuto().allocate(w.numel() * Float.BYTES, 64);
        TensorConversion.convert(w, DType.F32, f32);
        float[] v = f32.toArray(ValueLayout.JAVA_FLOAT);
        float amax = 0;
        for (float x : v) {
            amax = Math.max(amax, Math.abs(x));
        }
        float s = amax / Fp8.MAX;
        float[] stored = new float[rows];
        for (int r = 0; r < rows; r++) {
            stored[r] = scales.data().get(F32, 4L * r);
        }
        float[] same = new float[rows];
        Arrays.fill(same, s);
        assertThat(stored).as("%s: one scale, max|w| / 448", scales.name()).containsExactly(same);
        for (int i = 0; i < v.length; i++) {
            int code = values.data().get(ValueLayout.JAVA_BYTE, i) & 0xff;
            if (code != Fp8.encode(v[i] / s)) {
                throw new AssertionError(values.name() + " element " + i + " (row " + i / cols + "): code " + code
                        + ", expected " + Fp8.encode(v[i] / s));
            }
        }
    }
}
