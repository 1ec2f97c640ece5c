package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PipelineScheduleTests {
    private static final int[] TABLE = {0, 1, 2, 3, 4, 5, 6, 7};

    private static SequenceChunk chunk(int tokens, LogitsMode mode) {
        return new SequenceChunk(new int[tokens], 0, TABLE, mode);
    }

    @Test
    void microBatchesAreWholeSequencesInOrderOfAboutEqualTokens() {
        var a = chunk(20, LogitsMode.NONE);
        var b = chunk(1, LogitsMode.NONE);
        var c = chunk(1, LogitsMode.NONE);
        var d = chunk(18, LogitsMode.NONE);
        var batch = Batch.of(a, b, c, d);
        assertThat(PipelineSchedule.microBatches(batch, 1)).containsExactly(batch);
        assertThat(PipelineSchedule.microBatches(batch, 2)).extracting(Batch::chunks)
                .containsExactly(List.of(a), List.of(b, c, d));
        assertThat(PipelineSchedule.microBatches(batch, 3)).extracting(Batch::chunks)
                .containsExactly(List.of(a), List.of(b, c), List.of(d));
        // More stages than sequences: one sequence each.
        assertThat(PipelineSchedule.microBatches(Batch.of(a, b), 4)).extracting(Batch::chunks)
                .containsExactly(List.of(a), List.of(b));
        // Every cut is non-empty, even when the first sequence holds nearly all tokens.
        var big = chunk(60, LogitsMode.NONE);
        assertThat(PipelineSchedule.microBatches(Batch.of(big, b, c), 3)).extracting(Batch::chunks)
                .containsExactly(List.of(big), List.of(b), List.of(c));
    }

    @Test
    void runPassesEachMicroBatchInOrderAndPutsTheResultsBackInChunkOrder() throws Exception {
        ModelConfig config = ModelConfig.load(Path.of(getClass().getResource("/parity/llama3/config.json").toURI()).getParent());
        var parallelism = new Parallelism(1, 2);
        var batch = Batch.of(chunk(5, LogitsMode.ARGMAX), chunk(1, LogitsMode.ARGMAX), chunk(4, LogitsMode.ARGMAX));
        List<Integer> seen = new ArrayList<>();
        // The last stage answers each micro-batch's chunks with ids that say which chunk they were.
        ForwardResult last = PipelineSchedule.run(parallelism.shard(config, 1), batch, mb -> {
            seen.add(mb.chunks().size());
            var part = ForwardResult.builder(mb.chunks().size());
            for (int c = 0; c < mb.chunks().size(); c++) {
                part.tokenId(c, 10 * mb.chunks().get(c).length());
            }
            return part.build();
        });
        assertThat(seen).containsExactly(1, 2);
        assertThat(last).isNotNull();
        assertThat(last.size()).isEqualTo(3);
        assertThat(new int[] {last.tokenId(0), last.tokenId(1), last.tokenId(2)}).containsExactly(50, 10, 40);
        // The first stage runs the same micro-batches and returns nothing.
        List<Integer> first = new ArrayList<>();
        assertThat(PipelineSchedule.run(parallelism.shard(config, 0), batch, mb -> {
            first.add(mb.tokenCount());
            return null;
        })).isNull();
        assertThat(first).containsExactly(5, 5);
    }
}
