package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.KvCacheEvent;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LLM.kvCacheEvents on stories15M: what a prompt's blocks look like to a router outside the engine. */
class KvCacheEventsIT {

    @Test
    void aPromptsFullBlocksAreStoredAndAChainedPrefixIsRecognisable() {
        var kv = new KvCacheConfig(2048, 0.25, true, 8).withEventBufferMaxSize(1000);
        try (var llm = new LLM(LlmArgs.builder("stories15M").backend("cpu").kvCacheConfig(kv).build())) {
            List<KvCacheEvent> atStart = llm.kvCacheEvents();
            assertThat(atStart.getFirst()).isInstanceOfSatisfying(KvCacheEvent.Created.class,
                    c -> assertThat(c.tokensPerBlock()).isEqualTo(8));
            llm.kvCacheEvents(); // the warm-up's, if any

            String prompt = "Once upon a time there was a little girl who loved to play in the park with her dog";
            int[] ids = llm.tokenizer().encode(prompt, true);
            llm.generate(prompt, SamplingParams.greedy(4));
            List<KvCacheEvent.Stored> stored = llm.kvCacheEvents().stream()
                    .filter(KvCacheEvent.Stored.class::isInstance).map(KvCacheEvent.Stored.class::cast).toList();
            // Every full block of the prompt (and of what was computed after it) is stored, chained from the first.
            assertThat(stored.size()).isGreaterThanOrEqualTo(ids.length / 8);
            assertThat(stored.getFirst().parentHash()).isNull();
            assertThat(stored.getFirst().tokens()).containsExactly(java.util.Arrays.stream(ids, 0, 8).boxed().toArray(Integer[]::new));
            for (int i = 1; i < stored.size(); i++) {
                assertThat(stored.get(i).parentHash()).isEqualTo(stored.get(i - 1).blockHash());
            }
            // The same prompt again hits the cache: nothing new is stored for its prefix.
            llm.generate(prompt, SamplingParams.greedy(4));
            assertThat(llm.kvCacheEvents()).noneMatch(e -> e instanceof KvCacheEvent.Stored s
                    && s.blockHash() == stored.getFirst().blockHash());
        }
    }

    @Test
    void eventsAreOffByDefaultAndAskingForThemSaysHowToTurnThemOn() {
        try (var llm = new LLM(LlmArgs.builder("stories15M").backend("cpu").build())) {
            assertThatThrownBy(llm::kvCacheEvents).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("event_buffer_max_size");
        }
    }
}
