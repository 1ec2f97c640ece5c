package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.SchedulerPolicy;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.RankGroupRunner;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.runtime.cpu.CpuRankRunner;
import io.trtllm.sampling.SamplingConfig;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The executor over a model split over CPU ranks: it sees one model, and a soak of batched, preempted,
 * sampled and aborted requests under TP 2 gives every greedy and seeded request the tokens it gets at TP 1
 * and leaks no KV block.
 */
class ExecutorTensorParallelTests {
    static final int MAX_SEQ_LEN = ExecutorTests.MAX_SEQ_LEN;
    Checkpoint weights;
    ModelConfig config;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void open() throws URISyntaxException {
        Path dir = Path.of(getClass().getResource("/parity/llama3/config.json").toURI()).getParent();
        config = ModelConfig.load(dir);
        weights = Checkpoint.open(dir);
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        weights.close();
    }

    Executor executorOver(io.trtllm.runtime.ModelRunner runner, int maxBatch) {
        toClose.add(runner);
        var executor = new Executor(runner, new Executor.Config(
                new SchedulerConfig(SchedulerPolicy.MAX_UTILIZATION, maxBatch, 256, true), 64, MAX_SEQ_LEN, true));
        toClose.add(executor);
        return executor;
    }

    @Test
    void soakUnderTensorParallelTwoGivesTheTokensOfOneRank() throws Exception {
        var spec = new KvCacheSpec(6 * MAX_SEQ_LEN / 16, 16); // room for 6 full sequences: preemption under load
        RankGroupRunner ranks = CpuRankRunner.openGroup(config, weights, new Parallelism(2, 1), spec, DType.F32, 1,
                Duration.ofSeconds(30));
        var split = executorOver(ranks, 12);
        var one = executorOver(new CpuModelRunner(config, weights, spec, 1), 12);
        var rnd = new SplittableRandom(19);
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            int promptLength = 1 + rnd.nextInt(50);
            int maxTokens = 1 + rnd.nextInt(24);
            var sampling = rnd.nextBoolean() ? SamplingConfig.builder().temperature(0).build()
                    : SamplingConfig.builder().temperature(0.8f).topK(20).seed((long) i).build();
            requests.add(new GenerationRequest("r" + i, ExecutorTests.prompt(500 + i, promptLength), maxTokens, sampling));
        }
        List<ExecutorTests.Collector> a = new ArrayList<>();
        List<ExecutorTests.Collector> b = new ArrayList<>();
        for (GenerationRequest r : requests) {
            var ca = new ExecutorTests.Collector();
            var cb = new ExecutorTests.Collector();
            split.submit(r, ca);
            one.submit(r, cb);
            a.add(ca);
            b.add(cb);
        }
        split.abort("r7"); // an abort mid-flight ends only its request
        for (int i = 0; i < requests.size(); i++) {
            ExecutorTests.Result got = a.get(i).await();
            ExecutorTests.Result want = b.get(i).await();
            assertThat(got.error()).as("request %d", i).isNull();
            if (i != 7) {
                assertThat(got.tokens()).as("request %d", i).isEqualTo(want.tokens());
            }
        }
        ExecutorTests.assertNoBlocksHeld(split);
        assertThat(ranks.failure()).isNull();
        assertThat(ranks.ranks()).allMatch(r -> r.passes() > 0 && r.failure() == null);
    }
}
