package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * {@link WarmUp}: which shapes it runs (each a valid batch of the runner's cache, batched rows on blocks of
 * their own) and when it stops: timings that agree with no JIT compiling, or the budget. A test clock
 * advances by what the fake runner says each pass costs, so the timings are exact.
 */
class WarmUpTests {
    private static final long MS = 1_000_000L;

    /** A runner that records each batch and advances the clock by {@code cost(pass index)} nanoseconds per token. */
    private static final class TimedRunner implements ModelRunner {
        private final ModelConfig config;
        private final KvCacheSpec kv;
        private final LongUnaryOperator costPerToken;
        final List<Batch> batches = new ArrayList<>();
        long now;

        TimedRunner(ModelConfig config, KvCacheSpec kv, LongUnaryOperator costPerToken) {
            this.config = config;
            this.kv = kv;
            this.costPerToken = costPerToken;
        }

        @Override
        public ModelConfig config() {
            return config;
        }

        @Override
        public KvCacheSpec kvCache() {
            return kv;
        }

        @Override
        public String backend() {
            return "timed";
        }

        @Override
        public ForwardResult forward(Batch batch) {
            batch.checkAgainst(config, kv);
            now += costPerToken.applyAsLong(batches.size()) * batch.tokenCount();
            batches.add(batch);
            return ForwardResult.builder(batch.chunks().size()).build();
        }

        @Override
        public void close() {
        }
    }

    private static ModelConfig config() throws URISyntaxException {
        return ModelConfig.load(Path.of(WarmUpTests.class.getResource("/parity/llama3/config.json").toURI()).getParent());
    }

    @Test
    void steadyRunnerSettlesAfterTheShortRoundsAndThreeAgreeingOnes() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        var result = new WarmUp(runner, 256, 32, 8192, () -> runner.now, () -> 0).run(Duration.ofSeconds(60));

