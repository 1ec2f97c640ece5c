package io.trtllm.api.config;

import java.nio.file.Path;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * How an engine came to be loaded: what tests and logs look at to tell a build from a cache hit
 * without timing anything.
 *
 * @param kind      what happened
 * @param engineDir the engine directory loaded
 * @param key       the cache key, or null for a prebuilt or uncached engine
 * @param reason    why an entry was rebuilt ({@link Kind#REBUILT}), else null
 * @param duration  wall time of getting the engine ready (build or verification, and mapping)
 */
public record EngineLoad(Kind kind, Path engineDir, @Nullable String key, @Nullable String reason, Duration duration) {

    /** What happened to get the engine. */
    public enum Kind {
        /** Not in the cache: built and published. */
        BUILT,
        /** In the cache but corrupt, or {@code skip_build_cache}: removed, built again and published. */
        REBUILT,
        /** Found in the cache, verified against its checksums and loaded. */
        LOADED_FROM_CACHE,
        /** Already loaded in this process: its mapped weights are shared. */
        SHARED,
        /** A prebuilt engine directory given as the model, verified and loaded as it is. */
        PREBUILT,
        /** Build cache disabled: built into a private directory that is deleted on close. */
        BUILT_UNCACHED;

        /** Whether an engine was built for this load. */
        public boolean built() {
            return this == BUILT || this == REBUILT || this == BUILT_UNCACHED;
        }
    }
}
