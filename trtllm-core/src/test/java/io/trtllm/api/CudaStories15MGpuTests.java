package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.runtime.cuda.GpuResults;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

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

    @Test
    void greedy64TokensEqualTheCpuBackend() {
        List<String> failures = new ArrayList<>();
        for (String prompt : PROMPTS) {
            int[] gpu = cuda.generate(prompt, SamplingParams.greedy(64)).output().tokenIds();
            int[] ref = cpu.generate(prompt, SamplingParams.greedy(64)).output().tokenIds();
            int agree = GpuResults.agreement(gpu, ref);
            GpuResults.record("stories15M greedy vs cpu backend, \"%s\": %d/64 tokens equal", prompt, agree);
            if (agree < 64) {
                failures.add(prompt + ": first difference at token " + agree);
            }
        }
        assertThat(failures).isEmpty();
    }

    @Test
    void greedy64TokensEqualTransformersFloat32() throws IOException {
        JsonNode reference;
        try (InputStream in = getClass().getResourceAsStream("/reference/stories15M-greedy.json")) {
            reference = new ObjectMapper().readTree(in);
        }
        int[] expected = new int[64];
        for (int i = 0; i < 64; i++) {
            expected[i] = reference.get("greedy_ids").get(i).asInt();
        }
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
}
