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
 * @param warmUp    the JIT warm-up forward passes (until their timings settle, within a budget: see the engine's WarmUp)
 * @param requests  the short untimed requests through a scratch executor after the forward passes, which load and
 *                  compile the request path's own code ({@code RuntimeConfig.warmUpRequests}); zero when off
 * @param total     the whole constructor
 */
public record LoadTimes(Duration engine, EngineLoad.Kind engineKind, Duration tokenizer, Duration runner, Duration warmUp,
                        Duration requests, Duration total) {

    /** Without a request warm-up (what the engine's loader measures; the {@code LLM} adds its requests). */
    public LoadTimes(Duration engine, EngineLoad.Kind engineKind, Duration tokenizer, Duration runner, Duration warmUp,
                     Duration total) {
        this(engine, engineKind, tokenizer, runner, warmUp, Duration.ZERO, total);
    }

    /** The load path without either warm-up: {@code total - warmUp - requests}. */
    public Duration withoutWarmUp() {
        return total.minus(warmUp).minus(requests);
    }

    /** These times with a request warm-up of {@code duration} added after the rest (and to {@link #total()}). */
    public LoadTimes withRequests(Duration duration) {
        return new LoadTimes(engine, engineKind, tokenizer, runner, warmUp, requests.plus(duration), total.plus(duration));
    }
}
