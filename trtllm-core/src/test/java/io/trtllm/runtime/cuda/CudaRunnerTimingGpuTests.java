package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.engine.EngineCache;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Wall time of the CUDA runner's forward pass alone (no executor, no sampling), for the GPU
 * benchmark notes: decode steps of 1, 5 and 64 sequences at context 64 to 192, returning logits rows
 * or only argmax ids, with CUDA graphs and without, and a 128-token prefill. Records the times; asserts
 * that graph replays choose the same tokens as eager passes. Model: the
 * system property {@code trtllm.gpu.model} (a prebuilt engine directory).
 */
@Tag("gpu")
class CudaRunnerTimingGpuTests {

    @Test
    void forwardPassTimes() {
        String model = System.getProperty("trtllm.gpu.model");
        Assumptions.assumeTrue(model != null, "trtllm.gpu.model is not set");
        try (var lease = EngineCache.openPrebuilt(Path.of(model))) {
            ModelConfig config = lease.config().modelConfig();
            int blocksPerSeq = 8;
            Map<String, int[]> idsByGraphs = new HashMap<>();
            for (boolean graphs : new boolean[] {true, false}) {
                System.setProperty("trtllm.cuda.graphs", Boolean.toString(graphs));
                try (var runner = new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(64 * blocksPerSeq, 32), 0)) {
                    for (int batch : new int[] {1, 5, 64}) {
                        for (LogitsMode mode : new LogitsMode[] {LogitsMode.LAST, LogitsMode.ARGMAX}) {
                            Run run = decode(runner, batch, blocksPerSeq, mode);
                            GpuResults.record("runner decode (CUDA graphs %s), %d sequences, %s: %.1f us per pass",
                                    graphs ? "on" : "off", batch, mode, run.micros());
                            if (mode == LogitsMode.ARGMAX) {
                                idsByGraphs.put(graphs + "/" + batch, run.lastIds());
                            }
                        }
                    }
                    int[] prompt = new int[128];
                    Arrays.fill(prompt, 100);
                    int[] table = {0, 1, 2, 3, 4, 5, 6, 7};
                    Batch prefill = Batch.of(new SequenceChunk(prompt, 0, table, LogitsMode.LAST));
                    for (int i = 0; i < 20; i++) {
                        runner.forward(prefill);
                    }
                    long start = System.nanoTime();
                    for (int i = 0; i < 100; i++) {
                        runner.forward(prefill);
                    }
                    GpuResults.record("runner prefill, 128 tokens: %.1f us per pass", (System.nanoTime() - start) / 100 / 1e3);
                } finally {
                    System.clearProperty("trtllm.cuda.graphs");
                }
            }
            for (int batch : new int[] {1, 5, 64}) {
                int[] g = idsByGraphs.get("true/" + batch);
                int[] e = idsByGraphs.get("false/" + batch);
                GpuResults.record("graph replay vs eager, %d sequences: last step's argmax ids %s", batch,
                        Arrays.equals(g, e) ? "equal" : "DIFFERENT " + Arrays.toString(g) + " vs " + Arrays.toString(e));
                assertThat(g).containsExactly(e);
            }
        }
    }

    record Run(double micros, int[] lastIds) {
    }

    /** 128 decode steps of {@code batch} sequences at positions 64..191, timed after a first round. */
    private static Run decode(CudaModelRunner runner, int batch, int blocksPerSeq, LogitsMode mode) {
        List<int[]> tables = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] t = new int[blocksPerSeq];
            for (int b = 0; b < blocksPerSeq; b++) {
                t[b] = s * blocksPerSeq + b;
            }
            tables.add(t);
        }
        int steps = 128;
        long total = 0;
        ForwardResult out = null;
        for (int round = 0; round < 2; round++) {  // the first round warms up (and captures graphs)
            long start = System.nanoTime();
            for (int step = 0; step < steps; step++) {
                List<SequenceChunk> chunks = new ArrayList<>();
                for (int s = 0; s < batch; s++) {
                    chunks.add(new SequenceChunk(new int[] {(step * 7 + s) % 1000 + 10}, 64 + step, tables.get(s), mode));
                }
                out = runner.forward(new Batch(chunks));
            }
            total = System.nanoTime() - start;
        }
        int[] ids = new int[batch];
        for (int s = 0; s < batch; s++) {
            ids[s] = mode == LogitsMode.ARGMAX ? out.tokenId(s) : -1;
        }
        return new Run(total / (double) steps / 1e3, ids);
    }
}
