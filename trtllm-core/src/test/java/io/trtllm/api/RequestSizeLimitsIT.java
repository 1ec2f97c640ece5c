package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Request sizes up to 2^31 - 1 through {@link LLM} on stories15M (vocab 32000, max_seq_len 256,
 * max_queue_size 1024): each is refused with an {@link IllegalArgumentException} naming the numbers,
 * thrown to the caller before anything is queued, and the engine serves on. A {@code max_tokens} of
 * 2147483647 once wrapped the length check and stopped the executor for good.
 */
class RequestSizeLimitsIT {
    static final int[] PROMPT = {1, 9038, 2501, 263, 931}; // "Once upon a time"
    static LLM llm;
    static int[] greedy8;

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").build());
        greedy8 = llm.generate(PROMPT, SamplingParams.greedy(8)).output().tokenIds();
    }

    @AfterAll
    static void close() {
        if (llm != null) {
            llm.close();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {Integer.MAX_VALUE, Integer.MAX_VALUE - 4, Integer.MAX_VALUE - 5, 1 << 30, 252})
    void maxTokensBeyondMaxSeqLenIsRefusedBeforeQueueingInEveryEntryPoint(int maxTokens) throws Exception {
        // 5 + (MAX_VALUE - 4) is exactly 2^31: it used to wrap to Integer.MIN_VALUE and pass.
        var params = SamplingParams.greedy(maxTokens);
        String expected = "prompt (5 tokens) + max_tokens (" + maxTokens + ") = " + (5L + maxTokens) + " exceeds max_seq_len 256";
        assertThatThrownBy(() -> llm.generate(PROMPT, params))
                .isInstanceOf(IllegalArgumentException.class).hasMessage(expected);
        assertThatThrownBy(() -> llm.generate("Once upon a time", params))
                .isInstanceOf(IllegalArgumentException.class).hasMessage(expected);
        assertThatThrownBy(() -> llm.generateAsync(PROMPT, params))
                .isInstanceOf(IllegalArgumentException.class).hasMessage(expected);
        assertThat(streamError(llm.generateStream(PROMPT, params))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(expected);
        var sampled = SamplingParams.builder().maxTokens(maxTokens).n(2).seed(1L).build();
        assertThatThrownBy(() -> llm.generate(PROMPT, sampled)).hasMessage(expected);
        var beams = SamplingParams.builder().maxTokens(maxTokens).bestOf(2).useBeamSearch(true).build();
        assertThatThrownBy(() -> llm.generate(PROMPT, beams)).hasMessage(expected);
        // min_tokens as large as max_tokens changes nothing.
        var min = SamplingParams.builder().maxTokens(maxTokens).minTokens(maxTokens).temperature(0).build();
        assertThatThrownBy(() -> llm.generate(PROMPT, min)).hasMessage(expected);
        assertTheEngineServesOn();
    }

    @Test
    void theLongestRequestThatFitsRuns() {
        var params = SamplingParams.builder().maxTokens(251).temperature(0).ignoreEos(true).build();
        RequestOutput out = llm.generate(PROMPT, params);
        assertThat(out.output().tokenIds()).hasSize(251);
        assertThat(out.output().finishReason()).isEqualTo(CompletionOutput.LENGTH);
    }

    @Test
    void logprobCountsAboveTheVocabularyAreRefused() throws Exception {
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).logprobs(32001).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("logprobs (32001) exceeds the vocabulary size 32000");
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).logprobs(Integer.MAX_VALUE).build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("logprobs (2147483647) exceeds the vocabulary size 32000");
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).promptLogprobs(Integer.MAX_VALUE)
                .build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("prompt_logprobs (2147483647) exceeds the vocabulary size 32000");
        // The whole vocabulary is allowed.
        var all = llm.generate(PROMPT, SamplingParams.builder().maxTokens(1).temperature(0).logprobs(32000).build());
        assertThat(all.output().logprobs().getFirst().topTokenIds()).hasSize(32000);
        assertTheEngineServesOn();
    }

    @Test
    void moreSamplesOrBeamsThanTheQueueHoldsAreRefused() throws Exception {
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).n(Integer.MAX_VALUE).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("best_of (2147483647) exceeds max_queue_size 1024");
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).bestOf(1025).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("best_of (1025) exceeds max_queue_size 1024");
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(2).bestOf(Integer.MAX_VALUE)
                .useBeamSearch(true).build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the beam width (2147483647) exceeds max_queue_size 1024");
        assertThat(llm.stats().waiting()).isZero();
        assertTheEngineServesOn();
    }

    @Test
    void aBeamWidthWhoseCandidatesPassTheVocabularyIsRefused() {
        // Each step asks for 2 × width candidates: 2 × 2147483647 must neither wrap nor reach the executor.
        try (var unbounded = new LLM(LlmArgs.builder("stories15M").maxQueueSize(Integer.MAX_VALUE)
                .maxBeamWidth(Integer.MAX_VALUE).build())) {
            assertThatThrownBy(() -> unbounded.generate(PROMPT, SamplingParams.builder().maxTokens(2)
                    .bestOf(Integer.MAX_VALUE).useBeamSearch(true).build()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("the beam width (2147483647) needs 2 × 2147483647 candidate tokens per step, more than the "
                            + "vocabulary size 32000");
            assertThatThrownBy(() -> unbounded.generate(PROMPT, SamplingParams.builder().maxTokens(2).bestOf(16001)
                    .useBeamSearch(true).build()))
                    .hasMessageContaining("the beam width (16001) needs 2 × 16001 candidate tokens");
            assertThat(unbounded.failure()).isNull();
        }
    }

    @Test
    void hugeTokenIdPromptsAndTruncationsAreHandled() throws Exception {
        assertThatThrownBy(() -> llm.generate(new int[1 << 20], SamplingParams.greedy(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("prompt (1048576 tokens) exceeds the engine's max_input_len 256");
        // truncate_prompt_tokens as large as an int keeps the whole prompt.
        var keep = SamplingParams.builder().maxTokens(8).temperature(0).truncatePromptTokens(Integer.MAX_VALUE).build();
        assertThat(llm.generate(PROMPT, keep).output().tokenIds()).containsExactly(greedy8);
        // A prompt cut to its last 5 tokens fits again.
        int[] longPrompt = new int[300];
        java.util.Arrays.fill(longPrompt, 263);
        System.arraycopy(PROMPT, 0, longPrompt, 295, 5);
        var cut = SamplingParams.builder().maxTokens(8).temperature(0).truncatePromptTokens(5).build();
        assertThat(llm.generate(longPrompt, cut).output().tokenIds()).containsExactly(greedy8);
        assertTheEngineServesOn();
    }

    /** Alive, nothing queued or held, and a request gets the same output as before. */
    static void assertTheEngineServesOn() throws InterruptedException {
        assertThat(llm.failure()).isNull();
        assertThat(llm.stats().alive()).isTrue();
        assertThat(llm.stats().waiting()).isZero();
        assertThat(llm.generate(PROMPT, SamplingParams.greedy(8)).output().tokenIds()).containsExactly(greedy8);
        for (int i = 0; i < 100 && llm.stats().kvCache().usedBlocks() != 0; i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
    }

    static Throwable streamError(Flow.Publisher<RequestOutput> stream) throws Exception {
        var error = new CompletableFuture<Throwable>();
        stream.subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription subscription) {
                subscription.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(RequestOutput item) {
                error.completeExceptionally(new AssertionError("an output came: " + item));
            }

            @Override
            public void onError(Throwable throwable) {
                error.complete(throwable);
            }

            @Override
            public void onComplete() {
                error.completeExceptionally(new AssertionError("the stream completed"));
            }
        });
        return error.get(30, TimeUnit.SECONDS);
    }
}
