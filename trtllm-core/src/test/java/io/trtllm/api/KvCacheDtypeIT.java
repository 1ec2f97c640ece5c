package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.engine.BuildProgress;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineLease;
import io.trtllm.model.DType;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A 16-bit KV cache ({@code kv_cache_config.dtype} bfloat16 / float16) on the CPU backend against the
 * float32 one on stories15M: greedy text, logits, and batch invariance. The measured agreement and
 * logit errors are logged (one INFO line per prompt and type): docs/PERFORMANCE.md quotes them.
 */
class KvCacheDtypeIT {
    private static final Logger LOG = LoggerFactory.getLogger(KvCacheDtypeIT.class);
    private static final List<String> PROMPTS = QuantizedStories15MIT.PROMPTS;
    private static final int TOKENS = 64;
    private static final Map<DType, LLM> LLMS = new EnumMap<>(DType.class);

    @BeforeAll
    static void load() {
        for (DType kv : List.of(DType.F32, DType.BF16, DType.F16)) {
            var config = new KvCacheConfig(4096, 0.25, true, 32).withDtype(kv.name());
            LLMS.put(kv, new LLM(LlmArgs.builder("stories15M").backend("cpu").kvCacheConfig(config).build()));
        }
    }

    @AfterAll
    static void close() {
        LLMS.values().forEach(LLM::close);
    }

    private static SamplingParams greedy() {
        return SamplingParams.builder().maxTokens(TOKENS).temperature(0).ignoreEos(true).build();
    }

    private static int agreement(int[] a, int[] b) {
        int n = 0;
        while (n < Math.min(a.length, b.length) && a[n] == b[n]) {
            n++;
        }
        return n;
    }

    @Test
    void sixteenBitCachesShareTheEngineAndSayWhatTheyHold() {
        assertThat(LLMS.get(DType.BF16).engineDirectory()).isEqualTo(LLMS.get(DType.F32).engineDirectory());
        assertThat(LLMS.get(DType.BF16).backendDescription()).contains("KV cache BF16");
        assertThat(LLMS.get(DType.F16).backendDescription()).contains("KV cache F16");
        assertThat(LLMS.get(DType.F32).backendDescription()).doesNotContain("KV cache");
    }

    /**
     * Logits of every position of the F32 greedy sequence (teacher-forced), 16-bit cache vs F32, and the
     * greedy agreement; bounds well above what was measured, to catch a broken conversion.
     */
    @Test
    void sixteenBitCachesStayCloseToF32() {
        LLM reference = LLMS.get(DType.F32);
        for (String prompt : PROMPTS) {
            int[] promptIds = reference.tokenizer().encode(prompt, true);
            int[] generated = reference.generate(prompt, greedy()).output().tokenIds();
            int[] sequence = new int[promptIds.length + generated.length - 1];
            System.arraycopy(promptIds, 0, sequence, 0, promptIds.length);
            System.arraycopy(generated, 0, sequence, promptIds.length, generated.length - 1);
            float[] expected = logits(DType.F32, sequence);
            for (DType kv : List.of(DType.BF16, DType.F16)) {
                var error = QuantizedStories15MIT.LogitError.of(expected, logits(kv, sequence));
                double max = error.max();
                int agreement = agreement(generated, LLMS.get(kv).generate(prompt, greedy()).output().tokenIds());
                LOG.info(String.format(Locale.ROOT, "KV cache %s vs F32, prompt \"%s\": greedy agreement %d of %d tokens; logits "
                        + "over %d positions: max |error| %.4f, mean |error| %.5f (%.3f%% of the mean |logit|)", kv, prompt,
                        agreement, TOKENS, sequence.length, max, error.mean(), 100 * error.relative()));
                assertThat(error.relative()).as("%s relative logit error, prompt %s", kv, prompt)
                        .isLessThan(kv == DType.BF16 ? 0.01 : 0.002);
                assertThat(max).as("%s max logit error, prompt %s", kv, prompt).isLessThan(kv == DType.BF16 ? 0.5 : 0.1);
                if (prompt.equals(PROMPTS.getFirst())) {
                    assertThat(agreement).as("%s greedy tokens equal to F32, prompt %s", kv, prompt).isGreaterThanOrEqualTo(32);
                }
            }
        }
    }

    /** A 16-bit cache stores each value's rounding, whatever the batch: greedy outputs alone and batched are equal. */
    @Test
    void sixteenBitCacheIsBatchInvariant() {
        LLM llm = LLMS.get(DType.BF16);
        List<String> prompts = List.of("Once upon a time", "The little dog", "Tom and Anna went to the park", "One day, a cat",
                "Lily liked to", "The sun was");
        var params = SamplingParams.builder().maxTokens(32).temperature(0).ignoreEos(true).build();
        List<RequestOutput> batched = llm.generate(prompts, params);
        for (int i = 0; i < prompts.size(); i++) {
            assertThat(batched.get(i).output().tokenIds()).as("prompt %s", prompts.get(i))
                    .isEqualTo(llm.generate(prompts.get(i), params).output().tokenIds());
        }
    }

    @Test
    void unknownDtypeNamesTheKey() {
        assertThatThrownBy(() -> KvCacheConfig.defaults().withDtype("e5m2"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("kv_cache_config.dtype 'e5m2'").hasMessageContaining("float32, float16, bfloat16, fp8");
        // Integer types are no KV cache element type: Dtype names floating-point types only.
        assertThatThrownBy(() -> KvCacheConfig.defaults().withDtype("int8"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("kv_cache_config.dtype 'int8' is not one of [auto, float32, float16, bfloat16, fp8]");
    }

    /** The logits of every position of {@code tokens} with a {@code kv} cache, on the shared engine. */
    private static float[] logits(DType kv, int[] tokens) {
        LLM llm = LLMS.get(kv);
        var cache = EngineCache.of(BuildCacheConfig.defaults(), null);
        try (EngineLease lease = cache.acquire(llm.modelDirectory(), llm.buildConfig(), Device.cpu(), false,
                BuildProgress.NONE);
             var runner = new CpuModelRunner(llm.modelConfig(), lease.weights(), new KvCacheSpec(4, 64), kv, 1)) {
            return runner.forward(Batch.of(new SequenceChunk(tokens, 0, new int[] {0, 1, 2, 3},
                    SequenceChunk.LogitsMode.ALL))).logits(0);
        }
    }
}
