package io.trtllm.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * The blueprint of a decoder-only transformer of the Llama family, read from a Hugging Face
 * {@code config.json}. One record covers Llama 2/3/3.1/3.2, Mistral, Qwen2/2.5 and Qwen3: they
 * differ only in the flags below.
 *
 * @param modelType             {@code llama}, {@code mistral}, {@code qwen2} or {@code qwen3}
 * @param vocabSize             rows of the embedding and of the LM head
 * @param hiddenSize            model width ({@code dim})
 * @param intermediateSize      width of the SiLU-gated MLP
 * @param numLayers             decoder layers
 * @param numHeads              query heads
 * @param numKvHeads            key/value heads (GQA when fewer than query heads)
 * @param headDim               width of one head; Qwen3 sets it explicitly, else hidden / heads
 * @param maxPositionEmbeddings longest sequence the model supports
 * @param rmsNormEps            epsilon of every RMSNorm
 * @param ropeTheta             RoPE base
 * @param ropeScaling           RoPE frequency scaling, or null
 * @param tieWordEmbeddings     whether the LM head reuses the embedding matrix
 * @param attentionBias         whether q/k/v projections have a bias (Qwen2; Llama's attention_bias)
 * @param outputBias            whether the o projection has a bias (Llama's attention_bias)
 * @param qkNorm                whether q and k are RMS-normalized per head before RoPE (Qwen3)
 * @param slidingWindow         attention window in tokens, or null for full causal attention
 * @param bosTokenId            beginning-of-sequence id, or null
 * @param eosTokenIds           end-of-sequence ids (may be empty)
 * @param torchDtype            dtype the checkpoint was saved in, or null when not stated
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        @Nullable RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        boolean outputBias,
        boolean qkNorm,
        @Nullable Integer slidingWindow,
        @Nullable Integer bosTokenId,
        List<Integer> eosTokenIds,
        @Nullable DType torchDtype) {

    /** The {@code model_type} values this engine runs. */
    public static final List<String> SUPPORTED_MODEL_TYPES = List.of("llama", "mistral", "qwen2", "qwen3");

    private static final ObjectMapper JSON = new ObjectMapper();

    public ModelConfig {
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("num_key_value_heads", numKvHeads);
        positive("head_dim", headDim);
        positive("max_position_embeddings", maxPositionEmbeddings);
        // The runner sizes its buffers with int products of these; refuse what would overflow them.
        product("num_attention_heads", numHeads, "head_dim", headDim);
        product("num_key_value_heads", numKvHeads, "head_dim", headDim);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numHeads
                    + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be even for rotary embeddings, got " + headDim);
        }
        if (!(rmsNormEps > 0) || Double.isInfinite(rmsNormEps)) {
            throw new IllegalArgumentException("rms_norm_eps must be finite and > 0, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException("rope_theta must be finite and > 0, got " + ropeTheta);
        }
        if (slidingWindow != null) {
            positive("sliding_window", slidingWindow);
        }
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    private static void product(String aKey, int a, String bKey, int b) {
        if ((long) a * b > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(aKey + " " + a + " × " + bKey + " " + b + " = " + (long) a * b
                    + " exceeds " + Integer.MAX_VALUE);
        }
    }

    private static void positive(String key, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(key + " must be > 0, got " + value);
        }
    }

    /** Width of all key (or value) heads together. */
    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** Width of all query heads together. */
    public int qDim() {
        return numHeads * headDim;
    }

    /** Reads {@code config.json} in a model directory (or the file itself). */
    public static ModelConfig load(Path configJsonOrDir) {
        Path file = Files.isDirectory(configJsonOrDir) ? configJsonOrDir.resolve("config.json") : configJsonOrDir;
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new ModelFormatException(file + ": not found (a Hugging Face model directory has a config.json)", e);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": expected a JSON object");
        }
        return parse(root, file.toString());
    }

    /** Builds a config from the parsed JSON of a config.json; {@code source} names it in errors. */
    public static ModelConfig parse(JsonNode root, String source) {
        Reader r = new Reader(root, source);
        String modelType = r.string("model_type", null);
        if (modelType == null) {
            throw new ModelFormatException(source + ": key 'model_type' is missing; supported: "
                    + String.join(", ", SUPPORTED_MODEL_TYPES));
        }
        if (!SUPPORTED_MODEL_TYPES.contains(modelType)) {
            throw new ModelFormatException(source + ": model_type '" + modelType + "' is not supported; supported: "
                    + String.join(", ", SUPPORTED_MODEL_TYPES));
        }
        JsonNode quantized = root.get("quantization_config");
        if (quantized != null && !quantized.isNull()) {
            // Pre-quantized checkpoints (AWQ, GPTQ, FP8, bitsandbytes...) hold packed integer tensors this engine
            // cannot read yet: say so, rather than fail later on a missing weight.
            throw new ModelFormatException(source + ": quantization_config (quant_method '"
                    + quantized.path("quant_method").asText("unknown") + "') marks a pre-quantized checkpoint, which is "
                    + "not supported yet; use the original float16/bfloat16/float32 checkpoint, and quantize it at engine "
                    + "build with quantization int8 or int4");
        }
                String act = r.string("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ModelFormatException(source + ": hidden_act '" + act + "' is not supported; supported: silu");
        }
        int hidden = r.integer("hidden_size", null);
        int heads = r.integer("num_attention_heads", null);
        if (heads <= 0) {
            // checked here, not only in the constructor: head_dim below divides by it
            throw new ModelFormatException(source + ": num_attention_heads must be > 0, got " + heads);
        }
        int kvHeads = r.integer("num_key_value_heads", heads);
        Integer explicitHeadDim = r.optionalInteger("head_dim");
        int headDim = explicitHeadDim != null ? explicitHeadDim : hidden / heads;
        if (explicitHeadDim == null && hidden % heads != 0) {
            throw new ModelFormatException(source + ": hidden_size " + hidden
                    + " is not a multiple of num_attention_heads " + heads + " and head_dim is not given");
        }
        boolean qwen2 = modelType.equals("qwen2");
        boolean llamaBias = r.bool("attention_bias", false);
        boolean attentionBias = qwen2 || llamaBias;
        boolean outputBias = !qwen2 && llamaBias;
        if (r.bool("mlp_bias", false)) {
            throw new ModelFormatException(source + ": mlp_bias true is not supported");
        }

        // transformers 5 writes rope_parameters {rope_type, rope_theta, ...}; 4.x writes rope_theta + rope_scaling.
        JsonNode ropeParams = root.get("rope_parameters");
        JsonNode ropeScalingNode = root.get("rope_scaling");
        double theta = r.number("rope_theta", 10000.0);
        if (ropeParams != null && ropeParams.isObject()) {
            theta = new Reader(ropeParams, source + " rope_parameters").number("rope_theta", theta);
        }
        JsonNode scalingNode = ropeScalingNode != null && !ropeScalingNode.isNull() ? ropeScalingNode : ropeParams;
        RopeScaling scaling = parseRopeScaling(scalingNode, source);

        Integer slidingWindow = null;
        boolean slidingUsed = switch (modelType) {
            case "mistral" -> true;
            case "qwen2", "qwen3" -> r.bool("use_sliding_window", false);
            default -> false;
        };
        if (slidingUsed) {
            slidingWindow = r.optionalInteger("sliding_window");
            // Qwen2/Qwen3 window only the layers from max_window_layers on; this engine applies one
            // window to all layers, so refuse what it would compute wrongly.
            Integer maxWindowLayers = r.optionalInteger("max_window_layers");
            int layers = r.integer("num_hidden_layers", null);
            if (slidingWindow != null && !modelType.equals("mistral") && maxWindowLayers != null
                    && maxWindowLayers > 0 && maxWindowLayers < layers) {
                throw new ModelFormatException(source + ": use_sliding_window with max_window_layers " + maxWindowLayers
                        + " < num_hidden_layers " + layers + " (a window on some layers only) is not supported");
            }
        }

        List<Integer> eos = new ArrayList<>();
        JsonNode eosNode = root.get("eos_token_id");
        if (eosNode != null && eosNode.isArray()) {
            for (JsonNode n : eosNode) {
                if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 0) {
                    throw new ModelFormatException(source + ": key 'eos_token_id' must hold token ids, got " + eosNode);
                }
                eos.add(n.intValue());
            }
        } else if (eosNode != null && !eosNode.isNull()) {
            int id = r.integer("eos_token_id", null);
            if (id < 0) {
                throw new ModelFormatException(source + ": key 'eos_token_id' must be >= 0, got " + id);
            }
            eos.add(id);
        }

        DType dtype = null;
        String dtypeName = r.string("torch_dtype", r.string("dtype", null));
        if (dtypeName != null) {
            dtype = switch (dtypeName.toLowerCase(Locale.ROOT)) {
                case "float32" -> DType.F32;
                case "float16" -> DType.F16;
                case "bfloat16" -> DType.BF16;
                default -> throw new ModelFormatException(source + ": torch_dtype '" + dtypeName
                        + "' is not supported; supported: float32, float16, bfloat16");
            };
        }

        try {
            return new ModelConfig(
                    modelType,
                    r.integer("vocab_size", null),
                    hidden,
                    r.integer("intermediate_size", null),
                    r.integer("num_hidden_layers", null),
                    heads,
                    kvHeads,
                    headDim,
                    r.integer("max_position_embeddings", 2048),
                    r.number("rms_norm_eps", 1e-6),
                    theta,
                    scaling,
                    r.bool("tie_word_embeddings", false),
                    attentionBias,
                    outputBias,
                    modelType.equals("qwen3"),
                    slidingWindow,
                    r.optionalInteger("bos_token_id"),
                    eos,
                    dtype);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private static @Nullable RopeScaling parseRopeScaling(@Nullable JsonNode node, String source) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isObject()) {
            throw new ModelFormatException(source + ": rope_scaling must be an object, got " + node);
        }
        Reader r = new Reader(node, source + " rope_scaling");
        String type = r.string("rope_type", r.string("type", "default"));
        if (type.equals("default")) {
            return null;
        }
        if (!type.equals(RopeScaling.LINEAR) && !type.equals(RopeScaling.LLAMA3)) {
            throw new ModelFormatException(source + ": rope_scaling type '" + type
                    + "' is not supported; supported: default, linear, llama3");
        }
        try {
            return new RopeScaling(
                    type,
                    r.number("factor", null),
                    type.equals(RopeScaling.LLAMA3) ? r.number("low_freq_factor", null) : 0,
                    type.equals(RopeScaling.LLAMA3) ? r.number("high_freq_factor", null) : 0,
                    type.equals(RopeScaling.LLAMA3) ? r.integer("original_max_position_embeddings", null) : 0);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    /** Typed access to a JSON object with errors that name the file and key. */
    private record Reader(JsonNode node, String source) {
        @Nullable String string(String key, @Nullable String dflt) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isTextual()) {
                throw new ModelFormatException(source + ": key '" + key + "' must be a string, got " + v);
            }
            return v.asText();
        }

        int integer(String key, @Nullable Integer dflt) {
            Integer v = optionalInteger(key);
            if (v != null) {
                return v;
            }
            if (dflt == null) {
                throw new ModelFormatException(source + ": required key '" + key + "' is missing");
            }
            return dflt;
        }

        @Nullable Integer optionalInteger(String key) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) {
                return null;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw new ModelFormatException(source + ": key '" + key + "' must be an integer, got " + v);
            }
            return v.intValue();
        }

        double number(String key, @Nullable Double dflt) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) {
                if (dflt == null) {
                    throw new ModelFormatException(source + ": required key '" + key + "' is missing");
                }
                return dflt;
            }
            if (!v.isNumber()) {
                throw new ModelFormatException(source + ": key '" + key + "' must be a number, got " + v);
            }
            if (!Double.isFinite(v.doubleValue())) {
                // 1e999 parses as infinity: not a value any config means.
                throw new ModelFormatException(source + ": key '" + key + "' must be a finite number, got " + v);
            }
            return v.doubleValue();
        }

        boolean bool(String key, boolean dflt) {
            JsonNode v = node.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isBoolean()) {
                throw new ModelFormatException(source + ": key '" + key + "' must be true or false, got " + v);
            }
            return v.booleanValue();
        }
    }
}
