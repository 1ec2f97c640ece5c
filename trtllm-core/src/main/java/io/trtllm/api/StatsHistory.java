package io.trtllm.api;

import io.trtllm.executor.Executor;
import io.trtllm.executor.KvCacheManager;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's statistics over time, as TensorRT-LLM's {@code get_stats}: each iteration that ran a
 * forward pass is kept (the last {@value #CAPACITY}, older ones dropped) until {@link #drain()} takes
 * them, and handed to listeners as it happens.
 */
final class StatsHistory {
    private static final Logger LOG = LoggerFactory.getLogger(StatsHistory.class);
    /** Iterations kept between two reads: about a minute of decoding at 20 passes/s; a bounded memory. */
    static final int CAPACITY = 1024;

    private final ArrayDeque<EngineStats> history = new ArrayDeque<>();
    private final List<Consumer<? super EngineStats>> listeners = new CopyOnWriteArrayList<>();
    private long dropped;

    /** The executor's snapshot as the API's. */
    static EngineStats of(Executor.Stats s) {
        KvCacheManager.Stats kv = s.kvCache();
        return new EngineStats(s.alive(), s.running(), s.waiting(), new EngineStats.KvCache(kv.numBlocks(),
                kv.usedBlocks(), kv.freeBlocks(), kv.cachedBlocks(), kv.reuseHitBlocks(), kv.reuseHitTokens(),
                kv.reuseQueryTokens()), s.iterations(), s.lastBatchSize(), s.lastBatchTokens(), s.preemptions(),
                s.promptTokens(), s.generatedTokens());
    }

    /** Records one iteration (on the executor's loop thread) and tells the listeners. */
    void record(Executor.Stats s) {
        EngineStats stats = of(s);
        synchronized (this) {
            if (history.size() == CAPACITY) {
                history.pollFirst();
                dropped++;
            }
            history.addLast(stats);
        }
        for (Consumer<? super EngineStats> l : listeners) {
            try {
                l.accept(stats);
            } catch (RuntimeException e) {
                LOG.warn("Stats listener {} failed: {}", l, e.toString());
            }
        }
    }

    /** The iterations recorded since the last call, oldest first. */
    synchronized List<EngineStats> drain() {
        List<EngineStats> out = new ArrayList<>(history);
        history.clear();
        return out;
    }

    /** Iterations dropped because nobody read them in time. */
    synchronized long dropped() {
        return dropped;
    }

    void addListener(Consumer<? super EngineStats> listener) {
        listeners.add(listener);
    }

    void removeListener(Consumer<? super EngineStats> listener) {
        listeners.remove(listener);
    }
}