        assertThat(result.settled()).isTrue();
        assertThat(result.rounds()).isEqualTo(WarmUp.FIRST_ROUNDS + WarmUp.MIN_ROUNDS);
        assertThat(result.prefillTokens()).isEqualTo(WarmUp.PREFILL_TOKENS);
        assertThat(result.prefill()).isEqualTo(Duration.ofMillis(WarmUp.PREFILL_TOKENS));
        assertThat(result.decode()).isEqualTo(Duration.ofMillis(1));
        assertThat(result.batchRows()).isEqualTo(WarmUp.BATCH_ROWS);
        assertThat(result.batch()).isEqualTo(Duration.ofMillis(WarmUp.BATCH_ROWS));
    }

    @Test
    void runsAShortThenAFullPrefillSingleDecodesAndBatchesOnBlocksOfTheirOwn() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        new WarmUp(runner, 256, 32, 8192, () -> runner.now, () -> 0).run(Duration.ofSeconds(60));

        int perRound = 1 + 3 * WarmUp.DECODE_STEPS;
        assertThat(runner.batches.get(0).tokenCount()).isEqualTo(WarmUp.FIRST_PREFILL_TOKENS);
        assertThat(runner.batches.get(WarmUp.FIRST_ROUNDS * perRound).tokenCount()).isEqualTo(WarmUp.PREFILL_TOKENS);
        Batch single = runner.batches.get(1);
        assertThat(single.chunks()).hasSize(1);
        assertThat(single.chunks().get(0).logits()).isEqualTo(SequenceChunk.LogitsMode.ARGMAX);
        assertThat(runner.batches.get(1 + WarmUp.DECODE_STEPS).chunks()).hasSize(WarmUp.SMALL_BATCH_ROWS);
        Batch batched = runner.batches.get(1 + 2 * WarmUp.DECODE_STEPS);
        assertThat(batched.chunks()).hasSize(WarmUp.BATCH_ROWS);
        assertThat(batched.chunks()).extracting(SequenceChunk::logits)
                .contains(SequenceChunk.LogitsMode.ARGMAX, SequenceChunk.LogitsMode.LAST);
        var blocks = new HashSet<Integer>();
        int used = 0;
        for (SequenceChunk c : batched.chunks()) {
            for (int b : c.blockTable()) {
                blocks.add(b);
                used++;
            }
        }
        assertThat(blocks).hasSize(used); // no block shared by two rows
    }

    @Test
    void shapesAreThePassesThatRanEachOnceInOrder() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        var result = new WarmUp(runner, 256, 32, 8192, () -> runner.now, () -> 0).run(Duration.ofSeconds(60));

        assertThat(result.shapes()).containsExactly(new WarmUp.Shape(1, WarmUp.FIRST_PREFILL_TOKENS), new WarmUp.Shape(1, 1),
                new WarmUp.Shape(WarmUp.SMALL_BATCH_ROWS, WarmUp.SMALL_BATCH_ROWS),
                new WarmUp.Shape(WarmUp.BATCH_ROWS, WarmUp.BATCH_ROWS), new WarmUp.Shape(1, WarmUp.PREFILL_TOKENS));
        var seen = new java.util.LinkedHashSet<WarmUp.Shape>();
        runner.batches.forEach(b -> seen.add(new WarmUp.Shape(b.chunks().size(), b.tokenCount())));
        assertThat(result.shapes()).containsExactlyElementsOf(seen);
        assertThat(result.shapes().getFirst().prefill()).isTrue();
        assertThat(result.shapes().get(2).prefill()).isFalse();
        assertThat(result.shapes().get(2)).hasToString("decode " + WarmUp.SMALL_BATCH_ROWS);
    }

    @Test
    void noSmallBatchWhereMaxBatchSizeIsNoLarger() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        var result = new WarmUp(runner, 256, WarmUp.SMALL_BATCH_ROWS, 8192, () -> runner.now, () -> 0).run(Duration.ofSeconds(60));
        assertThat(result.shapes()).extracting(WarmUp.Shape::sequences).containsOnly(1, WarmUp.SMALL_BATCH_ROWS);
    }

    @Test
    void batchIsCutToMaxBatchSizeAndToTheBlocksTheCacheHas() throws Exception {
        var small = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        assertThat(new WarmUp(small, 256, 3, 8192, () -> small.now, () -> 0).run(Duration.ofSeconds(60)).batchRows()).isEqualTo(3);

        // One sequence of max_seq_len (16 blocks) and room for 2 more rows of one block each.
        var tight = new TimedRunner(config(), new KvCacheSpec(18, 16), pass -> MS);
        var result = new WarmUp(tight, 256, 32, 8192, () -> tight.now, () -> 0).run(Duration.ofSeconds(60));
        assertThat(result.batchRows()).isEqualTo(3);
        assertThat(result.settled()).isTrue();
    }

    @Test
    void prefillIsCutToMaxNumTokensAndMaxSeqLen() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        assertThat(new WarmUp(runner, 256, 8, 40, () -> runner.now, () -> 0).run(Duration.ofSeconds(60)).prefillTokens())
                .isEqualTo(40);
        var shortSeq = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        assertThat(new WarmUp(shortSeq, 10, 8, 8192, () -> shortSeq.now, () -> 0).run(Duration.ofSeconds(60)).prefillTokens())
                .isEqualTo(9);
    }

    @Test
    void runnerWhoseTimingsKeepMovingDoesNotSettleAndStopsAtTheBudget() throws Exception {
        // Rounds alternate between 1 and 2 ms per token: no two in a row agree within 10%.
        int perRound = 1 + 2 * WarmUp.DECODE_STEPS;
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS * (1 + (pass / perRound) % 2));
        var result = new WarmUp(runner, 256, 8, 8192, () -> runner.now, () -> 0).run(Duration.ofSeconds(5));

        assertThat(result.settled()).isFalse();
        assertThat(result.elapsed()).isGreaterThanOrEqualTo(Duration.ofSeconds(5));
        assertThat(result.rounds()).isGreaterThan(WarmUp.FIRST_ROUNDS + WarmUp.MIN_ROUNDS);
    }

    @Test
    void roundsDuringWhichTheJitCompilesDoNotCount() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        // The JIT compiles 100 ms during every pass until the 8th round, then nothing.
        int perRound = 1 + 2 * WarmUp.DECODE_STEPS;
        var result = new WarmUp(runner, 256, 8, 8192, () -> runner.now,
                () -> 100L * Math.min(runner.batches.size(), 8 * perRound)).run(Duration.ofSeconds(60));

        assertThat(result.settled()).isTrue();
        assertThat(result.rounds()).isEqualTo(8 + 2); // the 8th agrees with none before it: two more must
    }

    @Test
    void timingsThatKeepMovingSettleOnceTheJitSitsIdleForRoundsOnEnd() throws Exception {
        int perRound = 1 + 2 * WarmUp.DECODE_STEPS;
        // A busy machine: no two rounds agree. The JIT compiles until the 6th round, and has work queued until the 7th.
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS * (1 + (pass / perRound) % 2));
        var result = new WarmUp(runner, 256, 8, 8192, () -> runner.now,
                () -> 100L * Math.min(runner.batches.size(), 6 * perRound),
                () -> runner.batches.size() >= 7 * perRound).run(Duration.ofSeconds(60));

        assertThat(result.settled()).isTrue();
        assertThat(result.jitIdle()).isTrue();
        assertThat(result.rounds()).isEqualTo(7 + WarmUp.IDLE_ROUNDS - 1);
    }

    @Test
    void anIdleJitCountsOnlyTheFullRounds() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16),
                pass -> MS * (1 + (pass / (1 + 2 * WarmUp.DECODE_STEPS)) % 2));
        var result = new WarmUp(runner, 256, 8, 8192, () -> runner.now, () -> 0, () -> true).run(Duration.ofSeconds(60));

        assertThat(result.settled()).isTrue();
        assertThat(result.rounds()).isEqualTo(WarmUp.FIRST_ROUNDS + WarmUp.IDLE_ROUNDS);
    }

    @Test
    void jitQueueIsIdleOnlyWhenNothingCompilesAndEveryQueueIsEmpty() {
        String idle = "Current compiles: \n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n\n";
        assertThat(WarmUp.JitQueue.idle(idle)).isTrue();
        assertThat(WarmUp.JitQueue.idle("Current compiles: \nC2 CompilerThread0  1798       4       "
                + "jdk.internal.util.ArraysSupport::mismatch (103 bytes)\n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n"))
                .isFalse();
        assertThat(WarmUp.JitQueue.idle("Current compiles: \n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\n"
                + "1782       4       jdk.internal.util.xml.impl.Parser::bqstr (462 bytes)\n")).isFalse();
        assertThat(WarmUp.JitQueue.idle("")).isFalse();
        assertThat(WarmUp.JitQueue.idle("something else entirely")).isFalse();
        // This JVM has the command: its probe answers without throwing.
        WarmUp.JitQueue.probe().getAsBoolean();
    }

    @Test
    void theCodeListTellsWhichMethodsHaveCodeInUse() {
        String list = "1596 2 1 CodeList.work(I)I [0x00007f31a4608a88, 0x00007f31a4608b80 - 0x00007f31a4608ca0]\n"
                + "1600 3 0 io.trtllm.executor.Step.run()Z [0x00007f31a4609708, 0x00007f31a4609800 - 0x00007f31a46099c8]\n"
                + "1608 4 2 io.trtllm.executor.Step.postprocess(Lio/trtllm/executor/Pass;)V [0x0, 0x0 - 0x0]\n";
        assertThat(WarmUp.CodeList.compiled(list, java.util.Set.of("io.trtllm.executor.Step.run"))).isTrue();
        // Made not entrant (state 2) or not used (1): no code runs.
        assertThat(WarmUp.CodeList.compiled(list, java.util.Set.of("io.trtllm.executor.Step.postprocess"))).isFalse();
        assertThat(WarmUp.CodeList.compiled(list, java.util.Set.of("CodeList.work"))).isFalse();
        assertThat(WarmUp.CodeList.compiled(list, java.util.Set.of("io.trtllm.executor.Step.run", "io.trtllm.Missing.method")))
                .isFalse();
        assertThat(WarmUp.CodeList.compiled("", java.util.Set.of("io.trtllm.executor.Step.run"))).isFalse();
        // This JVM's own list, through the diagnostic command: a method every JVM has compiled by now, and one no JVM has.
        for (int i = 0; i < 100_000; i++) {
            Integer.toString(i).hashCode();
        }
        assertThat(WarmUp.compiled(java.util.List.of("java.lang.String.hashCode")).getAsBoolean()).isTrue();
        assertThat(WarmUp.compiled(java.util.List.of("io.trtllm.NoSuchClass.noSuchMethod")).getAsBoolean()).isFalse();
    }

    @Test
    void everyShapeRunsOnceEvenWhenTheBudgetIsShorter() throws Exception {
        var runner = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        var result = new WarmUp(runner, 256, 32, 8192, () -> runner.now, () -> 0).run(Duration.ofNanos(1));
        assertThat(result.rounds()).isEqualTo(WarmUp.FIRST_ROUNDS + 1);
        assertThat(result.settled()).isFalse();
        assertThat(result.shapes()).contains(new WarmUp.Shape(1, WarmUp.PREFILL_TOKENS),
                new WarmUp.Shape(WarmUp.BATCH_ROWS, WarmUp.BATCH_ROWS));

        var shortPrompts = new TimedRunner(config(), new KvCacheSpec(64, 16), pass -> MS);
        assertThat(new WarmUp(shortPrompts, 256, 8, 10, () -> shortPrompts.now, () -> 0).run(Duration.ofNanos(1)).rounds())
                .isEqualTo(1); // a 10-token chunk is the short round's shape already
    }

    @Test
    void agreesWithinTenPercentOfTheSmaller() {
        assertThat(WarmUp.agrees(new long[] {100, 200}, new long[] {110, 200})).isTrue();
        assertThat(WarmUp.agrees(new long[] {100, 200}, new long[] {111, 200})).isFalse();
        assertThat(WarmUp.agrees(new long[] {100, 200}, new long[] {100, 179})).isFalse();
    }

    @Test
    void budgetPropertyIsMillisecondsAndRefusesOtherValues() {
        String before = System.getProperty(WarmUp.BUDGET_PROPERTY);
        try {
            System.clearProperty(WarmUp.BUDGET_PROPERTY);
            assertThat(WarmUp.budget()).isEqualTo(Duration.ofMillis(WarmUp.DEFAULT_BUDGET_MILLIS));
            System.setProperty(WarmUp.BUDGET_PROPERTY, " 2500 ");
            assertThat(WarmUp.budget()).isEqualTo(Duration.ofMillis(2500));
            System.setProperty(WarmUp.BUDGET_PROPERTY, "0");
            assertThat(WarmUp.budget()).isZero();
            for (String bad : List.of("-1", "2s", "1e3")) {
                System.setProperty(WarmUp.BUDGET_PROPERTY, bad);
                assertThatThrownBy(WarmUp::budget).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining(WarmUp.BUDGET_PROPERTY).hasMessageContaining("'" + bad + "'");
            }
        } finally {
            if (before == null) {
                System.clearProperty(WarmUp.BUDGET_PROPERTY);
            } else {
                System.setProperty(WarmUp.BUDGET_PROPERTY, before);
            }
        }
    }
}
