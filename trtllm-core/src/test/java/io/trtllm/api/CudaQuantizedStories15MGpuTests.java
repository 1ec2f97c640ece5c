package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.runtime.cuda.CudaBackend;
import io.trtllm.runtime.cuda.GpuResults;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Weight-only INT8 and INT4, and FP8, engines of stories15M on the CUDA backend through {@link LLM}, built on the GPU
 * machine from the bundle's checkpoint ({@link CudaStories15MGpuTests#checkpoint}): INT8's greedy text
 * against transformers float32 (the CPU backend's INT8 bound: at least 32 of 64 tokens equal), INT4's
 * figure recorded; and INT8 rows computed the same alone and batched (decode through the quantized GEMV,
 * prompts dequantized for cuBLAS). Needs an NVIDIA GPU (tag {@code gpu}).
 */
@Tag("gpu")
class CudaQuantizedStories15MGpuTests {
    @TempDir
    static Path tmp;
    static LLM int8;
    static LLM int4;

    @BeforeAll
    static void load() throws IOException {
        Path checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint"));
        int8 = open(checkpoint, Quantization.INT8);
        int4 = open(checkpoint, Quantization.INT4);
    }

    private static LLM open(Path checkpoint, Quantization q) {
        LLM llm = new LLM(LlmArgs.builder(checkpoint.toString()).backend("cuda").quantization(q)
                .buildCacheConfig(new BuildCacheConfig(tmp.resolve("cache"), 4, 1L << 30)).build());
        GpuResults.record("stories15M %s engine: [%s]", q.id(), llm.backendDescription());
        return llm;
    }

    @AfterAll
    static void close() {
        for (LLM llm : new LLM[] {int8, int4}) {
            if (llm != null) {
                llm.close();
            }
        }
    }

    @Test
    void int8GreedyTextEqualsTransformersFloat32ForAtLeast32Tokens() throws IOException {
        int[] expected = CudaStories15MGpuTests.transformersGreedyIds();
        RequestOutput out8 = int8.generate("Once upon a time", SamplingParams.greedy(64));
        RequestOutput out4 = int4.generate("Once upon a time", SamplingParams.greedy(64));
        int agree8 = GpuResults.agreement(out8.output().tokenIds(), expected);
        int agree4 = GpuResults.agreement(out4.output().tokenIds(), expected);
        GpuResults.record("stories15M greedy vs transformers float32 \"Once upon a time\": INT8 %d/64 tokens equal, INT4 %d/64;"
                + " INT8 text: %s | INT4 text: %s", agree8, agree4, out8.output().text().replace('\n', ' '),
                out4.output().text().replace('\n', ' '));
        assertThat(int8.buildConfig().quantization()).isEqualTo(Quantization.INT8);
        assertThat(int8.backendDescription()).contains("weight-only INT8");
        assertThat(int4.backendDescription()).contains("weight-only INT4");
        assertThat(out4.output().tokenIds()).hasSize(64);
        assertThat(agree8).isGreaterThanOrEqualTo(32);
    }

    /**
     * FP8 weights (sm_89 or newer; the engine built here like the others, FP8 recipe 2: per-tensor scales, the LM
     * head in BF16): greedy text against transformers float32, the bound for FP8 as for INT8, at least 32 of
     * 64 tokens equal.
     */
    @Test
    void fp8GreedyTextEqualsTransformersFloat32ForAtLeast32Tokens() throws IOException {
        Assumptions.assumeTrue(CudaBackend.deviceArch() != null && fp8Arch(CudaBackend.deviceArch()), "FP8 needs sm_89 or newer");
        int[] expected = CudaStories15MGpuTests.transformersGreedyIds();
        try (LLM fp8 = open(CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint-fp8")), Quantization.FP8)) {
            RequestOutput out = fp8.generate("Once upon a time", SamplingParams.greedy(64));
            int agree = GpuResults.agreement(out.output().tokenIds(), expected);
            GpuResults.record("stories15M greedy vs transformers float32 \"Once upon a time\": FP8 %d/64 tokens equal; text: %s",
                    agree, out.output().text().replace('\n', ' '));
            assertThat(fp8.backendDescription()).contains("FP8 E4M3 weights").contains("BF16 LM head");
            // Recipe 1 (per-row scales, FP8 head) measured 29/64 on an H200 and an H100 (2026-12-07, docs/GPU-TESTS.md):
            // token 29 of the float32 reference is 0.26 logit ahead of the next, and that recipe's error flipped it.
            // Recipe 2 emulated on the CPU with BF16 activations: 41/64, smallest margin in the first 32 tokens 0.22
            // (docs/PERFORMANCE.md, "FP8 recipe"; Fp8RecipeStories15MIT runs the weights' part without a GPU).
            assertThat(agree).isGreaterThanOrEqualTo(32);
        }
    }

    /**
     * FP8 W8A8 ({@code trtllm.cuda.fp8Gemm=true}): every projection but the LM head (BF16) through cuBLASLt's FP8 GEMM
     * with per-token activation scales. Greedy text against transformers float32 (the FP8 bound, at least 32
     * of 64; emulated on the CPU: 41, smallest margin in the first 32 tokens 0.04 logit at token 14), and 12 prompts alone and batched (1 vs 12 decode rows, in CUDA graphs): the count of equal generations
     * recorded, and each batched generation's first 4 tokens equal to its generation alone asserted (later tokens
     * may part at near-ties, since cuBLASLt's kernel depends on the row count).
     */
    @Test
    void fp8W8a8GreedyTextAndBatchedGenerations() throws IOException {
        Assumptions.assumeTrue(CudaBackend.deviceArch() != null && fp8Arch(CudaBackend.deviceArch()), "FP8 needs sm_89 or newer");
        int[] expected = CudaStories15MGpuTests.transformersGreedyIds();
        Path checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint-w8a8"));
        System.setProperty("trtllm.cuda.fp8Gemm", "true");
        LLM w8a8;
        try {
            w8a8 = open(checkpoint, Quantization.FP8);
        } finally {
            System.clearProperty("trtllm.cuda.fp8Gemm");
        }
        try (LLM fp8 = w8a8) {
            assertThat(fp8.backendDescription()).contains("W8A8");
            RequestOutput out = fp8.generate("Once upon a time", SamplingParams.greedy(64));
            int agree = GpuResults.agreement(out.output().tokenIds(), expected);
            List<String> prompts = new ArrayList<>();
            for (String p : CudaStories15MGpuTests.PROMPTS) {
                prompts.addAll(List.of(p, p + " and", p + " with a"));
            }
            prompts = prompts.subList(0, 12);
            List<int[]> alone = new ArrayList<>();
            for (String p : prompts) {
                alone.add(fp8.generate(p, SamplingParams.greedy(64)).output().tokenIds());
            }
            List<RequestOutput> batched = fp8.generate(prompts, SamplingParams.greedy(64));
            int equal = 0;
            int firstFour = 0;
            for (int i = 0; i < alone.size(); i++) {
                int[] b = batched.get(i).output().tokenIds();
                equal += Arrays.equals(alone.get(i), b) ? 1 : 0;
                firstFour += Arrays.equals(Arrays.copyOf(b, 4), Arrays.copyOf(alone.get(i), 4)) ? 1 : 0;
            }
            GpuResults.record("stories15M FP8 W8A8 [%s]: greedy vs transformers float32 %d/64 tokens equal; 12 prompts alone vs "
                    + "batched: %d/12 generate the same 64 tokens, %d/12 the same first 4; text: %s", fp8.backendDescription(),
                    agree, equal, firstFour, out.output().text().replace('\n', ' '));
            assertThat(agree).isGreaterThanOrEqualTo(32);
            assertThat(firstFour).isEqualTo(12);
        }
    }

    /**
     * A BF16 engine with an FP8 KV cache ({@code kv_cache_config.dtype fp8}, E4M3 of scale 1): greedy text against
     * transformers float32, at least 16 of 64 tokens equal (the FP8 weights' bound), the figure recorded.
     */
    @Test
    void fp8KvCacheGreedyText() throws IOException {
        Assumptions.assumeTrue(CudaBackend.deviceArch() != null && fp8Arch(CudaBackend.deviceArch()), "FP8 needs sm_89 or newer");
        int[] expected = CudaStories15MGpuTests.transformersGreedyIds();
        Path checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint-kv8"));
        try (LLM llm = new LLM(LlmArgs.builder(checkpoint.toString()).backend("cuda")
                .kvCacheConfig(io.trtllm.api.config.KvCacheConfig.defaults().withDtype("fp8"))
                .buildCacheConfig(new BuildCacheConfig(tmp.resolve("cache"), 4, 1L << 30)).build())) {
            assertThat(llm.backendDescription()).contains("FP8 E4M3 KV cache");
            RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(64));
            int agree = GpuResults.agreement(out.output().tokenIds(), expected);
            GpuResults.record("stories15M BF16 weights, FP8 KV cache [%s]: greedy vs transformers float32 %d/64 tokens equal; "
                    + "text: %s", llm.backendDescription(), agree, out.output().text().replace('\n', ' '));
            assertThat(agree).isGreaterThanOrEqualTo(16);
        }
    }

    private static boolean fp8Arch(String arch) {
        try {
            CudaBackend.checkFp8(arch);
            return true;
        } catch (UnsupportedOperationException e) {
            return false;
        }
    }

    /**
     * The mixed-input GEMM ({@code trtllm.cuda.mixedGemm=true}: INT8 / INT4 prompts through kernels.cu's mixgemm instead
     * of the dequantization scratch and cuBLAS; decode rows stay on the GEMV): INT8's greedy text against transformers
     * float32 (at least 32 of 64 tokens, the bound above), INT4's recorded; both compared with the scratch-path engines'
     * generations; the INT8 prompts generate the same tokens alone and batched (the kernel's rows do not depend on the
     * batch).
     */
    @Test
    void mixedGemmGreedyTextAndBatchInvariance() throws IOException {
        int[] expected = CudaStories15MGpuTests.transformersGreedyIds();
        Path checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint-mixed"));
        System.setProperty("trtllm.cuda.mixedGemm", "true");
        LLM m8;
        LLM m4;
        try {
            m8 = open(checkpoint, Quantization.INT8);
            m4 = open(checkpoint, Quantization.INT4);
        } finally {
            System.clearProperty("trtllm.cuda.mixedGemm");
        }
        try (LLM mixed8 = m8; LLM mixed4 = m4) {
            assertThat(mixed8.backendDescription()).contains("mixed-input GEMM").contains("weight-only INT8");
            assertThat(mixed4.backendDescription()).contains("mixed-input GEMM").contains("weight-only INT4");
            int[] out8 = mixed8.generate("Once upon a time", SamplingParams.greedy(64)).output().tokenIds();
            int[] out4 = mixed4.generate("Once upon a time", SamplingParams.greedy(64)).output().tokenIds();
            int[] scratch8 = int8.generate("Once upon a time", SamplingParams.greedy(64)).output().tokenIds();
            int[] scratch4 = int4.generate("Once upon a time", SamplingParams.greedy(64)).output().tokenIds();
            List<int[]> alone = new ArrayList<>();
            for (String p : CudaStories15MGpuTests.PROMPTS) {
                alone.add(mixed8.generate(p, SamplingParams.greedy(64)).output().tokenIds());
            }
            List<RequestOutput> batched = mixed8.generate(CudaStories15MGpuTests.PROMPTS, SamplingParams.greedy(64));
            int equal = 0;
            for (int i = 0; i < alone.size(); i++) {
                equal += Arrays.equals(alone.get(i), batched.get(i).output().tokenIds()) ? 1 : 0;
            }
            int agree8 = GpuResults.agreement(out8, expected);
            GpuResults.record("stories15M mixed-input GEMM: greedy vs transformers float32 INT8 %d/64, INT4 %d/64; vs the "
                    + "scratch path's engines INT8 %d/64, INT4 %d/64 tokens equal; INT8 alone vs batched %d/%d prompts the same",
                    agree8, GpuResults.agreement(out4, expected), GpuResults.agreement(out8, scratch8),
                    GpuResults.agreement(out4, scratch4), equal, alone.size());
            assertThat(out4).hasSize(64);
            assertThat(agree8).isGreaterThanOrEqualTo(32);
            assertThat(equal).isEqualTo(alone.size());
        }
    }

    @Test
    void int8GreedyTokensAreTheSameAloneAndBatched() {
        List<int[]> alone = new ArrayList<>();
        for (String p : CudaStories15MGpuTests.PROMPTS) {
            alone.add(int8.generate(p, SamplingParams.greedy(64)).output().tokenIds());
        }
        List<RequestOutput> batched = int8.generate(CudaStories15MGpuTests.PROMPTS, SamplingParams.greedy(64));
        int equal = 0;
        for (int i = 0; i < alone.size(); i++) {
            if (Arrays.equals(alone.get(i), batched.get(i).output().tokenIds())) {
                equal++;
            }
        }
        GpuResults.record("stories15M INT8 batch invariance: %d/%d prompts generate the same 64 tokens alone and batched",
                equal, alone.size());
        assertThat(equal).isEqualTo(alone.size());
    }
}
