package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.engine.EngineConfig;
import io.trtllm.engine.ModelIdentity;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.hub.HubSettings;
import io.trtllm.model.source.ModelSource;
import io.trtllm.runtime.cuda.GpuResults;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * stories15M on the CUDA backend through {@link LLM}: greedy tokens against the CPU backend on the
 * same engine, against Hugging Face transformers (float32), and alone against batched. The model is
 * the system property {@code trtllm.gpu.model} (scripts/gpu-test.sh passes the BF16 engine it ships),
 * else the builtin {@code stories15M}. Needs an NVIDIA GPU (tag {@code gpu}).
 */
@Tag("gpu")
class CudaStories15MGpuTests {
    static final List<String> PROMPTS = List.of("Once upon a time", "One day, a little", "The cat sat on the",
            "Lily and Ben went to the park", "Tom had a big red ball");
    static LLM cuda;
    static LLM cpu;

    @BeforeAll
    static void load() {
        String model = System.getProperty("trtllm.gpu.model", "stories15M");
        cuda = new LLM(LlmArgs.builder(model).backend("cuda").build());
        cpu = new LLM(LlmArgs.builder(model).backend("cpu").build());
        GpuResults.record("stories15M engine %s: cuda [%s], cpu [%s]", cuda.engineDirectory(), cuda.backendDescription(),
                cpu.backendDescription());
    }

