package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.util.RawValue;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.testing.Gen;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile {@code config.json} values, generated: the tiny llama fixture's config with keys removed or
 * set to values of every JSON type, out-of-range integers ({@code 1e9} layers, 2^31, 2^64),
 * non-finite and denormal numbers, unknown model types and rope scalings. Each config either parses
 * or fails with a {@link ModelFormatException} / {@link IllegalArgumentException} with a message;
 * and over the fixture's weights, either builds an engine or fails before writing one, never with
 * an OutOfMemoryError, NegativeArraySizeException, ArithmeticException, IndexOutOfBoundsException
 * or InternalError.
 */
class ConfigPropertyTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Device CPU = new Device("cpu", "amd64", 512, 32);
    private static final List<String> KEYS = List.of("model_type", "vocab_size", "hidden_size", "intermediate_size",
            "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
            "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters", "tie_word_embeddings", "attention_bias",
            "mlp_bias", "hidden_act", "sliding_window", "use_sliding_window", "max_window_layers", "bos_token_id",
            "eos_token_id", "torch_dtype", "dtype", "quantization_config");
    private static final List<String> VALUES = List.of("0", "1", "2", "-1", "3", "16", "64", "128", "256", "1000000000",
            "2147483647", "-2147483648", "2147483648", "9223372036854775807", "18446744073709551617", "1e9", "1.5",
            "1e999", "-1e999", "1e308", "4.9e-324", "-0.0", "\"llama\"", "\"qwen3\"", "\"qwen2\"", "\"mistral\"",
            "\"gpt2\"", "\"\"", "\"silu\"", "\"gelu\"", "\"float16\"", "\"bfloat16\"", "\"int8\"", "\"64\"", "true",
            "false", "null", "[]", "[2]", "[-1]", "[1, 2147483648]", "[2, \"x\"]", "{}",
            "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                    + "\"original_max_position_embeddings\": 32}",
            "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1, "
                    + "\"original_max_position_embeddings\": -1}",
            "{\"rope_type\": \"linear\", \"factor\": 0}", "{\"rope_type\": \"linear\", \"factor\": 1e999}",
            "{\"type\": \"linear\", \"factor\": 2.0, \"rope_theta\": -5}", "{\"rope_type\": \"yarn\", \"factor\": 4}",
            "{\"rope_theta\": 1e999}", "{\"quant_method\": \"awq\"}");

    private static Path fixture;
    private static Path scratch;

    @BeforeAll
    static void copyFixture() throws IOException {
        scratch = Files.createTempDirectory("config-props");
        fixture = TinyModels.llama(scratch.resolve("fixture"));
    }

    @AfterAll
    static void removeScratch() {
        EngineBuilder.deleteTree(scratch);
    }

    /** One edit of the config: a key set to raw JSON, or removed (null). */
    record Edit(String key, @Nullable String value) {
    }

    private static ObjectNode edited(List<Edit> edits) throws IOException {
        ObjectNode config = (ObjectNode) JSON.readTree(fixture.resolve("config.json").toFile());
        for (Edit e : edits) {
            if (e.value() == null) {
                config.remove(e.key());
            } else {
                config.putRawValue(e.key(), new RawValue(e.value()));
            }
        }
        return config;
    }

    static Stream<Long> parseSeeds() {
        return Gen.seeds("ConfigPropertyTests.parse", 600);
    }

    static Stream<Long> buildSeeds() {
        return Gen.seeds("ConfigPropertyTests.build", 150);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("parseSeeds")
    void editedConfigsParseOrFailWithAMessage(long seed) throws IOException {
        List<Edit> edits = edits(new Gen(seed));
        JsonNode config = JSON.readTree(JSON.writeValueAsString(edited(edits)));
        try {
            ModelConfig c = ModelConfig.parse(config, "config.json");
            assertThat(c.qDim()).isPositive();
            assertThat(c.kvDim()).isPositive();
        } catch (ModelFormatException | IllegalArgumentException e) {
            assertThat(e.getMessage()).startsWith("config.json").hasSizeGreaterThan(20);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("buildSeeds")
    void editedConfigsOverTheFixtureBuildOrFailBeforeWriting(long seed) throws IOException {
        List<Edit> edits = edits(new Gen(seed));
        Path dir = Files.createTempDirectory(scratch, "model");
        try {
            Files.write(dir.resolve("config.json"), JSON.writeValueAsBytes(edited(edits)));
            Files.createLink(dir.resolve("model.safetensors"), fixture.resolve("model.safetensors"));
            Path out = dir.resolve("engine");
            try {
                new EngineBuilder(BuildConfig.builder(16).build(), CPU).build(dir, out);
                EngineManifest.verify(out);
            } catch (ModelFormatException | IllegalArgumentException e) {
                assertThat(e.getMessage()).hasSizeGreaterThan(20);
                try (Stream<Path> s = Files.list(dir)) {
                    assertThat(s.map(p -> p.getFileName().toString())).as("nothing written")
                            .containsExactlyInAnyOrder("config.json", "model.safetensors");
                }
            }
        } finally {
            EngineBuilder.deleteTree(dir);
        }
    }

    /** One to four edits: mostly known keys, set to listed, random or missing values. */
    static List<Edit> edits(Gen g) {
        List<Edit> edits = new java.util.ArrayList<>();
        int n = g.intBetween(1, 4);
        for (int i = 0; i < n; i++) {
            String key = g.frequency(9, () -> g.oneOf(KEYS), 1, () -> g.string("abcdefghijklmnopqrstuvwxyz", 1, 8));
            String value = g.frequency(6, () -> g.oneOf(VALUES), 2, () -> Integer.toString(g.anyInt()),
                    1, () -> Long.toString(g.anyLong()), 2, () -> g.bool() ? finite(g.anyDouble()) : null);
            edits.add(new Edit(key, value));
        }
        return edits;
    }

    private static String finite(double d) {
        return Double.isFinite(d) ? Double.toString(d) : "1e999";
    }
}
