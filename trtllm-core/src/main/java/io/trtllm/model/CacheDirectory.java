package io.trtllm.model;

import java.nio.file.Path;
import org.jspecify.annotations.Nullable;

/** Where trtllm keeps what it downloads, converts and builds. */
public final class CacheDirectory {
    /** Environment variable that overrides the cache root. */
    public static final String ENV = "TRTLLM_CACHE_DIR";

    private CacheDirectory() {
    }

    /**
     * The cache root: {@code TRTLLM_CACHE_DIR}, else {@code explicit} (from configuration), else
     * {@code ~/.cache/trtllm}.
     */
    public static Path resolve(@Nullable Path explicit) {
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) {
            return Path.of(env).toAbsolutePath();
        }
        if (explicit != null) {
            return explicit.toAbsolutePath();
        }
        return Path.of(System.getProperty("user.home"), ".cache", "trtllm");
    }
}
