package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.EngineLoad;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Statistics over time (TensorRT-LLM's get_stats) and LLM.save, whose directory loads as a prebuilt engine. */
class LlmStatsAndSaveIT {
    static LLM llm;
    static final String PROMPT = "Once upon a time";

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").threads(1).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    @Test
    void eachIterationIsRecordedOnceAndToldToListeners() {
        llm.iterationStats(); // what earlier tests left
        List<EngineStats> told = new CopyOnWriteArrayList<>();
        llm.onIterationStats(told::add);
        llm.generate(PROMPT, SamplingParams.greedy(6));
        List<EngineStats> history = llm.iterationStats();
        // A prefill and five decodes (one pass may hold more than one step of other tests; none run here).
        assertThat(history).hasSizeGreaterThanOrEqualTo(6);
        assertThat(history).extracting(EngineStats::iterations).isSorted().doesNotHaveDuplicates();
        assertThat(history).allMatch(s -> s.lastBatchSize() == 1 && s.lastBatchTokens() >= 1);
        assertThat(history.getFirst().lastBatchTokens()).as("the prefill").isEqualTo(llm.tokenizer().encode(PROMPT, true).length);
        assertThat(told).containsAll(history);
        assertThat(llm.iterationStats()).as("drained").isEmpty();
    }

    @Test
    void requestListenersHearEveryEndOnceAndTheCountersMove() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        List<RequestOutput> finished = new CopyOnWriteArrayList<>();
        RequestListener listener = new RequestListener() {
            @Override
            public void onFinished(RequestOutput output) {
                finished.add(output);
                events.add("finished:" + output.output().finishReason());
            }

            @Override
            public void onCancelled() {
                events.add("cancelled");
            }

            @Override
            public void onFailed(Throwable error) {
                events.add("failed:" + error.getClass().getSimpleName());
            }
        };
        EngineStats before = llm.stats();
        llm.addRequestListener(listener);
        try {
            llm.generate(PROMPT, SamplingParams.greedy(6));
            for (RequestOutput ignored : llm.generateStream("One day", SamplingParams.greedy(4))) {
                // drained: one request, however many updates
            }
            var slow = llm.generateAsync(new int[] {1}, SamplingParams.builder().maxTokens(250).ignoreEos(true).build());
            slow.cancel(true);
            assertThatThrownBy(() -> llm.generate(new int[] {1, 1 << 30}, SamplingParams.greedy(2)))
                    .isInstanceOf(IllegalArgumentException.class);
            await(() -> events.size() == 4);
        } finally {
            llm.removeRequestListener(listener);
        }
        llm.generate(PROMPT, SamplingParams.greedy(2)); // no longer heard
        assertThat(events).containsExactlyInAnyOrder("finished:length", "finished:length", "cancelled",
                "failed:IllegalArgumentException");
        int promptTokens = llm.tokenizer().encode(PROMPT, true).length;
        RequestMetrics m = finished.stream().filter(o -> o.prompt().equals(PROMPT)).findFirst().orElseThrow().metrics();
        assertThat(m.generatedTokens()).isEqualTo(6);
        assertThat(m.queueNanos()).isNotNegative();
        assertThat(m.scheduledNanos()).isBetween(m.arrivalNanos(), m.firstTokenNanos());
        assertThat(m.queueNanos() + m.prefillNanos()).isEqualTo(m.timeToFirstTokenNanos());
        assertThat(m.prefillNanos() + m.decodeNanos()).isEqualTo(m.inferenceNanos());
        assertThat(m.preemptions()).isZero();
        // A gap between each two of the six tokens, within the decode phase.
        assertThat(m.interTokenNanos()).hasSize(5);
        assertThat(java.util.Arrays.stream(m.interTokenNanos()).min().orElseThrow()).isPositive();
        assertThat(java.util.Arrays.stream(m.interTokenNanos()).sum()).isLessThanOrEqualTo(m.decodeNanos());

        // The snapshot is taken after each iteration, a moment after its outputs went out.
        await(() -> llm.stats().generatedTokens() - before.generatedTokens() >= 6 + 4 + 2);
        EngineStats after = llm.stats();
        int oneDay = llm.tokenizer().encode("One day", true).length;
        // The cancelled request may or may not have produced its first token before it was aborted.
        assertThat(after.promptTokens() - before.promptTokens()).isBetween((long) 2 * promptTokens + oneDay,
                (long) 2 * promptTokens + oneDay + 1);
        assertThat(after.kvCache().queriedTokens() - before.kvCache().queriedTokens())
                .as("block reuse is on by default: every admitted prompt is looked up")
                .isGreaterThanOrEqualTo(2L * promptTokens + oneDay);
        assertThat(after.kvCache().reuseHitTokens()).isLessThanOrEqualTo(after.kvCache().queriedTokens());
        assertThat(after.preemptions()).isZero();
    }

    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out");
            }
            Thread.sleep(10);
        }
    }

    @Test
    void theHistoryIsBounded() {
        llm.iterationStats();
        var params = SamplingParams.builder().maxTokens(250).ignoreEos(true).temperature(0).build();
        // Five requests one after another: 1250 iterations, more than are kept.
        for (int i = 0; i < 5; i++) {
            llm.generate(new int[] {1}, params);
        }
        List<EngineStats> kept = llm.iterationStats();
        assertThat(kept).hasSize(StatsHistory.CAPACITY);
        assertThat(kept.getLast().iterations() - kept.getFirst().iterations()).isEqualTo(StatsHistory.CAPACITY - 1);
    }

    @Test
    void aSavedEngineLoadsAsAPrebuiltOneAndGeneratesTheSame() throws IOException {
        Path saved = tmp.resolve("engine");
        llm.save(saved);
        assertThat(saved.resolve("config.json")).isRegularFile();
        assertThat(saved.resolve("tokenizer.json")).isRegularFile();
        assertThat(saved.resolve("metadata.json")).as("the cache's bookkeeping stays behind").doesNotExist();
        try (Stream<Path> leftovers = Files.list(tmp)) {
            assertThat(leftovers.map(p -> p.getFileName().toString())).containsExactly("engine");
        }
        try (var prebuilt = new LLM(saved.toString())) {
            assertThat(prebuilt.engineLoad().kind()).isEqualTo(EngineLoad.Kind.PREBUILT);
            assertThat(prebuilt.generate(PROMPT, SamplingParams.greedy(16)).output().text())
                    .isEqualTo(llm.generate(PROMPT, SamplingParams.greedy(16)).output().text());
        }
        assertThatThrownBy(() -> llm.save(saved)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("exists and is not an empty directory");
        llm.save(llm.engineDirectory()); // onto itself: nothing to do
    }
}