    @AfterAll
    static void close() {
        if (cuda != null) {
            cuda.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    /** CPU logit margin below which BF16 rounding may pick the runner-up (see greedy64TokensEqualTheCpuBackend). */
    private static final float NEAR_TIE = 0.05f;

    /**
     * 64 greedy tokens equal to the CPU backend's on the same BF16 engine, or equal up to a near-tie: a
     * position where the CPU's two best logits are less than {@link #NEAR_TIE} apart and CUDA took the
     * runner-up (after which the two texts are different sequences and are compared no further).
     */
    @Test
    void greedy64TokensEqualTheCpuBackend() {
        // BF16 GEMM inputs move stories15M's logits by up to a few hundredths (the parity fixtures' max |diff|
        // is 0.035-0.044): two tokens closer than this can swap.
        List<String> failures = new ArrayList<>();
        for (String prompt : PROMPTS) {
            int[] gpu = cuda.generate(prompt, SamplingParams.greedy(64)).output().tokenIds();
            int[] ref = cpu.generate(prompt, SamplingParams.greedy(64)).output().tokenIds();
            int agree = GpuResults.agreement(gpu, ref);
            if (agree == 64) {
                GpuResults.record("stories15M greedy vs cpu backend, \"%s\": 64/64 tokens equal", prompt);
                continue;
            }
            // CUDA rounds the GEMM inputs to BF16, the CPU keeps them in F32: where the CPU's two best
            // tokens are a near-tie, either may win. A difference counts only if it is not such a tie.
            int[] promptIds = cpu.tokenizer().encode(prompt, true);
            int[] prefix = java.util.Arrays.copyOf(promptIds, promptIds.length + agree);
            System.arraycopy(ref, 0, prefix, promptIds.length, agree);
            TokenLogprob top = cpu.generate(prefix, SamplingParams.builder().maxTokens(1).temperature(0).logprobs(2).build())
                    .output().logprobs().getFirst();
            float margin = top.topLogprobs()[0] - top.topLogprobs()[1];
            boolean nearTie = margin < NEAR_TIE && gpu[agree] == top.topTokenIds()[1];
            GpuResults.record("stories15M greedy vs cpu backend, \"%s\": %d/64 tokens equal; at token %d the CPU's best two "
                    + "(%d, %d) are %.4f apart in logit and CUDA took %d: %s", prompt, agree, agree, top.topTokenIds()[0],
                    top.topTokenIds()[1], margin, gpu[agree], nearTie ? "a near-tie" : "NOT a near-tie");
            if (!nearTie) {
                failures.add(prompt + ": first difference at token " + agree + ", CPU logit margin " + margin);
            }
        }
        assertThat(failures).isEmpty();
    }

    /**
     * The stories15M checkpoint: the builtin's directory, or, when {@code trtllm.gpu.model} is a CUDA
     * engine (scripts/gpu-test.sh ships one, not the 60 MB float32 checkpoint), a checkpoint of its plain
     * tensors in {@code dir}: its {@code pretrained_config} as config.json beside links to its weights and
     * tokenizer files. Engines built from it hold those tensors (the bundle's: BF16) in the build's dtype.
     */
    static Path checkpoint(Path dir) throws IOException {
        String model = System.getProperty("trtllm.gpu.model", "stories15M");
        ModelSource source = ModelSource.parse(model);
        if (!(source instanceof ModelSource.Engine)) {
            return source.resolve(CacheDirectory.resolve(null), HubSettings.fromEnvironment());
        }
        Path engine = Path.of(model).toAbsolutePath();
        Files.createDirectories(dir);
        Files.write(dir.resolve("config.json"), new ObjectMapper().writeValueAsBytes(EngineConfig.read(engine).pretrainedConfig()));
        Files.createSymbolicLink(dir.resolve(EngineConfig.WEIGHTS_FILE), engine.resolve(EngineConfig.WEIGHTS_FILE));
        for (String name : ModelIdentity.SIDE_FILES) {
            if (!name.equals("config.json") && Files.isRegularFile(engine.resolve(name))) {
                Files.createSymbolicLink(dir.resolve(name), engine.resolve(name));
            }
        }
        return dir;
    }

    static int[] transformersGreedyIds() throws IOException {
        JsonNode reference;
        try (InputStream in = CudaStories15MGpuTests.class.getResourceAsStream("/reference/stories15M-greedy.json")) {
            reference = new ObjectMapper().readTree(in);
        }
        int[] expected = new int[64];
        for (int i = 0; i < 64; i++) {
            expected[i] = reference.get("greedy_ids").get(i).asInt();
        }
        return expected;
    }

    @Test
    void greedy64TokensEqualTransformersFloat32() throws IOException {
        int[] expected = transformersGreedyIds();
        RequestOutput out = cuda.generate("Once upon a time", SamplingParams.greedy(64));
        int agree = GpuResults.agreement(out.output().tokenIds(), expected);
        GpuResults.record("stories15M greedy vs transformers float32 \"Once upon a time\": %d/64 tokens equal; text: %s",
                agree, out.output().text().replace('\n', ' '));
        assertThat(out.output().tokenIds()).containsExactly(expected);
    }

    @Test
    void greedyTokensAreTheSameAloneAndBatched() {
        List<int[]> alone = new ArrayList<>();
        for (String p : PROMPTS) {
            alone.add(cuda.generate(p, SamplingParams.greedy(64)).output().tokenIds());
        }
        List<RequestOutput> batched = cuda.generate(PROMPTS, SamplingParams.greedy(64));
        int equal = 0;
        for (int i = 0; i < PROMPTS.size(); i++) {
            if (Arrays.equals(alone.get(i), batched.get(i).output().tokenIds())) {
                equal++;
            }
        }
        GpuResults.record("stories15M batch invariance: %d/%d prompts generate the same 64 tokens alone and batched",
                equal, PROMPTS.size());
        assertThat(equal).isEqualTo(PROMPTS.size());
    }

    /**
     * dtype float16: an engine built here with F16 weights and this GPU's kernels (the weights of the
     * bundle's BF16 engine, exact in F16), run with F16 GEMM inputs and KV cache; its greedy tokens
     * equal transformers' float32 ones, as the BF16 runner's do.
     */
    @Test
    void float16Greedy64TokensEqualTransformersFloat32(@TempDir Path tmp) throws IOException {
        int[] expected = transformersGreedyIds();
        Path checkpoint = checkpoint(tmp.resolve("checkpoint"));
        LlmArgs args = LlmArgs.builder(checkpoint.toString()).backend("cuda").dtype("float16")
                .buildCacheConfig(new BuildCacheConfig(tmp.resolve("cache"), 4, 1L << 30)).build();
        try (LLM f16 = new LLM(args)) {
            RequestOutput out = f16.generate("Once upon a time", SamplingParams.greedy(64));
            int agree = GpuResults.agreement(out.output().tokenIds(), expected);
            GpuResults.record("stories15M float16 [%s], engine %s: greedy vs transformers float32: %d/64 tokens equal",
                    f16.backendDescription(), f16.engineLoad().kind(), agree);
            assertThat(f16.buildConfig().dtypeName()).isEqualTo("float16");
            assertThat(f16.backendDescription()).contains("F16 weights").contains("kernels from the engine's sm_");
            assertThat(out.output().tokenIds()).containsExactly(expected);
        }
    }
}
