package io.trtllm.executor;

import static io.trtllm.executor.ExecutorTests.assertNoBlocksHeld;
import static io.trtllm.executor.ExecutorTests.greedy;
import static io.trtllm.executor.ExecutorTests.prompt;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.executor.ExecutorTests.Collector;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Request sizes up to 2^31 - 1 at the executor's layers: {@link Executor#submit} refuses what cannot
 * fit before anything is queued, naming the numbers (a wrapped sum once got through and made
 * {@link KvCacheManager} throw inside the loop, failing every request until restart); the layers below
 * neither wrap nor take the loop down when handed such a size anyway.
 */
class RequestSizeTests {
    static final int MAX_SEQ_LEN = ExecutorTests.MAX_SEQ_LEN;
    static final int VOCAB = 256;

    Checkpoint weights;
    ModelConfig config;
    CpuModelRunner runner;
    Executor executor;

    @BeforeEach
    void open() throws URISyntaxException {
        Path dir = Path.of(RequestSizeTests.class.getResource("/parity/llama3/config.json").toURI()).getParent();
        config = ModelConfig.load(dir);
        weights = Checkpoint.open(dir);
        runner = new CpuModelRunner(config, weights, new KvCacheSpec(4 * MAX_SEQ_LEN / 16, 16), 2);
        executor = new Executor(runner, new Executor.Config(SchedulerConfig.defaults(), 64, MAX_SEQ_LEN, true));
    }

