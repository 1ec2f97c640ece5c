package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.runtime.ModelRunner;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The logits rows a CPU pass hands back: a pass whose every row goes back (a beam step of four rows) gives each
 * chunk a range of one array, with the bits that chunk gets alone and in a pass that copies its rows out (one
 * argmax chunk beside it); {@link ForwardResult#logits} and the in-place range read the same floats; a released
 * result's array is written again by the next such pass, one never released is not; beams that share their prompt's
 * blocks (read together by the attention) get the rows each gets alone.
 */
class CpuModelRunnerRowsTests {

    @ParameterizedTest
    @ValueSource(strings = {"vector", "scalar"})
    void fourDecodeRowsGiveTheRowsEachGetsAloneAndInACopyingPass(String kernelName) {
        Path dir = ArchitectureParityTests.fixture("llama3");
        ModelConfig config = ModelConfig.load(dir);
        int vocab = config.vocabSize();
        int[] prompt = {1, 17, 42, 99, 5};
        int[][] tables = {{0, 1}, {2, 3}, {4, 5}, {6, 7}};
        int[] next = {3, 8, 120, 77};
        try (var weights = Checkpoint.open(dir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(8, 8), DType.F32, 2,
                     ArchitectureParityTests.kernels(kernelName))) {
            for (int[] table : tables) {
                runner.forward(Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.NONE)));
            }
            // Each decode row alone (its slot rewritten with the same key and value each time).
            float[][] alone = new float[4][];
            for (int b = 0; b < 4; b++) {
                alone[b] = runner.forward(Batch.of(decode(next[b], tables[b], LogitsMode.LAST))).logits(0);
                assertThat(alone[b]).hasSize(vocab);
            }
            // All four rows back: ranges of one array, read in place and copied out.
            ForwardResult beams = runner.forward(new Batch(Arrays.asList(decode(next[0], tables[0], LogitsMode.LAST),
                    decode(next[1], tables[1], LogitsMode.LAST), decode(next[2], tables[2], LogitsMode.LAST),
                    decode(next[3], tables[3], LogitsMode.LAST))));
            float[] shared = beams.logitsArray(0);
            for (int b = 0; b < 4; b++) {
                assertThat(beams.logitsArray(b)).as("one array for the pass").isSameAs(shared);
                int offset = beams.logitsOffset(b);
                assertThat(Arrays.copyOfRange(shared, offset, offset + vocab)).as("row %d in place", b).isEqualTo(alone[b]);
                assertThat(beams.logits(b)).as("row %d copied out", b).isEqualTo(alone[b]);
            }
            // The next pass does not touch the rows the result holds.
            float[] before = beams.logitsArray(3).clone();
            runner.forward(Batch.of(decode(next[0], tables[0], LogitsMode.LAST)));
            assertThat(beams.logitsArray(3)).isEqualTo(before);
            // Released, the array is written again by the next pass whose every row goes back, with the same bits.
            beams.release();
            ForwardResult again = runner.forward(new Batch(Arrays.asList(decode(next[3], tables[3], LogitsMode.LAST),
                    decode(next[2], tables[2], LogitsMode.LAST))));
            assertThat(again.logitsArray(0)).isSameAs(shared);
            assertThat(again.logits(0)).isEqualTo(alone[3]);
            assertThat(again.logits(1)).isEqualTo(alone[2]);
            // An argmax chunk beside them: the rows are copied out of the runner's buffer, with the same bits.
            ForwardResult mixed = runner.forward(new Batch(Arrays.asList(decode(next[0], tables[0], LogitsMode.ARGMAX),
                    decode(next[1], tables[1], LogitsMode.LAST), decode(next[2], tables[2], LogitsMode.LAST),
                    decode(next[3], tables[3], LogitsMode.LAST))));
            assertThat(mixed.tokenId(0)).isEqualTo(ModelRunner.argmax(alone[0], 0, vocab));
            for (int b = 1; b < 4; b++) {
                assertThat(mixed.logitsOffset(b)).isZero();
                assertThat(mixed.logits(b)).as("row %d", b).isEqualTo(alone[b]);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"vector 1", "vector 2", "scalar 2"})
    void fourBeamsSharingTheirPromptBlocksGetTheRowsEachGetsAlone(String kernelsAndThreads) {
        // A beam step: four decode rows at one position whose tables share the prompt's full block (copy-on-write
        // gave each its own copy of the partial one). Their attention reads the shared block once for the four;
        // each row must still have the bits it gets alone. One thread attends all heads of the four rows in one
        // task; two split the heads into tasks.
        String[] kt = kernelsAndThreads.split(" ");
        Path dir = ArchitectureParityTests.fixture("llama3");
        ModelConfig config = ModelConfig.load(dir);
        int[] prompt = {1, 17, 42, 99, 5, 23, 64, 31, 7, 12};
        int[][] tables = {{0, 1}, {0, 2}, {0, 3}, {0, 4}};
        int[] next = {3, 8, 120, 77};
        try (var weights = Checkpoint.open(dir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(8, 8), DType.F32, Integer.parseInt(kt[1]),
                     ArchitectureParityTests.kernels(kt[0]))) {
            runner.forward(Batch.of(new SequenceChunk(prompt, 0, tables[0], LogitsMode.NONE)));
            runner.copyBlocks(new int[] {1, 2, 1, 3, 1, 4});
            float[][] alone = new float[4][];
            for (int b = 0; b < 4; b++) {
                alone[b] = runner.forward(Batch.of(new SequenceChunk(new int[] {next[b]}, prompt.length, tables[b],
                        LogitsMode.LAST))).logits(0);
            }
            ForwardResult beams = runner.forward(new Batch(Arrays.asList(
                    new SequenceChunk(new int[] {next[0]}, prompt.length, tables[0], LogitsMode.LAST),
                    new SequenceChunk(new int[] {next[1]}, prompt.length, tables[1], LogitsMode.LAST),
                    new SequenceChunk(new int[] {next[2]}, prompt.length, tables[2], LogitsMode.LAST),
                    new SequenceChunk(new int[] {next[3]}, prompt.length, tables[3], LogitsMode.LAST))));
            for (int b = 0; b < 4; b++) {
                assertThat(beams.logits(b)).as("beam %d", b).isEqualTo(alone[b]);
            }
            assertThat(alone[0]).as("the beams' rows differ (else the test proves little)").isNotEqualTo(alone[1]);
        }
    }

    private static SequenceChunk decode(int token, int[] table, LogitsMode mode) {
        return new SequenceChunk(new int[] {token}, 5, table, mode);
    }
}
