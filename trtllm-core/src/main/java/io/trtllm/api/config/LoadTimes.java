package io.trtllm.api.config;

import java.time.Duration;

/**
 * Where the construction of an {@code LLM} spent its time, so that a cold start (engine built) and a
 * warm one (engine loaded from the cache) can be compared without the JIT warm-up, which both pay.
 *
 * @param engine    resolving the model and acquiring its engine: building it on a cache miss, else
 *                  verifying its checksums and mapping it ({@link #engineKind()} says which)
 * @param engineKind how the engine came ({@link EngineLoad.Kind})
 * @param tokenizer loading the tokenizer (the first one in a JVM loads its native library), on its own
 *                  thread while the engine step runs: it counts in {@code total} only where it
 *                  outlasts the engine step
 * @param runner    the CPU runner's setup: weights mapped in place for an engine (packed for a plain
 *                  checkpoint), the KV cache allocated, threads started
 * @param warmUp    the JIT warm-up forward passes (at most 1.5 s)
 * @param total     the whole constructor
 */
public record LoadTimes(Duration engine, EngineLoad.Kind engineKind, Duration tokenizer, Duration runner, Duration warmUp,
                        Duration total) {

    /** The load path without the warm-up: {@code total - warmUp}. */
    public Duration withoutWarmUp() {
        return total.minus(warmUp);
    }
}
