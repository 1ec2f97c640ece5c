package io.trtllm.api.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.LlmArgs;
import io.trtllm.api.SamplingParams;
import io.trtllm.model.hub.HubSettings;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every check a front end maps to its own key names the setting as the API spells it, with the value
 * refused: the Spring properties and the CLI rely on {@link InvalidSettingException#setting()} rather
 * than on the message's wording.
 */
class InvalidSettingTests {

    static Stream<Arguments> refusals() {
        return Stream.of(
                Arguments.of("max_seq_len", -5, call(() -> LlmArgs.builder("stories15M").maxSeqLen(-5).build())),
                Arguments.of("max_input_len", 100, call(() -> LlmArgs.builder("stories15M").maxSeqLen(64).maxInputLen(100).build())),
                Arguments.of("max_batch_size", 0, call(() -> LlmArgs.builder("stories15M").maxBatchSize(0).build())),
                Arguments.of("max_num_tokens", 0, call(() -> LlmArgs.builder("stories15M").maxNumTokens(0).build())),
                Arguments.of("max_queue_size", -1, call(() -> LlmArgs.builder("stories15M").maxQueueSize(-1).build())),
                Arguments.of("threads", -1, call(() -> LlmArgs.builder("stories15M").threads(-1).build())),
                Arguments.of("backend", "tpu", call(() -> LlmArgs.builder("stories15M").backend("tpu").build())),
                Arguments.of("dtype", "fp8", call(() -> LlmArgs.builder("stories15M").dtype("fp8").build())),
                Arguments.of("kv_cache_config.max_tokens", 0, call(() -> new KvCacheConfig(0, 0.25, true, 32))),
                Arguments.of("kv_cache_config.memory_fraction", 1.5, call(() -> new KvCacheConfig(null, 1.5, true, 32))),
                Arguments.of("kv_cache_config.tokens_per_block", 0, call(() -> new KvCacheConfig(null, 0.25, true, 0))),
                Arguments.of("kv_cache_config.dtype", "int8", call(() -> KvCacheConfig.defaults().withDtype("int8"))),
                Arguments.of("build_cache_config.max_records", 0, call(() -> new BuildCacheConfig(null, 0, 1))),
                Arguments.of("build_cache_config.max_size_bytes", 0L, call(() -> new BuildCacheConfig(null, 1, 0))),
                Arguments.of("max_tokens", 0, call(() -> SamplingParams.builder().maxTokens(0).build())),
                Arguments.of("temperature", -1f, call(() -> SamplingParams.builder().temperature(-1f).build())),
                Arguments.of("top_k", -3, call(() -> SamplingParams.builder().topK(-3).build())),
                Arguments.of("top_p", 2f, call(() -> SamplingParams.builder().topP(2f).build())),
                Arguments.of("repetition_penalty", 0f, call(() -> SamplingParams.builder().repetitionPenalty(0f).build())),
                Arguments.of("hub.endpoint", "ftp://hub", call(() -> new HubConfig("ftp://hub", null, null))),
                Arguments.of("npm", " ", call(() -> new RuntimeConfig(true, true, true, true, " "))));
    }

    private static ThrowingCallable call(ThrowingCallable c) {
        return c;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusals")
    void eachCheckNamesItsSettingAndValue(String setting, Object value, ThrowingCallable check) {
        assertThatThrownBy(check).isInstanceOfSatisfying(InvalidSettingException.class, e -> {
            assertThat(e.setting()).isEqualTo(setting);
            assertThat(e.value()).isEqualTo(value);
            assertThat(e.getMessage()).contains(String.valueOf(value));
        });
    }

    @Test
    void aHubConfigOverridesTheEnvironmentFieldByField() {
        HubSettings env = HubSettings.fromEnvironment(Map.of("HF_HOME", "/tmp/hf", "HF_ENDPOINT", "http://mirror.local",
                "HF_TOKEN", "env-token"));

        HubSettings none = env.with(HubConfig.fromEnvironment());
        assertThat(none).isEqualTo(env);

        HubSettings all = env.with(new HubConfig("https://hub.example/", "app-token", true));
        assertThat(all.endpoint()).isEqualTo("https://hub.example");
        assertThat(all.token()).isEqualTo("app-token");
        assertThat(all.offline()).isTrue();
        assertThat(all.hubCache()).isEqualTo(Path.of("/tmp/hf/hub").toAbsolutePath());
    }

    @Test
    void runtimeSwitchesDefaultToTheJvmsSystemProperties() {
        assertThat(RuntimeConfig.fromSystemProperties()).isEqualTo(new RuntimeConfig(true, true, true, true, "npm"));
        assertThat(LlmArgs.builder("stories15M").build().runtime()).isEqualTo(RuntimeConfig.fromSystemProperties());
        System.setProperty(RuntimeConfig.CUDA_GRAPHS, "false");
        System.setProperty(RuntimeConfig.NPM, "/opt/node/bin/npm");
        try {
            assertThat(RuntimeConfig.fromSystemProperties())
                    .isEqualTo(new RuntimeConfig(false, true, true, true, "/opt/node/bin/npm"));
        } finally {
            System.clearProperty(RuntimeConfig.CUDA_GRAPHS);
            System.clearProperty(RuntimeConfig.NPM);
        }
    }

    @Test
    void aHubConfigNeverPrintsItsToken() {
        var args = LlmArgs.builder("stories15M").hub(new HubConfig(null, "hf_secret", null)).build();
        assertThat(args.toString()).doesNotContain("hf_secret").contains("token=set");
        assertThat(new HubConfig(null, "  ", null).token()).isNull();
    }
}
