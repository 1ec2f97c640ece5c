package io.trtllm.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTests {
    @TempDir
    Path dir;

    private ModelConfig load(String json) {
        try {
            Files.writeString(dir.resolve("config.json"), json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return ModelConfig.load(dir);
    }

    // meta-llama/Llama-2-7b-hf
    private static final String LLAMA_2 = """
            {
              "architectures": ["LlamaForCausalLM"],
              "bos_token_id": 1,
              "eos_token_id": 2,
              "hidden_act": "silu",
              "hidden_size": 4096,
              "initializer_range": 0.02,
              "intermediate_size": 11008,
              "max_position_embeddings": 4096,
              "model_type": "llama",
              "num_attention_heads": 32,
              "num_hidden_layers": 32,
              "num_key_value_heads": 32,
              "pretraining_tp": 1,
              "rms_norm_eps": 1e-05,
              "rope_scaling": null,
              "tie_word_embeddings": false,
              "torch_dtype": "float16",
              "transformers_version": "4.31.0.dev0",
              "use_cache": true,
              "vocab_size": 32000
            }""";

    // meta-llama/Llama-3.1-8B-Instruct
    private static final String LLAMA_3_1 = """
            {
              "architectures": ["LlamaForCausalLM"],
              "attention_bias": false,
              "attention_dropout": 0.0,
              "bos_token_id": 128000,
              "eos_token_id": [128001, 128008, 128009],
              "hidden_act": "silu",
              "hidden_size": 4096,
              "initializer_range": 0.02,
              "intermediate_size": 14336,
              "max_position_embeddings": 131072,
              "mlp_bias": false,
              "model_type": "llama",
              "num_attention_heads": 32,
              "num_hidden_layers": 32,
              "num_key_value_heads": 8,
              "pretraining_tp": 1,
              "rms_norm_eps": 1e-05,
              "rope_scaling": {
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
                "rope_type": "llama3"
              },
              "rope_theta": 500000.0,
              "tie_word_embeddings": false,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.42.3",
              "use_cache": true,
              "vocab_size": 128256
            }""";

    // meta-llama/Llama-3.2-1B-Instruct
    private static final String LLAMA_3_2 = """
            {
              "architectures": ["LlamaForCausalLM"],
              "attention_bias": false,
              "attention_dropout": 0.0,
              "bos_token_id": 128000,
              "eos_token_id": [128001, 128008, 128009],
              "head_dim": 64,
              "hidden_act": "silu",
              "hidden_size": 2048,
              "initializer_range": 0.02,
              "intermediate_size": 8192,
              "max_position_embeddings": 131072,
              "mlp_bias": false,
              "model_type": "llama",
              "num_attention_heads": 32,
              "num_hidden_layers": 16,
              "num_key_value_heads": 8,
              "pretraining_tp": 1,
              "rms_norm_eps": 1e-05,
              "rope_scaling": {
                "factor": 32.0,
                "high_freq_factor": 4.0,
                "low_freq_factor": 1.0,
                "original_max_position_embeddings": 8192,
                "rope_type": "llama3"
              },
              "rope_theta": 500000.0,
              "tie_word_embeddings": true,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.45.0.dev0",
              "use_cache": true,
              "vocab_size": 128256
            }""";

    // mistralai/Mistral-7B-v0.1
    private static final String MISTRAL = """
            {
              "architectures": ["MistralForCausalLM"],
              "bos_token_id": 1,
              "eos_token_id": 2,
              "hidden_act": "silu",
              "hidden_size": 4096,
              "initializer_range": 0.02,
              "intermediate_size": 14336,
              "max_position_embeddings": 32768,
              "model_type": "mistral",
              "num_attention_heads": 32,
              "num_hidden_layers": 32,
              "num_key_value_heads": 8,
              "rms_norm_eps": 1e-05,
              "rope_theta": 10000.0,
              "sliding_window": 4096,
              "tie_word_embeddings": false,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.34.0.dev0",
              "use_cache": true,
              "vocab_size": 32000
            }""";

    // Qwen/Qwen2.5-0.5B-Instruct
    private static final String QWEN2 = """
            {
              "architectures": ["Qwen2ForCausalLM"],
              "attention_dropout": 0.0,
              "bos_token_id": 151643,
              "eos_token_id": 151645,
              "hidden_act": "silu",
              "hidden_size": 896,
              "initializer_range": 0.02,
              "intermediate_size": 4864,
              "max_position_embeddings": 32768,
              "max_window_layers": 21,
              "model_type": "qwen2",
              "num_attention_heads": 14,
              "num_hidden_layers": 24,
              "num_key_value_heads": 2,
              "rms_norm_eps": 1e-06,
              "rope_theta": 1000000.0,
              "sliding_window": 32768,
              "tie_word_embeddings": true,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.43.1",
              "use_cache": true,
              "use_sliding_window": false,
              "vocab_size": 151936
            }""";

    // Qwen/Qwen3-0.6B: head_dim 128 although hidden_size / heads = 64
    private static final String QWEN3 = """
            {
              "architectures": ["Qwen3ForCausalLM"],
              "attention_bias": false,
              "attention_dropout": 0.0,
              "bos_token_id": 151643,
              "eos_token_id": 151645,
              "head_dim": 128,
              "hidden_act": "silu",
              "hidden_size": 1024,
              "initializer_range": 0.02,
              "intermediate_size": 3072,
              "max_position_embeddings": 40960,
              "max_window_layers": 28,
              "model_type": "qwen3",
              "num_attention_heads": 16,
              "num_hidden_layers": 28,
              "num_key_value_heads": 8,
              "rms_norm_eps": 1e-06,
              "rope_scaling": null,
              "rope_theta": 1000000,
              "sliding_window": null,
              "tie_word_embeddings": true,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.51.0",
              "use_cache": true,
              "use_sliding_window": false,
              "vocab_size": 151936
            }""";

    @Test
    void loadShouldParseLlama2() {
        ModelConfig c = load(LLAMA_2);
        assertThat(c.modelType()).isEqualTo("llama");
        assertThat(c.vocabSize()).isEqualTo(32000);
        assertThat(c.hiddenSize()).isEqualTo(4096);
        assertThat(c.intermediateSize()).isEqualTo(11008);
        assertThat(c.numLayers()).isEqualTo(32);
        assertThat(c.numHeads()).isEqualTo(32);
        assertThat(c.numKvHeads()).isEqualTo(32);
        assertThat(c.headDim()).isEqualTo(128);
        assertThat(c.maxPositionEmbeddings()).isEqualTo(4096);
        assertThat(c.rmsNormEps()).isEqualTo(1e-5);
        assertThat(c.ropeTheta()).isEqualTo(10000.0);
        assertThat(c.ropeScaling()).isNull();
        assertThat(c.tieWordEmbeddings()).isFalse();
        assertThat(c.attentionBias()).isFalse();
        assertThat(c.outputBias()).isFalse();
        assertThat(c.qkNorm()).isFalse();
        assertThat(c.slidingWindow()).isNull();
        assertThat(c.bosTokenId()).isEqualTo(1);
        assertThat(c.eosTokenIds()).containsExactly(2);
        assertThat(c.torchDtype()).isEqualTo(DType.F16);
        assertThat(c.qDim()).isEqualTo(4096);
        assertThat(c.kvDim()).isEqualTo(4096);
    }

    @Test
    void loadShouldParseLlama31WithLlama3RopeScaling() {
        ModelConfig c = load(LLAMA_3_1);
        assertThat(c.numKvHeads()).isEqualTo(8);
        assertThat(c.kvDim()).isEqualTo(1024);
        assertThat(c.ropeTheta()).isEqualTo(500000.0);
        assertThat(c.ropeScaling()).isEqualTo(new RopeScaling("llama3", 8, 1, 4, 8192));
        assertThat(c.eosTokenIds()).containsExactly(128001, 128008, 128009);
        assertThat(c.bosTokenId()).isEqualTo(128000);
        assertThat(c.torchDtype()).isEqualTo(DType.BF16);
        assertThat(c.maxPositionEmbeddings()).isEqualTo(131072);
    }

    @Test
    void preQuantizedCheckpointsAreAClearError() throws Exception {
        var root = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128, "
                        + "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100, "
                        + "\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4}}");
        assertThatThrownBy(() -> ModelConfig.parse(root, "m/config.json")).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("m/config.json: quantization_config (quant_method 'awq')")
                .hasMessageContaining("not supported yet").hasMessageContaining("int8 or int4");
    }

    @Test
    void loadShouldParseLlama32WithTiedEmbeddingsAndHeadDim() {
        ModelConfig c = load(LLAMA_3_2);
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.numLayers()).isEqualTo(16);
        assertThat(c.ropeScaling()).isEqualTo(new RopeScaling("llama3", 32, 1, 4, 8192));
    }

    @Test
    void loadShouldParseMistralWithSlidingWindow() {
        ModelConfig c = load(MISTRAL);
        assertThat(c.modelType()).isEqualTo("mistral");
        assertThat(c.slidingWindow()).isEqualTo(4096);
        assertThat(c.attentionBias()).isFalse();
        // Mistral-7B-Instruct-v0.2 and later: "sliding_window": null means full attention
        assertThat(load(MISTRAL.replace("\"sliding_window\": 4096", "\"sliding_window\": null")).slidingWindow())
                .isNull();
    }

    @Test
    void loadShouldParseQwen2WithQkvBiasAndNoSlidingWindow() {
        ModelConfig c = load(QWEN2);
        assertThat(c.modelType()).isEqualTo("qwen2");
        assertThat(c.attentionBias()).isTrue();
        assertThat(c.outputBias()).isFalse();
        assertThat(c.slidingWindow()).as("use_sliding_window is false").isNull();
        assertThat(c.headDim()).isEqualTo(64);
        assertThat(c.numKvHeads()).isEqualTo(2);
        assertThat(c.ropeTheta()).isEqualTo(1e6);
        assertThat(c.tieWordEmbeddings()).isTrue();
        assertThat(c.rmsNormEps()).isEqualTo(1e-6);
        assertThat(c.eosTokenIds()).containsExactly(151645);
        assertThat(c.slidingWindow()).isNull();
    }

    @Test
    void loadShouldParseQwen3WithExplicitHeadDimAndQkNorm() {
        ModelConfig c = load(QWEN3);
        assertThat(c.modelType()).isEqualTo("qwen3");
        assertThat(c.headDim()).isEqualTo(128);
        assertThat(c.qDim()).isEqualTo(2048);
        assertThat(c.kvDim()).isEqualTo(1024);
        assertThat(c.qkNorm()).isTrue();
        assertThat(c.attentionBias()).isFalse();
        assertThat(c.outputBias()).isFalse();
        assertThat(c.ropeTheta()).as("integer in the JSON").isEqualTo(1e6);
        assertThat(c.slidingWindow()).isNull();
    }

    @Test
    void loadShouldParseTransformers5RopeParameters() {
        // transformers 5 moves rope_theta and rope_scaling into rope_parameters and torch_dtype to dtype.
        String llama = LLAMA_3_1
                .replace("\"rope_theta\": 500000.0,", "")
                .replace("\"torch_dtype\": \"bfloat16\"", "\"dtype\": \"bfloat16\"")
                .replace("\"rope_scaling\": {", "\"rope_parameters\": {\"rope_theta\": 500000.0,");
        ModelConfig c = load(llama);
        assertThat(c.ropeTheta()).isEqualTo(500000.0);
        assertThat(c.ropeScaling()).isEqualTo(new RopeScaling("llama3", 8, 1, 4, 8192));
        assertThat(c.torchDtype()).isEqualTo(DType.BF16);

        String qwen = QWEN3
                .replace("\"rope_theta\": 1000000,", "")
                .replace("\"rope_scaling\": null", "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 5e6}");
        ModelConfig q = load(qwen);
        assertThat(q.ropeTheta()).isEqualTo(5e6);
        assertThat(q.ropeScaling()).isNull();
    }

    @Test
    void loadShouldParseLinearRopeScaling() {
        ModelConfig c = load(LLAMA_2.replace("\"rope_scaling\": null",
                "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"));
        assertThat(c.ropeScaling()).isEqualTo(new RopeScaling("linear", 2, 0, 0, 0));
    }

    @Test
    void loadShouldRejectAnUnknownModelTypeListingTheSupportedOnes() {
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("model_type 'gpt2' is not supported")
                .hasMessageContaining("llama, mistral, qwen2, qwen3");
    }

    @Test
    void loadShouldRejectAMissingRequiredKey() {
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"vocab_size\": 32000", "\"unused\": 0")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("required key 'vocab_size' is missing");
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"model_type\": \"llama\",", "")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'model_type' is missing");
    }

    @Test
    void loadShouldRejectAKeyOfTheWrongType() {
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"hidden_size\": 4096", "\"hidden_size\": \"4096\"")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("key 'hidden_size' must be an integer");
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 0")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("key 'tie_word_embeddings' must be true or false");
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": \"1e-5\"")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("key 'rms_norm_eps' must be a number");
    }

    @Test
    void loadShouldRejectMalformedEosIds() {
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"eos_token_id\": 2", "\"eos_token_id\": [2, \"x\"]")))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("eos_token_id");
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"eos_token_id\": 2", "\"eos_token_id\": -1")))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("eos_token_id");
        assertThat(load(LLAMA_2.replace("\"eos_token_id\": 2", "\"eos_token_id\": [2, 7]")).eosTokenIds()).containsExactly(2, 7);
    }

    @Test
    void loadShouldRejectQwenSlidingWindowOnSomeLayersOnly() {
        assertThatThrownBy(() -> load(QWEN2.replace("\"use_sliding_window\": false", "\"use_sliding_window\": true")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("max_window_layers 21 < num_hidden_layers 24");
        // A window on every layer is what the engine computes, so it loads.
        String all = QWEN2.replace("\"use_sliding_window\": false", "\"use_sliding_window\": true")
                .replace("\"max_window_layers\": 21", "\"max_window_layers\": 0");
        assertThat(load(all).slidingWindow()).isEqualTo(32768);
    }

    @Test
    void loadShouldRejectZeroHeadsAsAFormatError() {
        // hidden_size / num_attention_heads must not surface as an ArithmeticException
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"num_attention_heads\": 32", "\"num_attention_heads\": 0")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("num_attention_heads must be > 0");
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"num_key_value_heads\": 32", "\"num_key_value_heads\": 5")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("multiple of num_key_value_heads (5)");
    }

    @Test
    void loadShouldRejectUnsupportedRopeScaling() {
        String yarn = QWEN2.replace("\"rope_theta\": 1000000.0,", """
                "rope_theta": 1000000.0,
                "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"},""");
        assertThatThrownBy(() -> load(yarn))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("rope_scaling type 'yarn' is not supported")
                .hasMessageContaining("default, linear, llama3");
    }

    @Test
    void loadShouldRejectAnIncompleteLlama3RopeScaling() {
        assertThatThrownBy(() -> load(LLAMA_3_1.replace("\"low_freq_factor\": 1.0,", "")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("rope_scaling")
                .hasMessageContaining("'low_freq_factor' is missing");
    }

    @Test
    void loadShouldRejectAnUnsupportedTorchDtype() {
        assertThatThrownBy(() -> load(LLAMA_2.replace("\"torch_dtype\": \"float16\"", "\"torch_dtype\": \"float8_e4m3fn\"")))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("torch_dtype 'float8_e4m3fn' is not supported")
                .hasMessageContaining("float32, float16, bfloat16");
    }

    @Test
    void loadShouldRejectAMissingOrMalformedFile() throws IOException {
        assertThatThrownBy(() -> ModelConfig.load(dir))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("not found");
        assertThatThrownBy(() -> load("{\"model_type\": "))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> load("[]"))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("expected a JSON object");
    }

    @Test
    void inverseFrequenciesShouldFollowTheLlama3Formula() {
        // Llama 3.1: head_dim 128, theta 500000, factor 8, low 1, high 4, original context 8192.
        // Wavelengths 2*pi/inv: below 8192/4 = 2048 kept, above 8192/1 = 8192 divided by 8, between smoothed.
        RopeScaling s = new RopeScaling("llama3", 8, 1, 4, 8192);
        float[] inv = RopeScaling.inverseFrequencies(128, 500000, s);
        assertThat(inv).hasSize(64);

        // i = 0: 500000^0 = 1, wavelength 2*pi: high frequency, unchanged.
        assertThat(inv[0]).isEqualTo(1.0f);
        // i = 16: 500000^(-32/128) = 500000^(-1/4) = 1 / 26.5915..., wavelength 167: unchanged.
        assertThat(inv[16]).isCloseTo(0.037606030f, within(1e-8f));
        // i = 32: 500000^(-1/2) = 1/707.10678 = 0.00141421356, wavelength 4442.88 (medium):
        // smooth = (8192 / 4442.88 - 1) / (4 - 1) = 0.281283
        // (1 - 0.281283) * 0.00141421356 / 8 + 0.281283 * 0.00141421356 = 5.24846e-4
        assertThat(inv[32]).isCloseTo(5.24846e-4f, within(1e-9f));
        // i = 48: 500000^(-3/4) = 5.3182965e-5, wavelength 118143 (low frequency): / 8 = 6.6478706e-6
        assertThat(inv[48]).isCloseTo(6.6478706e-6f, within(1e-12f));
        // i = 63: 500000^(-126/128) = 2.4551407e-6, / 8 = 3.0689259e-7
        assertThat(inv[63]).isCloseTo(3.0689259e-7f, within(1e-13f));
        // the band edges: i = 28 (wavelength 1956) is kept, i = 35 (8219) is divided
        assertThat(inv[28]).isCloseTo(0.0032114461f, within(1e-10f));
        assertThat(inv[35]).isCloseTo(0.00076449703f / 8, within(1e-11f));
    }

    @Test
    void inverseFrequenciesShouldDivideByTheFactorForLinearAndNotScaleWithout() {
        float[] plain = RopeScaling.inverseFrequencies(64, 10000, null);
        float[] linear = RopeScaling.inverseFrequencies(64, 10000, new RopeScaling("linear", 4, 0, 0, 0));
        assertThat(plain[0]).isEqualTo(1.0f);
        // 10000^(-2/64) = 0.7498942
        assertThat(plain[1]).isCloseTo(0.7498942f, within(1e-6f));
        for (int i = 0; i < 32; i++) {
            assertThat(linear[i]).isCloseTo(plain[i] / 4, within(Math.ulp(plain[i])));
        }
    }
}
