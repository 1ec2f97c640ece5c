package io.trtllm.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Where the cache root comes from, and which source wins. */
class CacheDirectoryTests {
    private static final Path EXPLICIT = Path.of("/configured/cache");

    private static Path resolve(Map<String, String> env) {
        return CacheDirectory.resolve(EXPLICIT, env::get);
    }

    @Test
    void ourVariableWinsThenTensorRtLlmsThenTheConfiguredDirectoryThenTheHomeCache() {
        assertThat(resolve(Map.of("TRTLLM_CACHE_DIR", "/ours", "TLLM_LLMAPI_BUILD_CACHE_ROOT", "/theirs")))
                .isEqualTo(Path.of("/ours"));
        assertThat(resolve(Map.of("TLLM_LLMAPI_BUILD_CACHE_ROOT", "/theirs"))).isEqualTo(Path.of("/theirs"));
        assertThat(resolve(Map.of("TRTLLM_CACHE_DIR", " ", "TLLM_LLMAPI_BUILD_CACHE_ROOT", "/theirs")))
                .as("a blank value is unset").isEqualTo(Path.of("/theirs"));
        assertThat(resolve(Map.of())).isEqualTo(EXPLICIT);
        assertThat(CacheDirectory.resolve(null, name -> null))
                .isEqualTo(Path.of(System.getProperty("user.home"), ".cache", "trtllm"));
    }
}
