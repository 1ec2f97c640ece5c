package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.KvCacheEvent;
import io.trtllm.api.config.RuntimeConfig;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * The request warm-up at the end of {@code new LLM(...)} on stories15M's CPU runner: it ran (its time is in the load
 * times) and left nothing a caller can see — no iterations, tokens or prefix blocks in the stats, no KV cache events
 * but the cache's creation, every block free, the first request's id "1" — and greedy output is the same as an
 * {@code LLM} built without it.
 */
class RequestWarmUpIT {
    private static final String PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play outside";

    private static LlmArgs.Builder args(boolean warmUp) {
        var kv = new KvCacheConfig(4096, 0.25, true, 32).withEventBufferMaxSize(1000);
        return LlmArgs.builder("stories15M").backend("cpu").kvCacheConfig(kv)
                .runtime(RuntimeConfig.fromSystemProperties().withWarmUpRequests(warmUp));
    }

    @Test
    void theWarmUpLeavesNoTraceInStatsEventsOrThePrefixCache() {
        try (var llm = new LLM(args(true).build())) {
            assertThat(llm.loadTimes().requests()).isPositive();
            assertThat(llm.loadTimes().total()).isGreaterThanOrEqualTo(llm.loadTimes().requests().plus(llm.loadTimes().warmUp()));

            EngineStats stats = llm.stats();
            assertThat(stats.iterations()).isZero();
            assertThat(stats.promptTokens()).isZero();
            assertThat(stats.generatedTokens()).isZero();
            assertThat(stats.running()).isZero();
            assertThat(stats.waiting()).isZero();
            assertThat(stats.kvCache().usedBlocks()).isZero();
            assertThat(stats.kvCache().freeBlocks()).isEqualTo(stats.kvCache().numBlocks());
            assertThat(stats.kvCache().cachedBlocks()).isZero();
            assertThat(stats.kvCache().reuseHitBlocks()).isZero();
            assertThat(stats.kvCache().queriedTokens()).isZero();
            assertThat(llm.iterationStats()).isEmpty();
            assertThat(llm.kvCacheEvents()).singleElement().isInstanceOf(KvCacheEvent.Created.class);

            List<RequestOutput> heard = new CopyOnWriteArrayList<>();
            llm.addRequestListener(new RequestListener() {
                @Override
                public void onFinished(RequestOutput output) {
                    heard.add(output);
                }
            });
            RequestOutput first = llm.generate(PROMPT, SamplingParams.greedy(8));
            assertThat(first.requestId()).isEqualTo("1");
            // The first request computes its whole prompt: nothing of the warm-up's prompts (the same kind of text) is reused.
            assertThat(first.metrics().cachedPromptTokens()).isZero();
            // The request's own 8 passes and no more (the loop records its last one just after the output is delivered).
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (llm.stats().iterations() < 8 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(llm.stats().iterations()).isEqualTo(8);
            assertThat(llm.stats().generatedTokens()).isEqualTo(8);
            assertThat(llm.iterationStats()).hasSize(8);
            assertThat(heard).singleElement().extracting(RequestOutput::requestId).isEqualTo("1");
        }
    }

    @Test
    void greedyOutputIsTheSameWithAndWithoutTheWarmUp() {
        RequestOutput with;
        RequestOutput without;
        try (var llm = new LLM(args(true).build())) {
            with = llm.generate(PROMPT, SamplingParams.greedy(48));
        }
        try (var llm = new LLM(args(false).build())) {
            assertThat(llm.loadTimes().requests()).isEqualTo(Duration.ZERO);
            without = llm.generate(PROMPT, SamplingParams.greedy(48));
        }
        assertThat(with.output().tokenIds()).containsExactly(without.output().tokenIds());
        assertThat(with.output().text()).isEqualTo(without.output().text());
    }
}