    @AfterEach
    void close() {
        executor.close();
        runner.close();
        weights.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {Integer.MAX_VALUE, Integer.MAX_VALUE - 1, Integer.MAX_VALUE - 2, Integer.MAX_VALUE - 3,
            Integer.MAX_VALUE - 126, 1 << 30, 126})
    void maxTokensBeyondMaxSeqLenIsRefusedAtSubmitNamingTheNumbers(int maxTokens) throws Exception {
        // With a 3-token prompt, MAX_VALUE - 2 used to wrap to exactly Integer.MIN_VALUE, MAX_VALUE to -2147483646.
        assertThat(config.vocabSize()).isEqualTo(VOCAB);
        assertThatThrownBy(() -> executor.submit(greedy("big", new int[] {1, 5, 9}, maxTokens), new Collector()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("request big: prompt (3 tokens) + max_tokens (" + maxTokens + ") = " + (3L + maxTokens)
                        + " exceeds max_seq_len 128");
        assertThat(executor.stats().waiting()).isZero();
        assertTheExecutorServesOn();
    }

    @Test
    void theLongestRequestThatFitsRunsToItsLastPosition() throws Exception {
        var c = new Collector();
        executor.submit(greedy("fits", prompt(1, 3), MAX_SEQ_LEN - 3), c);
        var r = c.await();
        assertThat(r.reason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokens()).hasSize(MAX_SEQ_LEN - 3);
        assertNoBlocksHeld(executor);
    }

    @Test
    void logprobCountsAboveTheVocabularyAreRefusedAtSubmit() throws Exception {
        var tooMany = SamplingConfig.builder().temperature(0).logprobs(VOCAB + 1).build();
        assertThatThrownBy(() -> executor.submit(new GenerationRequest("lp", prompt(1, 4), 3, tooMany), new Collector()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("request lp: logprobs (257) exceeds the vocabulary size 256");
        var maxInt = SamplingConfig.builder().temperature(0).logprobs(Integer.MAX_VALUE).build();
        assertThatThrownBy(() -> executor.submit(new GenerationRequest("lp", prompt(1, 4), 3, maxInt), new Collector()))
                .hasMessageContaining("logprobs (2147483647) exceeds the vocabulary size 256");
        var greedy = SamplingConfig.builder().temperature(0).build();
        assertThatThrownBy(() -> executor.submit(new GenerationRequest("plp", prompt(1, 4), 3, greedy, 0, Integer.MAX_VALUE),
                new Collector()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("request plp: prompt_logprobs (2147483647) exceeds the vocabulary size 256");
        assertThat(executor.stats().waiting()).isZero();

        // The whole vocabulary is allowed, for generated and prompt tokens alike.
        var prompts = new java.util.concurrent.CopyOnWriteArrayList<SampledToken>();
        var all = new Collector() {
            @Override
            public void onPromptLogprobs(int fromPosition, List<SampledToken> logprobs) {
                prompts.addAll(logprobs);
            }
        };
        var everything = SamplingConfig.builder().temperature(0).logprobs(VOCAB).build();
        executor.submit(new GenerationRequest("all", prompt(1, 4), 3, everything, 0, VOCAB), all);
        assertThat(all.await().reason()).isEqualTo(FinishReason.LENGTH);
        assertThat(prompts).hasSize(3).allSatisfy(t -> assertThat(t.topTokenIds()).hasSize(VOCAB));
        assertTheExecutorServesOn();
    }

    @Test
    void aSequenceWhoseLengthPassesIntMaxFailsAloneInTheSchedulerWithItsBlocksFreed() {
        // Submit refuses such a request; handed to the scheduler anyway, it is taken out and the others run.
        var kv = new KvCacheManager(32, 16, true);
        var scheduler = new Scheduler(SchedulerConfig.defaults(), kv);
        var before = new Sequence(1, greedy("before", prompt(1, 5), 10), new Collector());
        var huge = new Sequence(2, greedy("huge", prompt(2, 5), Integer.MAX_VALUE), new Collector());
        var after = new Sequence(3, greedy("after", prompt(3, 5), 10), new Collector());
        scheduler.add(before);
        scheduler.add(huge);
        scheduler.add(after);

        var chunks = scheduler.schedule();
        assertThat(chunks).extracting(ScheduledChunk::sequence).containsExactly(before, after);
        var failures = scheduler.takeFailures();
        assertThat(failures).hasSize(1);
        assertThat(failures.getFirst().sequence()).isSameAs(huge);
        assertThat(failures.getFirst().error()).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("request huge: prompt (5 tokens) + max_tokens (2147483647) = 2147483652 positions exceeds 2^31 - 1");
        assertThat(kv.contains(huge.id)).isFalse();
        assertThat(huge.status).isEqualTo(Sequence.Status.FINISHED);
        assertThat(scheduler.all()).containsExactlyInAnyOrder(before, after);
        assertThat(scheduler.takeFailures()).isEmpty();
        scheduler.remove(before);
        scheduler.remove(after);
        assertThat(kv.usedBlocks()).isZero();
    }

    @Test
    void theKvCacheManagerComparesCoverageNearIntMaxWithoutWrapping() {
        var kv = new KvCacheManager(8, 16, false);
        int[] prompt = prompt(1, 5);
        assertThat(kv.canAllocate(prompt, Integer.MAX_VALUE)).isFalse();
        assertThatThrownBy(() -> kv.allocate(1, prompt, Integer.MAX_VALUE))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("sequence 1 needs 134217720 more free blocks than the 8 free to cover 2147483647 positions");
        assertThat(kv.usedBlocks()).isZero();
        kv.allocate(1, prompt, 5);
        assertThat(kv.canAppend(1, Integer.MAX_VALUE)).isFalse();
        assertThatThrownBy(() -> kv.append(1, Integer.MAX_VALUE)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("needs 134217727 new blocks to hold 2147483647 positions but only 7 are free");
        assertThatThrownBy(() -> kv.commit(1, prompt, Integer.MAX_VALUE)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("sequence 1: computedLength 2147483647 exceeds its 5 tokens or its 16 positions");
        // A wrapped sum is negative: named as such, never taken for a small length.
        assertThatThrownBy(() -> kv.canAllocate(prompt, 3 + Integer.MAX_VALUE))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("canAllocate: tokensToCover must be >= 0, got -2147483646");
        kv.free(1);
        assertThat(kv.usedBlocks()).isZero();
    }

    @Test
    void blocksForCountsBlocksOfLengthsNearIntMax() {
        var spec = new KvCacheSpec(8, 16);
        assertThat(spec.blocksFor(Integer.MAX_VALUE)).isEqualTo(134_217_728);
        assertThat(spec.blocksFor(Integer.MAX_VALUE - 15)).isEqualTo(134_217_727);
        assertThat(new KvCacheSpec(8, 1).blocksFor(Integer.MAX_VALUE)).isEqualTo(Integer.MAX_VALUE);
        assertThat(new KvCacheSpec(8, Integer.MAX_VALUE).blocksFor(Integer.MAX_VALUE - 1)).isEqualTo(1);
    }

    /** Alive, nothing queued or held, and a new request gets its full output. */
    void assertTheExecutorServesOn() throws Exception {
        assertThat(executor.failure()).isNull();
        assertThat(executor.stats().alive()).isTrue();
        var c = new Collector();
        executor.submit(greedy("next", prompt(2, 6), 8), c);
        assertThat(c.await().tokens()).hasSize(8);
        assertNoBlocksHeld(executor);
    }
}
