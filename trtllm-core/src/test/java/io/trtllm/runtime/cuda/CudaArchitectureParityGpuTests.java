package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cpu.ArchitectureParityTests.fixture;
import static io.trtllm.runtime.cpu.ArchitectureParityTests.scrambledBlocks;
import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.runtime.cpu.ArchitectureParityTests.Reference;
import io.trtllm.sampling.Sampler;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CUDA runner on the tiny random-weight Llama-3, Mistral, Qwen2 and Qwen3 fixtures against
 * Hugging Face transformers (float32): every prompt position's logits, chunked prefill in a mixed
 * batch, the greedy continuation. Needs an NVIDIA GPU (tag {@code gpu}; scripts/gpu-test.sh).
 *
 * <p>Tolerance: the runner rounds weights and GEMM inputs to BF16 (8 significant bits) and
 * accumulates in F32, so the logits differ from float32 by about 2^-8 relative per rounding:
 * ‖cuda − ref‖₂ / ‖ref‖₂ ≤ 2e-2 over all positions, and the top token equal at ≥ 90% of positions.
 * With F16 weights, GEMM inputs and KV cache (11 significant bits, roundings 8× finer; the Mistral
 * fixture's F16 weights go up unrounded): ≤ 5e-3, and never further from the reference than the
 * BF16 runner on the same fixture.
 */
@Tag("gpu")
class CudaArchitectureParityGpuTests {
    static final double REL_L2_TOL = 2e-2;
    static final double REL_L2_TOL_F16 = 5e-3;

    record Diff(double relL2, double maxAbs, int argmaxEqual, int rows) {
    }

    static Diff diff(float[] actual, float[][] expected, int vocab, int firstRow) {
        int rows = expected.length - firstRow;
        assertThat(actual).hasSize(rows * vocab);
        double num = 0;
        double den = 0;
        double maxAbs = 0;
        int argmaxEqual = 0;
        for (int r = 0; r < rows; r++) {
            float[] e = expected[firstRow + r];
            for (int i = 0; i < vocab; i++) {
                double d = actual[r * vocab + i] - e[i];
                assertThat(Double.isFinite(actual[r * vocab + i])).isTrue();
                num += d * d;
                den += (double) e[i] * e[i];
                maxAbs = Math.max(maxAbs, Math.abs(d));
            }
            if (Sampler.argmax(actual, r * vocab, vocab) == Sampler.argmax(e, 0, vocab)) {
                argmaxEqual++;
            }
        }
        return new Diff(Math.sqrt(num / den), maxAbs, argmaxEqual, rows);
    }

    static void assertWithinTolerance(Diff d) {
        assertThat(d.relL2()).isLessThan(REL_L2_TOL);
        assertThat(d.argmaxEqual()).isGreaterThanOrEqualTo((int) Math.ceil(0.9 * d.rows()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "mistral", "qwen2", "qwen3"})
    void logitsAndGreedyTokensMatchTransformersWithinBf16Tolerance(String arch) throws IOException {
        Path dir = fixture(arch);
        Reference ref = Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        int vocab = config.vocabSize();
        int[] prompt = ref.promptIds();
        try (var weights = Checkpoint.open(dir);
             var runner = new CudaModelRunner(config, weights, (available, perToken) -> new KvCacheSpec(32, 4), 0)) {
            // Whole prompt, every row, over a scrambled block table.
            Diff whole = diff(runner.forward(Batch.of(new SequenceChunk(prompt, 0, scrambledBlocks(16), LogitsMode.ALL))).logits(0),
                    ref.logits(), vocab, 0);

            // Chunked prefill: sequence B's first chunk rides along with A, its second runs alone.
            int split = 10;
            int[] tableA = {16, 17, 18, 19, 20, 21, 22, 23};
            int[] tableB = {31, 30, 29, 28, 27, 26, 25, 24};
            ForwardResult out1 = runner.forward(Batch.of(new SequenceChunk(prompt, 0, tableA, LogitsMode.ALL),
                    new SequenceChunk(Arrays.copyOfRange(prompt, 0, split), 0, tableB, LogitsMode.NONE)));
            assertThat(out1.logits(1)).isEmpty();
            Diff batched = diff(out1.logits(0), ref.logits(), vocab, 0);
            float[] rest = runner.forward(Batch.of(new SequenceChunk(Arrays.copyOfRange(prompt, split, prompt.length), split,
                    tableB, LogitsMode.ALL))).logits(0);
            Diff chunked = diff(rest, ref.logits(), vocab, split);

            // Greedy decode.
            int[] table = scrambledBlocks(16);
            float[] logits = runner.forward(Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.LAST))).logits(0);
            int position = prompt.length;
            int[] generated = new int[ref.greedyIds().length];
            for (int i = 0; i < generated.length; i++) {
                generated[i] = Sampler.argmax(logits, 0, vocab);
                logits = runner.forward(Batch.of(new SequenceChunk(new int[] {generated[i]}, position++, table,
                        LogitsMode.LAST))).logits(0);
            }
            int agree = GpuResults.agreement(generated, ref.greedyIds());
            GpuResults.record("parity %s: prompt logits rel L2 %.2e, max |diff| %.3f, top-1 equal %d/%d; batched rel L2 %.2e;"
                            + " chunked rel L2 %.2e; greedy %d/%d tokens equal to transformers", arch, whole.relL2(),
                    whole.maxAbs(), whole.argmaxEqual(), whole.rows(), batched.relL2(), chunked.relL2(), agree,
                    generated.length);
            assertWithinTolerance(whole);
            assertWithinTolerance(batched);
            assertWithinTolerance(chunked);
        }
    }

    @Test
    void closeGivesTheDeviceMemoryBack() throws IOException {
        Path dir = fixture("llama3");
        ModelConfig config = ModelConfig.load(dir);
        // A first runner loads the CUDA context, cuBLAS and the module cache; then measure.
        try (var weights = Checkpoint.open(dir)) {
            new CudaModelRunner(config, weights, (a, p) -> new KvCacheSpec(32, 4), 0).close();
            long before = DeviceMemory.freeBytes();
            var runner = new CudaModelRunner(config, weights, (a, p) -> new KvCacheSpec(4096, 32), 0);
            long during = DeviceMemory.freeBytes();
            runner.forward(Batch.of(new SequenceChunk(new int[] {1, 2, 3}, 0, new int[] {0}, LogitsMode.LAST)));
            runner.close();
            long after = DeviceMemory.freeBytes();
            GpuResults.record("device memory: free %d MiB before, %d MiB with a runner, %d MiB after close",
                    before >> 20, during >> 20, after >> 20);
            assertThat(during).isLessThan(before);
            assertThat(Math.abs(after - before)).isLessThan(8L << 20);
        }
    }

    /** Every prompt position's logits and the greedy continuation of a runner of {@code weightType}. */
    private static Diff promptLogitsAndGreedy(Path dir, DType weightType, int[] greedyAgreement) throws IOException {
        Reference ref = Reference.load(dir);
        ModelConfig config = ModelConfig.load(dir);
        int vocab = config.vocabSize();
        int[] prompt = ref.promptIds();
        try (var weights = Checkpoint.open(dir);
             var runner = new CudaModelRunner(config, weights, (available, perToken) -> new KvCacheSpec(32, 4), 0, weightType,
                     null)) {
            int[] table = scrambledBlocks(16);
            float[] all = runner.forward(Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.ALL))).logits(0);
            Diff d = diff(all, ref.logits(), vocab, 0);
            float[] logits = Arrays.copyOfRange(all, (prompt.length - 1) * vocab, prompt.length * vocab);
            int position = prompt.length;
            int[] generated = new int[ref.greedyIds().length];
            for (int i = 0; i < generated.length; i++) {
                generated[i] = Sampler.argmax(logits, 0, vocab);
                logits = runner.forward(Batch.of(new SequenceChunk(new int[] {generated[i]}, position++, table,
                        LogitsMode.LAST))).logits(0);
            }
            greedyAgreement[0] = GpuResults.agreement(generated, ref.greedyIds());
            return d;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "mistral", "qwen2", "qwen3"})
    void f16LogitsAreAtLeastAsCloseToTransformersAsBf16(String arch) throws IOException {
        Path dir = fixture(arch);
        int[] bf16Greedy = new int[1];
        int[] f16Greedy = new int[1];
        Diff bf16 = promptLogitsAndGreedy(dir, DType.BF16, bf16Greedy);
        Diff f16 = promptLogitsAndGreedy(dir, DType.F16, f16Greedy);
        int tokens = Reference.load(dir).greedyIds().length;
        GpuResults.record("parity %s F16: prompt logits rel L2 %.2e (BF16 %.2e), max |diff| %.4f (BF16 %.3f), top-1 equal"
                        + " %d/%d (BF16 %d); greedy %d/%d tokens equal to transformers (BF16 %d)", arch, f16.relL2(), bf16.relL2(),
                f16.maxAbs(), bf16.maxAbs(), f16.argmaxEqual(), f16.rows(), bf16.argmaxEqual(), f16Greedy[0], tokens, bf16Greedy[0]);
        assertThat(f16.relL2()).isLessThan(REL_L2_TOL_F16).isLessThanOrEqualTo(bf16.relL2());
        assertThat(f16.argmaxEqual()).isGreaterThanOrEqualTo((int) Math.ceil(0.9 * f16.rows()));
    }
}
