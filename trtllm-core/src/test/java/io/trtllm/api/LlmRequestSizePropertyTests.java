package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;

/**
 * For any sizes a caller can put in a request (prompt length, max_tokens, min_tokens, n, best_of,
 * logprobs and prompt_logprobs counts, extremes included; sampled, greedy or beam search), either
 * {@link SamplingParams} or {@link LLM} refuses it with an {@link IllegalArgumentException} before
 * anything is queued, or it runs to completion. Never another exception (an {@code ArithmeticException},
 * a queue that can never take it), never a failure from inside the executor, never an engine that stops
 * serving. On stories15M (vocab 32000, max_seq_len 256) with a queue of 4, so that best_of stays cheap.
 */
class LlmRequestSizePropertyTests {
    static final int MAX_QUEUE_SIZE = 4;
    static LLM llm;

    @BeforeContainer
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").maxQueueSize(MAX_QUEUE_SIZE).build());
    }

    @AfterContainer
    static void close() {
        if (llm != null) {
            llm.close();
        }
    }

    /**
     * Mostly a few tokens (so that requests that fit run fast), at times around max_seq_len, near
     * 2^31 - 1, or any int (jqwik adds the edge cases: 0, ±1, Integer.MIN_VALUE, Integer.MAX_VALUE).
     */
    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> maxTokens() {
        return Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.integers().between(1, 8)),
                Tuple.of(1, Arbitraries.integers().between(240, 260)),
                Tuple.of(2, Arbitraries.integers().between(Integer.MAX_VALUE - 300, Integer.MAX_VALUE)),
                Tuple.of(2, Arbitraries.integers()));
    }

    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> promptLengths() {
        return Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.integers().between(1, 12)),
                Tuple.of(2, Arbitraries.integers().between(250, 260)),
                Tuple.of(1, Arbitraries.just(0)), Tuple.of(1, Arbitraries.just(1 << 16)));
    }

    /** min_tokens: mostly none or a few, at times any int. */
    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> minTokens() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.just(0)), Tuple.of(4, Arbitraries.integers().between(0, 2)),
                Tuple.of(1, Arbitraries.integers()));
    }

    /** n and best_of: mostly 1 to 3, at times around the queue's size or 1024, or any int. */
    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<Integer> counts() {
        return Arbitraries.frequencyOf(Tuple.of(10, Arbitraries.just(1)), Tuple.of(6, Arbitraries.integers().between(2, 3)),
                Tuple.of(2, Arbitraries.integers().between(MAX_QUEUE_SIZE, MAX_QUEUE_SIZE + 1)),
                Tuple.of(1, Arbitraries.integers().between(1023, 1025)),
                Tuple.of(2, Arbitraries.integers()));
    }

    /** best_of: mostly not given (then n), else as n. */
    @Provide
    Arbitrary<@Nullable Integer> bestOf() {
        return counts().injectNull(0.6);
    }

    /** Beam search, one request in five. */
    @Provide
    Arbitrary<Boolean> rarely() {
        return Arbitraries.integers().between(1, 5).map(i -> i == 1);
    }

    /** Logprob counts: mostly none or a few, at times around the vocabulary's 32000, or any int. */
    @Provide
    @SuppressWarnings("unchecked")
    Arbitrary<@Nullable Integer> logprobs() {
        return Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.integers().between(0, 3)),
                Tuple.of(1, Arbitraries.integers().between(31999, 32001)),
                Tuple.of(2, Arbitraries.integers())).injectNull(0.6);
    }

    @Property(tries = 120)
    void aRequestOfAnySizeIsRefusedBeforeItIsQueuedOrCompletes(
            @ForAll("promptLengths") int promptLength, @ForAll("maxTokens") int maxTokens, @ForAll("minTokens") int minTokens,
            @ForAll("counts") int n, @ForAll("bestOf") @Nullable Integer bestOf,
            @ForAll("logprobs") @Nullable Integer logprobs, @ForAll("logprobs") @Nullable Integer promptLogprobs,
            @ForAll("rarely") boolean beamSearch, @ForAll boolean greedy) throws Exception {
        SamplingParams params;
        try {
            params = SamplingParams.builder().maxTokens(maxTokens).minTokens(minTokens)
                    .temperature(greedy ? 0f : 0.8f).seed(3L).n(n).bestOf(bestOf)
                    .useBeamSearch(beamSearch).logprobs(logprobs).promptLogprobs(promptLogprobs).build();
        } catch (IllegalArgumentException refusedBySamplingParams) {
            Statistics.label("outcome").collect("refused by SamplingParams");
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
            Statistics.label("outcome").collect("refused by LLM");
            assertThat(llm.stats().waiting()).isZero();
            return;
        }
        Statistics.label("outcome").collect("ran");
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

    @AfterProperty
    void theEngineServesOnWithNothingHeld() throws InterruptedException {
        Statistics.label("outcome").coverage(c -> {
            c.check("ran").count(count -> count >= 15);
            c.check("refused by LLM").count(count -> count >= 10);
            c.check("refused by SamplingParams").count(count -> count >= 10);
        });
        assertThat(llm.failure()).isNull();
        assertThat(llm.stats().alive()).isTrue();
        assertThat(llm.generate("Once upon a time", SamplingParams.greedy(4)).output().tokenIds()).hasSize(4);
        for (int i = 0; i < 100 && llm.stats().kvCache().usedBlocks() != 0; i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
        assertThat(llm.stats().waiting()).isZero();
    }
}
