package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.engine.BuildProgress;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineLease;
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
 * Weight-only INT8 and INT4 engines of stories15M against its F32 engine: greedy text and logits.
 * The measured agreement and logit errors are logged (one INFO line per prompt and quantization):
 * docs/PERFORMANCE.md quotes them.
 */
class QuantizedStories15MIT {
    private static final Logger LOG = LoggerFactory.getLogger(QuantizedStories15MIT.class);
    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Tom and Anna went to the park");
    private static final int TOKENS = 64;
    private static final Map<Quantization, LLM> LLMS = new EnumMap<>(Quantization.class);

    @BeforeAll
    static void load() {
        // FP8 runs on the CUDA backend only (CudaQuantizedStories15MGpuTests).
        for (Quantization q : List.of(Quantization.NONE, Quantization.INT8, Quantization.INT4)) {
            LLMS.put(q, new LLM(LlmArgs.builder("stories15M").quantization(q).build()));
        }
    }

    @AfterAll
    static void close() {
        LLMS.values().forEach(LLM::close);
    }

    private static int[] greedy(Quantization q, String prompt) {
        return LLMS.get(q).generate(prompt, SamplingParams.builder().maxTokens(TOKENS).temperature(0).ignoreEos(true).build())
                .output().tokenIds();
    }

    private static int agreement(int[] a, int[] b) {
        int n = 0;
        while (n < Math.min(a.length, b.length) && a[n] == b[n]) {
            n++;
        }
        return n;
    }

    @Test
    void int8GreedyTextEqualsF32ForAtLeast32Tokens() {
        String prompt = PROMPTS.getFirst();
        int[] f32 = greedy(Quantization.NONE, prompt);
        int[] int8 = greedy(Quantization.INT8, prompt);
        assertThat(agreement(f32, int8)).as("tokens of INT8 equal to F32").isGreaterThanOrEqualTo(32);
        String f32Text = LLMS.get(Quantization.NONE).tokenizer().decode(java.util.Arrays.copyOf(f32, 32), true);
        String int8Text = LLMS.get(Quantization.INT8).tokenizer().decode(java.util.Arrays.copyOf(int8, 32), true);
        assertThat(int8Text).isEqualTo(f32Text).startsWith(", there was a little girl named Lily.");
        assertThat(LLMS.get(Quantization.INT8).buildConfig().quantization()).isEqualTo(Quantization.INT8);
        assertThat(LLMS.get(Quantization.INT8).engineDirectory()).isNotEqualTo(LLMS.get(Quantization.NONE).engineDirectory());
    }

    /**
     * Logits of every position of the F32 greedy sequence (teacher-forced, so all three see the same
     * tokens), quantized vs F32; bounds well above what was measured, to catch a broken kernel.
     */
    @Test
    void quantizedLogitsStayCloseToF32() {
        for (String prompt : PROMPTS) {
            int promptLength = LLMS.get(Quantization.NONE).tokenizer().encode(prompt, true).length;
            int[] generated = greedy(Quantization.NONE, prompt);
            int[] sequence = new int[promptLength + generated.length - 1];
            System.arraycopy(LLMS.get(Quantization.NONE).tokenizer().encode(prompt, true), 0, sequence, 0, promptLength);
            System.arraycopy(generated, 0, sequence, promptLength, generated.length - 1);
            float[] reference = logits(Quantization.NONE, sequence);
            for (Quantization q : List.of(Quantization.INT8, Quantization.INT4)) {
                LogitError error = LogitError.of(reference, logits(q, sequence));
                double max = error.max();
                double mean = error.mean();
                double relative = error.relative();
                int agreement = agreement(generated, greedy(q, prompt));
                LOG.info(String.format(Locale.ROOT, "%s vs F32, prompt \"%s\": greedy agreement %d of %d tokens; logits over %d "
                        + "positions: max |error| %.4f, mean |error| %.5f (%.2f%% of the mean |logit| %.3f)", q.id(), prompt,
                        agreement, TOKENS, sequence.length, max, mean, 100 * relative, mean / relative));
                assertThat(mean).as("%s mean logit error, prompt %s", q, prompt)
                        .isLessThan(q == Quantization.INT8 ? 0.5 : 2);
                assertThat(max).as("%s max logit error, prompt %s", q, prompt).isLessThan(q == Quantization.INT8 ? 3 : 10);
            }
        }
    }

    /** Elementwise |actual − expected|: largest, mean, and summed relative to Σ|expected|. */
    record LogitError(double max, double mean, double relative) {
        static LogitError of(float[] expected, float[] actual) {
            double max = 0;
            double sum = 0;
            double magnitude = 0;
            for (int i = 0; i < expected.length; i++) {
                double e = Math.abs(actual[i] - expected[i]);
                max = Math.max(max, e);
                sum += e;
                magnitude += Math.abs(expected[i]);
            }
            return new LogitError(max, sum / expected.length, sum / magnitude);
        }
    }

    /** The logits of every position of {@code tokens}, on the engine the {@code q} LLM runs (shared, not rebuilt). */
    private static float[] logits(Quantization q, int[] tokens) {
        LLM llm = LLMS.get(q);
        var cache = EngineCache.of(BuildCacheConfig.defaults(), null);
        try (EngineLease lease = cache.acquire(llm.modelDirectory(), llm.buildConfig(), Device.cpu(), false,
                BuildProgress.NONE);
             var runner = new CpuModelRunner(llm.modelConfig(), lease.weights(), new KvCacheSpec(4, 64), 1)) {
            assertThat(lease.directory()).isEqualTo(llm.engineDirectory());
            float[] all = runner.forward(Batch.of(new SequenceChunk(tokens, 0, new int[] {0, 1, 2, 3},
                    SequenceChunk.LogitsMode.ALL))).logits(0);
            assertThat(all).hasSize(tokens.length * llm.modelConfig().vocabSize());
            return all;
        }
    }
}
