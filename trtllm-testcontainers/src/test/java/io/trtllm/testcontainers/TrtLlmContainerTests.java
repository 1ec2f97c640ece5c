package io.trtllm.testcontainers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a {@link TrtLlmContainer} passes to the image, checked without starting one. */
class TrtLlmContainerTests {
    private static final String IMAGE = "localhost/trtllm-server:test";

    @Test
    void settingsBecomeTheImagesEnvironmentAndArguments() {
        var container = new TrtLlmContainer(IMAGE)
                .withModel("Qwen/Qwen3-0.6B@main")
                .withModelName("qwen3")
                .withApiKey("s3cret-Key_1")
                .withProperty("trtllm.max-batch-size", "8")
                .withProperty("trtllm.kv-cache.dtype", "bfloat16");
        container.configure();

        assertThat(container.getEnvMap())
                .containsEntry("TRTLLM_MODEL", "Qwen/Qwen3-0.6B@main")
                .containsEntry("TRTLLM_OPENAI_MODEL_NAME", "qwen3")
                .containsEntry("TRTLLM_OPENAI_API_KEY", "s3cret-Key_1");
        assertThat(container.getCommandParts())
                .containsExactly("--trtllm.max-batch-size=8", "--trtllm.kv-cache.dtype=bfloat16");
        assertThat(container.getExposedPorts()).containsExactly(TrtLlmContainer.HTTP_PORT);
        assertThat(container.getApiKey()).isEqualTo("s3cret-Key_1");
        assertThat(container.getModelName()).isEqualTo("qwen3");
    }

    @Test
    void withoutSettingsTheImageDefaultsApply() {
        var container = new TrtLlmContainer(IMAGE);
        container.configure();

        assertThat(container.getEnvMap()).doesNotContainKeys("TRTLLM_MODEL", "TRTLLM_OPENAI_MODEL_NAME",
                "TRTLLM_OPENAI_API_KEY");
        assertThat(container.getCommandParts()).isEmpty();
        assertThat(container.getApiKey()).isNull();
        assertThat(container.getModelName()).isEqualTo(TrtLlmContainer.DEFAULT_MODEL);
    }

    @Test
    void aModelDirectoryIsCopiedUnderModelsAndNamedAfterTheDirectory(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("tiny-llama_v1.0"));
        Files.writeString(dir.resolve("config.json"), "{}");

        var container = new TrtLlmContainer(IMAGE).withModelDirectory(dir);
        container.configure();

        assertThat(container.getEnvMap())
                .containsEntry("TRTLLM_MODEL", "/models/tiny-llama_v1.0")
                .containsEntry("TRTLLM_OPENAI_MODEL_NAME", "tiny-llama_v1.0");
        assertThat(container.getCopyToFileContainerPathMap()).containsValue("/models/tiny-llama_v1.0");
        assertThat(container.getModelName()).isEqualTo("tiny-llama_v1.0");
    }

    @Test
    void anOddDirectoryNameIsNotUsedAsAPathInTheContainer(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("my model; rm -rf"));
        Files.writeString(dir.resolve("config.json"), "{}");

        var container = new TrtLlmContainer(IMAGE).withModelName("mine").withModelDirectory(dir);
        container.configure();

        assertThat(container.getEnvMap())
                .containsEntry("TRTLLM_MODEL", "/models/model")
                .containsEntry("TRTLLM_OPENAI_MODEL_NAME", "mine");
    }

    @Test
    void aDirectoryWithoutConfigJsonIsRefused(@TempDir Path tmp) {
        assertThatIllegalArgumentException().isThrownBy(() -> new TrtLlmContainer(IMAGE).withModelDirectory(tmp))
                .withMessageContaining("has no config.json");
    }

    @Test
    void unsafeValuesAreRefused() {
        var container = new TrtLlmContainer(IMAGE);
        assertThatIllegalArgumentException().isThrownBy(() -> container.withApiKey("two words"));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withApiKey("line\nbreak"));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withApiKey(""));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withModel(" "));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withModelName("a\u0000b"));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withCacheVolume("../etc"))
                .withMessageContaining("volume name");
        assertThatIllegalArgumentException().isThrownBy(() -> container.withCacheVolume("/var/lib/x"));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withProperty("Server.Port", "1"));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withProperty("--x", "1"));
        assertThatIllegalArgumentException().isThrownBy(() -> container.withProperty("trtllm.model", "a\nb"));
    }
}
