package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.ModelFormatException;

/**
 * A {@link BuildConfig} as TensorRT-LLM's snake_case {@code build_config} object of an engine's
 * config.json and of the cache key's inputs. Here, not in the record: the file format is the
 * engine's business, and the record sits below every package that reads files.
 */
final class BuildConfigJson {

    private BuildConfigJson() {
    }

    /** The config as a JSON object (fields in declaration order). */
    static ObjectNode write(BuildConfig config) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("max_input_len", config.maxInputLen());
        o.put("max_seq_len", config.maxSeqLen());
        o.put("max_batch_size", config.maxBatchSize());
        o.put("max_num_tokens", config.maxNumTokens());
        o.put("max_beam_width", config.maxBeamWidth());
        o.put("dtype", config.dtypeName());
        o.put("quantization", config.quantization().id());
        o.put("gather_context_logits", config.gatherContextLogits());
        o.put("gather_generation_logits", config.gatherGenerationLogits());
        return o;
    }

    /** Reads {@link #write}'s form; {@code source} names the file in errors. */
    static BuildConfig read(JsonNode node, String source) {
        try {
            return new BuildConfig(integer(node, "max_input_len", source), integer(node, "max_seq_len", source),
                    integer(node, "max_batch_size", source), integer(node, "max_num_tokens", source),
                    integer(node, "max_beam_width", source), Dtype.parse(text(node, "dtype", source)),
                    Quantization.parse(text(node, "quantization", source)),
                    bool(node, "gather_context_logits", source), bool(node, "gather_generation_logits", source));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": build_config: " + e.getMessage(), e);
        }
    }

    private static int integer(JsonNode node, String key, String source) {
        JsonNode v = node.get(key);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new ModelFormatException(source + ": build_config key '" + key + "' must be an integer, got " + v);
        }
        return v.intValue();
    }

    private static String text(JsonNode node, String key, String source) {
        JsonNode v = node.get(key);
        if (v == null || !v.isTextual()) {
            throw new ModelFormatException(source + ": build_config key '" + key + "' must be a string, got " + v);
        }
        return v.asText();
    }

    private static boolean bool(JsonNode node, String key, String source) {
        JsonNode v = node.get(key);
        if (v == null || !v.isBoolean()) {
            throw new ModelFormatException(source + ": build_config key '" + key + "' must be true or false, got " + v);
        }
        return v.booleanValue();
    }
}
