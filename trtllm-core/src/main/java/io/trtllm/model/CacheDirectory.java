package io.trtllm.model;

import java.nio.file.Path;
import org.jspecify.annotations.Nullable;

/** Where trtllm keeps what it downloads, converts and builds. */
public final class CacheDirectory {
    /** Environment variable that overrides the cache root. */
    public static final String ENV = "TRTLLM_CACHE_DIR";
    /**
     * TensorRT-LLM's name for its LLM API build cache root, accepted as an alias of {@link #ENV} so that a
     * TensorRT-LLM setup carries over; {@link #ENV} wins when both are set.
     */
    public static final String TENSORRT_LLM_ENV = "TLLM_LLMAPI_BUILD_CACHE_ROOT";

    private CacheDirectory() {
    }

    /**
     * The cache root: {@code TRTLLM_CACHE_DIR}, else TensorRT-LLM's {@code TLLM_LLMAPI_BUILD_CACHE_ROOT}, else
     * {@code explicit} (from configuration), else {@code ~/.cache/trtllm}.
     */
    public static Path resolve(@Nullable Path explicit) {
        return resolve(explicit, System::getenv);
    }

    /** {@link #resolve(Path)} over the environment {@code env}. */
    static Path resolve(@Nullable Path explicit, java.util.function.Function<String, @Nullable String> env) {
        for (String name : new String[] {ENV, TENSORRT_LLM_ENV}) {
            String value = env.apply(name);
            if (value != null && !value.isBlank()) {
                return Path.of(value).toAbsolutePath();
            }
        }
        if (explicit != null) {
            return explicit.toAbsolutePath();
        }
        return Path.of(System.getProperty("user.home"), ".cache", "trtllm");
    }
}
