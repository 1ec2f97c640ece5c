package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import io.trtllm.testing.Gen;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.jspecify.annotations.Nullable;

/**
 * For any sizes a caller can put in a request (prompt length, max_tokens, min_tokens, n, best_of,
 * logprobs and prompt_logprobs counts, extremes included; sampled, greedy or beam search), either
 * {@link SamplingParams} or {@link LLM} refuses it with an {@link IllegalArgumentException} before
 * anything is queued, or it runs to completion. Never another exception (an {@code ArithmeticException},
 * a queue that can never take it), never a failure from inside the executor, never an engine that stops
 * serving. On stories15M (vocab 32000, max_seq_len 256) with a queue of 4, so that best_of stays cheap.
 */
class LlmRequestSizePropertyIT {
    static final int MAX_QUEUE_SIZE = 4;
    static LLM llm;

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").maxQueueSize(MAX_QUEUE_SIZE).maxBeamWidth(Integer.MAX_VALUE).build());
    }

    @AfterAll
    static void close() {
        if (llm != null) {
            try {
                everyOutcomeWasSeenAndTheEngineServes();
            } finally {
                llm.close();
            }
        }
    }

    private static final Gen.Outcomes OUTCOMES = new Gen.Outcomes();

    /**
     * Mostly a few tokens (so that requests that fit run fast), at times around max_seq_len, near
     * 2^31 - 1, or any int (edges included: 0, ±1, Integer.MIN_VALUE, Integer.MAX_VALUE).
     */
    static int maxTokens(Gen g) {
        return g.frequency(12, () -> g.intBetween(1, 8), 1, () -> g.intBetween(240, 260),
                2, () -> g.intBetween(Integer.MAX_VALUE - 300, Integer.MAX_VALUE), 2, g::anyInt);
    }

    static int promptLength(Gen g) {
        return g.frequency(12, () -> g.intBetween(1, 12), 2, () -> g.intBetween(250, 260), 1, () -> 0, 1, () -> 1 << 16);
    }

    /** min_tokens: mostly none or a few, at times any int. */
    static int minTokens(Gen g) {
        return g.frequency(8, () -> 0, 4, () -> g.intBetween(0, 2), 1, g::anyInt);
    }

    /** n and best_of: mostly 1 to 3, at times around the queue's size or 1024, or any int. */
    static int count(Gen g) {
        return g.frequency(16, () -> g.frequency(10, () -> 1, 6, () -> g.intBetween(2, 3)),
                2, () -> g.intBetween(MAX_QUEUE_SIZE, MAX_QUEUE_SIZE + 1), 1, () -> g.intBetween(1023, 1025), 2, g::anyInt);
    }

    /** Logprob counts: mostly none or a few, at times around the vocabulary's 32000, or any int. */
    static @Nullable Integer logprobs(Gen g) {
        return g.orNull(0.6, () -> g.frequency(12, () -> g.intBetween(0, 3), 1, () -> g.intBetween(31999, 32001),
                2, g::anyInt));
    }

    static Stream<Long> seeds() {
        return Gen.seeds("LlmRequestSizePropertyIT", 120);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void aRequestOfAnySizeIsRefusedBeforeItIsQueuedOrCompletes(long seed) throws Exception {
        Gen g = new Gen(seed);
        int promptLength = promptLength(g);
        int maxTokens = maxTokens(g);
        int minTokens = minTokens(g);
        int n = count(g);
        // best_of: mostly not given (then n), else as n
        @Nullable Integer bestOf = g.orNull(0.6, () -> count(g));
        @Nullable Integer logprobs = logprobs(g);
        @Nullable Integer promptLogprobs = logprobs(g);
        boolean beamSearch = g.chance(0.2);
        boolean greedy = g.bool();
        try {
            run(promptLength, maxTokens, minTokens, n, bestOf, logprobs, promptLogprobs, beamSearch, greedy);
        } finally {
            theEngineServesOnWithNothingHeld();
        }
    }

    private void run(int promptLength, int maxTokens, int minTokens, int n, @Nullable Integer bestOf,
                     @Nullable Integer logprobs, @Nullable Integer promptLogprobs, boolean beamSearch, boolean greedy)
            throws Exception {
        SamplingParams params;
        try {
            params = SamplingParams.builder().maxTokens(maxTokens).minTokens(minTokens)
                    .temperature(greedy ? 0f : 0.8f).seed(3L).n(n).bestOf(bestOf)
                    .useBeamSearch(beamSearch).logprobs(logprobs).promptLogprobs(promptLogprobs).build();
        } catch (IllegalArgumentException refusedBySamplingParams) {
            OUTCOMES.count("refused by SamplingParams");
            return;
        }
        int[] prompt = new int[promptLength];
        Arrays.fill(prompt, 263);
        if (promptLength > 0) {
            prompt[0] = 1;
        }
        CompletableFuture<RequestOutput> result;
        try {
            result = llm.generateAsync(prompt, params);
        } catch (IllegalArgumentException refusedByLlm) {
            OUTCOMES.count("refused by LLM");
            assertThat(llm.stats().waiting()).isZero();
            return;
        }
        OUTCOMES.count("ran");
        RequestOutput out;
        try {
            out = result.get(120, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError("admitted with " + params + " and a " + promptLength + "-token prompt, it failed inside "
                    + "the engine", e.getCause());
        }
        assertThat(out.finished()).isTrue();
        assertThat(out.outputs()).hasSize(n);
        for (CompletionOutput o : out.outputs()) {
            assertThat(o.finishReason()).isIn(CompletionOutput.STOP, CompletionOutput.LENGTH);
            assertThat(o.tokenIds().length).isBetween(1, maxTokens);
        }
        assertThat((long) promptLength + maxTokens).isLessThanOrEqualTo(llm.maxSeqLen());
        assertThat(llm.failure()).isNull();
    }

    private static void theEngineServesOnWithNothingHeld() throws InterruptedException {
        assertThat(llm.failure()).isNull();
        assertThat(llm.stats().alive()).isTrue();
        // Stats are a snapshot taken after each iteration: a request admitted and finished in one pass
        // (max_tokens 1) completes before the snapshot that no longer counts it as waiting. Judge one
        // snapshot at a time, so a stale one read first cannot pass the wait and a newer one fail the check.
        EngineStats stats = llm.stats();
        for (int i = 0; i < 200 && (stats.kvCache().usedBlocks() != 0 || stats.waiting() != 0); i++) {
            Thread.sleep(10);
            stats = llm.stats();
        }
        assertThat(stats.kvCache().usedBlocks()).as("KV blocks held after the request ended").isZero();
        assertThat(stats.waiting()).as("requests waiting after the request ended").isZero();
    }

    /** Each outcome came often enough to say something; the engine still generates. */
    private static void everyOutcomeWasSeenAndTheEngineServes() {
        assertThat(llm.generate("Once upon a time", SamplingParams.greedy(4)).output().tokenIds()).hasSize(4);
        if (Gen.Outcomes.singleSeed()) {
            return;
        }
        assertThat(OUTCOMES.of("ran")).as(OUTCOMES.toString()).isGreaterThanOrEqualTo(15);
        assertThat(OUTCOMES.of("refused by LLM")).as(OUTCOMES.toString()).isGreaterThanOrEqualTo(10);
        assertThat(OUTCOMES.of("refused by SamplingParams")).as(OUTCOMES.toString()).isGreaterThanOrEqualTo(10);
    }
}
