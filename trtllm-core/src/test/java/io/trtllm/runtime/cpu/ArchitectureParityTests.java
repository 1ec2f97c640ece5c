package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.Sampler;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Per-position logits and greedy continuations of tiny random-weight Llama-3, Mistral, Qwen2 and
 * Qwen3 checkpoints against Hugging Face transformers (float32, eager attention). The checkpoints
 * and reference.json files come from {@code scripts/reference/make_parity_fixtures.py}.
 *
 * <p>Tolerance: |logit − reference| ≤ 1e-4 + 1e-4·|reference| (observed: about 3e-6). F32 sums in a different order differ
 * in the last bits; the logits here are O(1–10), so this is about five significant digits.
 */
public class ArchitectureParityTests {
    static final double ABS_TOL = 1e-4;
    static final double REL_TOL = 1e-4;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A fixture's prompt, Hugging Face's logits at every prompt position, and its greedy continuation. */
    public record Reference(int[] promptIds, float[][] logits, int[] greedyIds) {
        public static Reference load(Path dir) throws IOException {
            JsonNode root = JSON.readTree(dir.resolve("reference.json").toFile());
            int[] prompt = ints(root.get("prompt_ids"));
            int[] greedy = ints(root.get("greedy_ids"));
            JsonNode rows = root.get("logits");
            float[][] logits = new float[rows.size()][];
            for (int r = 0; r < rows.size(); r++) {
                JsonNode row = rows.get(r);
                logits[r] = new float[row.size()];
                for (int i = 0; i < row.size(); i++) {
                    logits[r][i] = (float) row.get(i).asDouble();
                }
            }
            return new Reference(prompt, logits, greedy);
        }

        private static int[] ints(JsonNode node) {
            int[] out = new int[node.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = node.get(i).asInt();
            }
            return out;
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String arch : List.of("llama3", "mistral", "qwen2", "qwen3")) {
            out.add(Arguments.of(arch, "vector"));
            out.add(Arguments.of(arch, "scalar"));
        }
        return out.stream();
    }

    /** The directory of the parity fixture of {@code arch} (llama3, mistral, qwen2, qwen3). */
    public static Path fixture(String arch) {
        try {
            return Path.of(ArchitectureParityTests.class.getResource("/parity/" + arch + "/config.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Kernels kernels(String name) {
        return name.equals("vector") ? new VectorKernels() : new ScalarKernels();
    }

    /** A block table that is not the identity, so that paging bugs show. */
    public static int[] scrambledBlocks(int numBlocks) {
        int[] table = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            table[i] = (i * 5 + 3) % numBlocks;
        }
        return table;
    }

    @ParameterizedTest(name = "{0} ({1})")
    @MethodSource("cases")
    void promptLogitsMatchTransformers(String arch, String kernelName) throws IOException {
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        try (var weights = Checkpoint.open(dir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(16, 4), DType.F32, 2, kernels(kernelName))) {
            float[] logits = runner.forward(Batch.of(new SequenceChunk(ref.promptIds(), 0, scrambledBlocks(16),
                    LogitsMode.ALL))).logits(0);
            assertClose(logits, ref.logits(), config.vocabSize(), 0);
        }
    }

    @ParameterizedTest(name = "{0} ({1})")
    @MethodSource("cases")
    void chunkedPrefillAndBatchingGiveTheSameLogits(String arch, String kernelName) throws IOException {
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        int[] prompt = ref.promptIds();
        int split = 10;
        int[] first = java.util.Arrays.copyOfRange(prompt, 0, split);
        int[] rest = java.util.Arrays.copyOfRange(prompt, split, prompt.length);
        try (var weights = Checkpoint.open(dir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(32, 4), DType.F32, 2, kernels(kernelName))) {
            int[] tableA = {0, 1, 2, 3, 4, 5, 6, 7};
            int[] tableB = {31, 30, 29, 28, 27, 26, 25, 24};
            // Sequence A in one chunk; sequence B's first chunk rides along in the same batch.
            ForwardResult out1 = runner.forward(Batch.of(
                    new SequenceChunk(prompt, 0, tableA, LogitsMode.ALL),
                    new SequenceChunk(first, 0, tableB, LogitsMode.NONE)));
            assertClose(out1.logits(0), ref.logits(), config.vocabSize(), 0);
            assertThat(out1.logits(1)).isEmpty();
            // B's second chunk alone, attending to what the first chunk cached.
            ForwardResult out2 = runner.forward(Batch.of(new SequenceChunk(rest, split, tableB, LogitsMode.ALL)));
            assertClose(out2.logits(0), ref.logits(), config.vocabSize(), split);
        }
    }

    @ParameterizedTest(name = "{0} ({1})")
    @MethodSource("cases")
    void greedyContinuationMatchesTransformers(String arch, String kernelName) throws IOException {
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        int vocab = config.vocabSize();
        try (var weights = Checkpoint.open(dir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(16, 4), DType.F32, 2, kernels(kernelName))) {
            int[] table = scrambledBlocks(16);
            float[] logits = runner.forward(Batch.of(new SequenceChunk(ref.promptIds(), 0, table, LogitsMode.LAST))).logits(0);
            int position = ref.promptIds().length;
            int[] generated = new int[ref.greedyIds().length];
            for (int i = 0; i < generated.length; i++) {
                generated[i] = Sampler.argmax(logits, 0, vocab);
                logits = runner.forward(Batch.of(new SequenceChunk(new int[] {generated[i]}, position++, table,
                        LogitsMode.LAST))).logits(0);
            }
            assertThat(generated).containsExactly(ref.greedyIds());
        }
    }

    static void assertClose(float[] actual, float[][] expected, int vocab, int firstRow) {
        int rows = expected.length - firstRow;
        assertThat(actual).as("logits rows %d..%d", firstRow, expected.length - 1).hasSize(rows * vocab);
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < vocab; i++) {
                double e = expected[firstRow + r][i];
                double diff = Math.abs(actual[r * vocab + i] - e);
                worst = Math.max(worst, diff);
                if (diff > ABS_TOL + REL_TOL * Math.abs(e)) {
                    throw new AssertionError("logit of token " + i + " at prompt position " + (firstRow + r) + ": "
                            + actual[r * vocab + i] + " vs reference " + e + " (|diff| " + diff + ")");
                }
            }
        }
        assertThat(worst).isLessThan(ABS_TOL + REL_TOL * 100);
    }
}
