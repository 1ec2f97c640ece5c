package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.TokenSampler;
import io.trtllm.sampling.TokenSampling;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The CPU runner's {@link LogitsMode#SAMPLE}: the token the host's reference draws from the logits row
 * that {@link LogitsMode#LAST} returns for the same inputs, as one id.
 */
class CpuModelRunnerDrawTests {

    @Test
    void aSampleChunkReturnsTheReferencesDrawFromItsRow() {
        Path dir = ArchitectureParityTests.fixture("llama3");
        ModelConfig config = ModelConfig.load(dir);
        try (var weights = Checkpoint.open(dir);
             var runner = new CpuModelRunner(config, weights, new KvCacheSpec(4, 16), 1)) {
            int[] prompt = {1, 17, 42, 99, 5};
            int vocab = config.vocabSize();
            float[] row = runner.forward(Batch.of(new SequenceChunk(prompt, 0, new int[] {0}, LogitsMode.LAST))).logits(0);
            assertThat(row).hasSize(vocab);
            var reference = new TokenSampler();
            Set<Integer> drawn = new HashSet<>();
            for (int step = 0; step < 40; step++) {
                var sampling = new TokenSampling(1.5f, 50, 0.95f, 0.01f, 123L, step);
                ForwardResult out = runner.forward(Batch.of(new SequenceChunk(prompt, 0, new int[] {1}, LogitsMode.SAMPLE, sampling)));
                assertThat(out.logits(0)).as("no row comes back").isEmpty();
                int token = out.tokenId(0);
                assertThat(token).as("step %d", step).isEqualTo(reference.sample(row, 0, vocab, sampling));
                drawn.add(token);
            }
            assertThat(drawn).as("40 draws at temperature 1.5 from a random model").hasSizeGreaterThan(1);
        }
    }
}
