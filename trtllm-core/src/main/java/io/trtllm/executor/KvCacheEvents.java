package io.trtllm.executor;

import io.trtllm.api.config.KvCacheEvent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

/**
 * The bounded buffer of a KV cache's events: the {@link KvCacheManager} adds on the executor's thread, callers
 * drain from theirs. When it is full the oldest event is dropped (its id leaves a gap) and counted, so a caller
 * that drains too rarely loses history, never the engine's memory or speed.
 */
public final class KvCacheEvents {
    private final int maxSize;
    private final ArrayDeque<KvCacheEvent> events = new ArrayDeque<>();
    private long nextId;
    private long dropped;

    /** @param maxSize most events held (> 0) */
    public KvCacheEvents(int maxSize) {
        if (maxSize <= 0) {
            throw new IllegalArgumentException("the KV cache event buffer must hold at least 1 event, got " + maxSize);
        }
        this.maxSize = maxSize;
    }

    /** Adds the event {@code make} builds with the next id. */
    synchronized void add(LongFunction<KvCacheEvent> make) {
        if (events.size() == maxSize) {
            events.pollFirst();
            dropped++;
        }
        events.addLast(make.apply(nextId++));
    }

    /** The events held, oldest first; the buffer is empty afterwards. */
    public synchronized List<KvCacheEvent> drain() {
        List<KvCacheEvent> out = new ArrayList<>(events);
        events.clear();
        return out;
    }

    /** Events dropped so far because the buffer was full. */
    public synchronized long dropped() {
        return dropped;
    }
}
