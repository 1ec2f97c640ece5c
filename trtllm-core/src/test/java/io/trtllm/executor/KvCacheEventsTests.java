package io.trtllm.executor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.KvCacheEvent;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class KvCacheEventsTests {

    @Test
    void registeredBlocksAreStoredWithTheirChainAndEvictedOnesRemoved() {
        var events = new KvCacheEvents(100);
        var kv = new KvCacheManager(3, 4, true);
        kv.events(events);
        int[] prompt = IntStream.rangeClosed(1, 9).toArray(); // two full blocks and one token
        kv.allocate(1, prompt, 9);
        kv.commit(1, prompt, 9);
        kv.free(1);

        List<KvCacheEvent> first = events.drain();
        assertThat(first).hasSize(3);
        assertThat(first.get(0)).isEqualTo(new KvCacheEvent.Created(0, 3, 4));
        var a = (KvCacheEvent.Stored) first.get(1);
        var b = (KvCacheEvent.Stored) first.get(2);
        assertThat(a.eventId()).isEqualTo(1);
        assertThat(a.parentHash()).isNull();
        assertThat(a.tokens()).containsExactly(1, 2, 3, 4);
        assertThat(b.parentHash()).isEqualTo(a.blockHash());
        assertThat(b.tokens()).containsExactly(5, 6, 7, 8);
        assertThat(events.drain()).isEmpty();

        // A second prompt sharing the first block hits it (no event); its other blocks evict the cached ones.
        int[] other = {1, 2, 3, 4, 20, 21, 22, 23, 24, 25, 26};
        kv.allocate(2, other, 11);
        kv.commit(2, other, 11);
        List<KvCacheEvent> second = events.drain();
        assertThat(second).first().isEqualTo(new KvCacheEvent.Removed(3, List.of(b.blockHash())));
        assertThat(second.get(1)).isInstanceOfSatisfying(KvCacheEvent.Stored.class, s -> {
            assertThat(s.parentHash()).isEqualTo(a.blockHash());
            assertThat(s.tokens()).containsExactly(20, 21, 22, 23);
        });
        kv.free(2);
    }

    @Test
    void aFullBufferDropsTheOldestAndCountsThem() {
        var events = new KvCacheEvents(2);
        var kv = new KvCacheManager(8, 2, true);
        kv.events(events);
        int[] prompt = IntStream.rangeClosed(1, 9).toArray();
        kv.allocate(1, prompt, 9);
        kv.commit(1, prompt, 9); // four stored blocks after the created event: 5 events into 2 places
        List<KvCacheEvent> kept = events.drain();
        assertThat(kept).extracting(KvCacheEvent::eventId).containsExactly(3L, 4L);
        assertThat(events.dropped()).isEqualTo(3);
    }

    @Test
    void aBufferOfNoEventsOrANegativeSizeIsRefused() {
        assertThatThrownBy(() -> new KvCacheEvents(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new io.trtllm.api.config.KvCacheConfig(null, 0.25, true, 32,
                io.trtllm.api.config.Dtype.AUTO, -1)).hasMessageContaining("event_buffer_max_size must be >= 0");
    }
}
