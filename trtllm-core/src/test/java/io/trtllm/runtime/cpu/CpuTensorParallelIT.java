package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.RankGroupRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.Sampler;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A model split over CPU ranks computes what the whole model does: the tiny Llama-3 / Mistral / Qwen2 / Qwen3
 * checkpoints and stories15M under tensor parallelism (2, 4 with replicated KV heads; 3 and 6 for stories15M's
 * six heads), pipeline parallelism and both, against TP 1 on the same machine.
 *
 * <p>Bound: the ranks' o and down products are summed over the ranks after each rank summed its own part, so
 * logits differ from TP 1 in the last bits: |logit − TP 1| ≤ 1e-4 + 1e-4·|TP 1| (as {@link ArchitectureParityTests}
 * allows against transformers). Near-tie rule: greedy tokens must equal TP 1's at every step unless TP 1's two
 * best logits at that step are within {@link #NEAR_TIE} of each other, where either choice is right and the
 * sequences may part; the comparison then stops there (as the CUDA parity tests do).
 */
class CpuTensorParallelIT {
    static final double ABS_TOL = 1e-4;
    static final double REL_TOL = 1e-4;
    static final float NEAR_TIE = 1e-3f;
    static final int STEPS = 64;
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    static Stream<Arguments> tinySplits() {
        List<Arguments> out = new ArrayList<>();
        for (String arch : List.of("llama3", "mistral", "qwen2", "qwen3")) {
            out.add(Arguments.of(arch, new Parallelism(2, 1)));
            out.add(Arguments.of(arch, new Parallelism(4, 1))); // 4 heads over 2 KV heads: each KV head on two ranks
            out.add(Arguments.of(arch, new Parallelism(1, 2)));
            out.add(Arguments.of(arch, new Parallelism(2, 2)));
        }
        return out.stream();
    }

    static RankGroupRunner split(ModelConfig config, Checkpoint weights, Parallelism p, KvCacheSpec spec) {
        return CpuRankRunner.openGroup(config, weights, p, spec, DType.F32, 1, TIMEOUT);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("tinySplits")
    void tinyCheckpointsGiveTheLogitsAndGreedyTokensOfOneRank(String arch, Parallelism p) throws IOException {
        Path dir = ArchitectureParityTests.fixture(arch);
        var ref = ArchitectureParityTests.Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        var spec = new KvCacheSpec(32, 4);
        try (var weights = Checkpoint.open(dir);
             var one = new CpuModelRunner(config, weights, spec, DType.F32, 1, new VectorKernels());
             var ranks = split(config, weights, p, spec)) {
            int[] table = ArchitectureParityTests.scrambledBlocks(32);
            var chunk = new SequenceChunk(ref.promptIds(), 0, table, LogitsMode.ALL);
            float[] expected = one.forward(Batch.of(chunk)).logits(0);
            float[] actual = ranks.forward(Batch.of(chunk)).logits(0);
            assertClose(actual, expected);
            // The split's logits also match transformers', as TP 1's do.
            ArchitectureParityTests.assertClose(actual, ref.logits(), config.vocabSize(), 0);
            assertGreedyAgrees(one, ranks, ref.promptIds(), table, STEPS);
        }
    }

    static Stream<Parallelism> storiesSplits() {
        // TP 2 × PP 2 of stories15M runs through LLM in LlmTensorParallelIT; TP 2 and PP 2 on the tiny checkpoints.
        return Stream.of(new Parallelism(3, 1), new Parallelism(6, 1), new Parallelism(1, 2));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("storiesSplits")
    void stories15MGreedyTokensEqualTransformersAndOneRank(Parallelism p) throws IOException {
        Path dir = BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null));
        ModelConfig config = ModelConfig.load(dir);
        int[] expected;
        try (InputStream in = getClass().getResourceAsStream("/reference/stories15M-greedy.json")) {
            JsonNode reference = new ObjectMapper().readTree(in);
            expected = new int[STEPS];
            for (int i = 0; i < STEPS; i++) {
                expected[i] = reference.get("greedy_ids").get(i).asInt();
            }
        }
        var spec = new KvCacheSpec(8, 16);
        int[] table = {7, 3, 5, 1, 0, 2, 4, 6};
        int[] prompt = {1, 9038, 2501, 263, 931}; // "Once upon a time"
        try (var weights = Checkpoint.open(dir);
             var one = new CpuModelRunner(config, weights, spec, DType.F32, 1);
             var ranks = split(config, weights, p, spec)) {
            int[] tokens = assertGreedyAgrees(one, ranks, prompt, table, STEPS);
            assertThat(tokens).containsExactly(expected);
        }
    }

    static Stream<Parallelism> batchSplits() {
        return Stream.of(new Parallelism(2, 1), new Parallelism(1, 2), new Parallelism(2, 2));
    }

    /**
     * Sequences batched together (prefills of different lengths, then decodes side by side; with stages, cut into
     * micro-batches) get the tokens each gets alone at TP 1.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("batchSplits")
    void batchedSequencesGetTheTokensEachGetsAlone(Parallelism p) throws IOException {
        Path dir = ArchitectureParityTests.fixture("qwen2");
        ModelConfig config = ModelConfig.load(dir);
        var spec = new KvCacheSpec(48, 4);
        int[][] prompts = {{1, 5, 9, 200, 31}, {7}, {3, 3, 3, 3, 3, 3, 3, 3, 3, 17, 90}};
        int steps = 24;
        try (var weights = Checkpoint.open(dir);
             var one = new CpuModelRunner(config, weights, spec, DType.F32, 1);
             var ranks = split(config, weights, p, spec)) {
            int[][] tables = new int[prompts.length][];
            int[][] alone = new int[prompts.length][];
            for (int s = 0; s < prompts.length; s++) {
                tables[s] = new int[16];
                for (int b = 0; b < 16; b++) {
                    tables[s][b] = 47 - (b * prompts.length + s);
                }
                alone[s] = greedy(one, prompts[s], tables[s], steps);
            }
            int[][] together = new int[prompts.length][steps];
            List<SequenceChunk> prefill = new ArrayList<>();
            for (int s = 0; s < prompts.length; s++) {
                prefill.add(new SequenceChunk(prompts[s], 0, tables[s], LogitsMode.ARGMAX));
            }
            var out = ranks.forward(new Batch(prefill));
            for (int i = 0; i < steps; i++) {
                List<SequenceChunk> decode = new ArrayList<>();
                for (int s = 0; s < prompts.length; s++) {
                    together[s][i] = out.tokenId(s);
                    decode.add(new SequenceChunk(new int[] {together[s][i]}, prompts[s].length + i, tables[s],
                            LogitsMode.ARGMAX));
                }
                out = ranks.forward(new Batch(decode));
            }
            for (int s = 0; s < prompts.length; s++) {
                assertThat(together[s]).as("sequence %d", s).containsExactly(alone[s]);
            }
        }
    }

    /** The last-row logits and a seeded draw of a split are TP 1's (the draw sees the same gathered row). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("batchSplits")
    void lastRowLogitsAndSeededDrawsMatchOneRank(Parallelism p) throws IOException {
        Path dir = ArchitectureParityTests.fixture("mistral");
        ModelConfig config = ModelConfig.load(dir);
        var spec = new KvCacheSpec(16, 4);
        int[] prompt = {4, 8, 15, 16, 23, 42};
        try (var weights = Checkpoint.open(dir);
             var one = new CpuModelRunner(config, weights, spec, DType.F32, 1);
             var ranks = split(config, weights, p, spec)) {
            int[] table = ArchitectureParityTests.scrambledBlocks(16);
            // Draws from the gathered rows: the same key and step give TP 1's token (temperature 1, the whole
            // vocabulary; top-k 40 with top-p 0.9).
            var draw = new io.trtllm.sampling.TokenSampling(1f, 0, 1f, 0f, 11, 3);
            var narrow = new io.trtllm.sampling.TokenSampling(0.7f, 40, 0.9f, 0f, 12, 0);
            var last = Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.LAST),
                    new SequenceChunk(new int[] {9, 9}, 0, new int[] {0, 1}, LogitsMode.NONE),
                    new SequenceChunk(prompt, 0, new int[] {10, 11}, LogitsMode.SAMPLE, draw),
                    new SequenceChunk(new int[] {5, 6, 7}, 0, new int[] {12}, LogitsMode.SAMPLE, narrow));
            var expected = one.forward(last);
            var actual = ranks.forward(last);
            assertClose(actual.logits(0), expected.logits(0));
            assertThat(actual.logits(1)).isEmpty();
            assertThat(actual.tokenId(1)).isEqualTo(io.trtllm.runtime.ForwardResult.NO_TOKEN);
            assertThat(actual.tokenId(2)).isEqualTo(expected.tokenId(2)).isNotNegative();
            assertThat(actual.tokenId(3)).isEqualTo(expected.tokenId(3)).isNotNegative();
        }
    }

    /**
     * Greedy decoding of {@code steps} tokens: {@code one} returns its last logits row (the reference, whose
     * near-ties excuse a difference), {@code ranks} its argmax. Returns the tokens of {@code ranks}.
     */
    static int[] assertGreedyAgrees(ModelRunner one, ModelRunner ranks, int[] prompt, int[] table, int steps) {
        int vocab = one.config().vocabSize();
        int[] tokens = new int[steps];
        float[] logits = one.forward(Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.LAST))).logits(0);
        int next = ranks.forward(Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.ARGMAX))).tokenId(0);
        int position = prompt.length;
        for (int i = 0; i < steps; i++) {
            int expected = Sampler.argmax(logits, 0, vocab);
            if (next != expected) {
                float gap = logits[expected] - logits[next];
                assertThat(gap).as("step %d: split chose %d, one rank %d; not a near-tie", i, next, expected)
                        .isLessThanOrEqualTo(NEAR_TIE);
                return Arrays.copyOf(tokens, i);
            }
            tokens[i] = next;
            logits = one.forward(Batch.of(new SequenceChunk(new int[] {next}, position, table, LogitsMode.LAST))).logits(0);
            next = ranks.forward(Batch.of(new SequenceChunk(new int[] {next}, position, table, LogitsMode.ARGMAX))).tokenId(0);
            position++;
        }
        return tokens;
    }

    static int[] greedy(ModelRunner runner, int[] prompt, int[] table, int steps) {
        int[] out = new int[steps];
        int next = runner.forward(Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.ARGMAX))).tokenId(0);
        for (int i = 0; i < steps; i++) {
            out[i] = next;
            next = runner.forward(Batch.of(new SequenceChunk(new int[] {next}, prompt.length + i, table,
                    LogitsMode.ARGMAX))).tokenId(0);
        }
        return out;
    }

    static void assertClose(float[] actual, float[] expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (diff > ABS_TOL + REL_TOL * Math.abs(expected[i])) {
                throw new AssertionError("logit " + i + ": " + actual[i] + " vs one rank's " + expected[i]);
            }
        }
    }
}
