package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.RankShard;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The driver of split models: lockstep, the result of the last rank, and failures that end it without a hang. */
class RankGroupRunnerTests {
    ModelConfig config;
    final Parallelism tp2 = new Parallelism(2, 1);
    final KvCacheSpec spec = new KvCacheSpec(4, 4);
    final Batch batch = Batch.of(new SequenceChunk(new int[] {1, 2}, 0, new int[] {0}, SequenceChunk.LogitsMode.ARGMAX));

    @BeforeEach
    void load() throws URISyntaxException {
        config = ModelConfig.load(Path.of(getClass().getResource("/parity/llama3/config.json").toURI()).getParent());
    }

    /** A rank that all-reduces its rank + 1 and returns the sum as the token; {@code behaviour} may interfere. */
    final class SummingRank implements RankRunner {
        final RankShard shard;
        final Communicator comm;
        final Runnable behaviour;
        boolean closed;

        SummingRank(int rank, Communicator comm, Runnable behaviour) {
            this.shard = tp2.shard(config, rank);
            this.comm = comm;
            this.behaviour = behaviour;
        }

        @Override
        public RankShard shard() {
            return shard;
        }

        @Override
        public @Nullable ForwardResult forward(Batch batch) {
            behaviour.run();
            float[] value = {shard.rank() + 1};
            comm.allReduceSum(value, 0, 1);
            return shard.rank() == 0 ? ForwardResult.builder(1).tokenId(0, (int) value[0]).build() : null;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    RankGroupRunner group(Duration timeout, Runnable rank1) {
        var comms = InProcessCommunicators.create(2, timeout);
        List<SummingRank> ranks = new ArrayList<>();
        ranks.add(new SummingRank(0, comms.get(0), () -> { }));
        ranks.add(new SummingRank(1, comms.get(1), rank1));
        return new RankGroupRunner(config, spec, "cpu", tp2, ranks, comms, timeout);
    }

    @Test
    void ranksRunInLockstepAndTheLastStagesFirstRankAnswers() {
        try (var runner = group(Duration.ofSeconds(10), () -> { })) {
            for (int i = 0; i < 50; i++) {
                assertThat(runner.forward(batch).tokenId(0)).isEqualTo(3);
            }
            assertThat(runner.ranks()).extracting(RankGroupRunner.RankStatus::passes).containsExactly(50L, 50L);
            assertThat(runner.ranks()).extracting(RankGroupRunner.RankStatus::failure).containsOnlyNulls();
            assertThat(runner.description()).contains("TP 2 × PP 1");
            assertThat(runner.failure()).isNull();
        }
    }

    @Test
    void aFailingRankFailsThePassAndTheRunnerWithoutWaitingForTheTimeout() {
        int[] calls = {0};
        try (var runner = group(Duration.ofMinutes(5), () -> {
            if (++calls[0] == 3) {
                throw new IllegalStateException("device 1 lost");
            }
        })) {
            runner.forward(batch);
            runner.forward(batch);
            long start = System.nanoTime();
            assertThatThrownBy(() -> runner.forward(batch)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("device 1 lost");
            assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(10));
            assertThat(runner.failure()).hasMessageContaining("device 1 lost");
            assertThat(runner.ranks().get(1).failure()).contains("device 1 lost");
            // The model is not trusted after a failed pass: later passes are refused at once.
            assertThatThrownBy(() -> runner.forward(batch)).hasMessageContaining("failed earlier");
        }
    }

    @Test
    void aStuckRankIsAbortedAtTheTimeout() throws InterruptedException {
        var release = new CountDownLatch(1);
        try (var runner = group(Duration.ofMillis(500), () -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        })) {
            long start = System.nanoTime();
            assertThatThrownBy(() -> runner.forward(batch)).isInstanceOf(IllegalStateException.class)
                    .hasMessageMatching("(?s).*(did not finish its pass within 500 ms|waited more than 500 ms).*");
            assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(10));
            assertThat(runner.failure()).isNotNull();
        } finally {
            release.countDown();
        }
    }

    @Test
    void badBatchesAreRefusedBeforeAnyRankRuns() {
        try (var runner = group(Duration.ofSeconds(10), () -> { })) {
            var outside = Batch.of(new SequenceChunk(new int[] {1}, 0, new int[] {9}, SequenceChunk.LogitsMode.ARGMAX));
            assertThatThrownBy(() -> runner.forward(outside)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("block id 9 is out of range");
            assertThat(runner.failure()).isNull();
            assertThat(runner.ranks()).extracting(RankGroupRunner.RankStatus::passes).containsExactly(0L, 0L);
        }
    }

    @Test
    void closeClosesEveryRank() {
        var comms = InProcessCommunicators.create(2, Duration.ofSeconds(5));
        var ranks = List.of(new SummingRank(0, comms.get(0), () -> { }), new SummingRank(1, comms.get(1), () -> { }));
        var runner = new RankGroupRunner(config, spec, "cpu", tp2, ranks, comms, Duration.ofSeconds(5));
        runner.close();
        runner.close();
        assertThat(ranks).allMatch(r -> r.closed);
        assertThatThrownBy(() -> new RankGroupRunner(config, spec, "cpu", new Parallelism(2, 2), ranks, comms,
                Duration.ofSeconds(5))).hasMessageContaining("2 rank runners for TP 2 × PP 2");
    }
}
