package io.trtllm.spring.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.spring.openai.OpenAiRequest.Sampling;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Parses and checks request bodies of {@code /chat/completions} and {@code /completions}. Every
 * problem is an {@link OpenAiException} (HTTP 400) whose {@code param} names the field, in OpenAI's
 * words ("Invalid type for 'temperature': expected a number, but got a string instead."). Fields
 * OpenAI defines that this engine cannot honour (tools, logit_bias, non-text response formats, audio,
 * echo, suffix) are refused rather than ignored; fields that change nothing here (user, metadata,
 * store, service_tier, ...) are ignored. Besides OpenAI's fields, vLLM's extra sampling fields are
 * accepted: top_k, min_p, min_tokens, repetition_penalty, stop_token_ids, ignore_eos,
 * include_stop_str_in_output, skip_special_tokens.
 */
final class OpenAiRequestParser {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Chat fields with a meaning this engine does not implement, refused when set to anything but null. */
    private static final Set<String> CHAT_UNSUPPORTED = Set.of("tools", "tool_choice", "functions", "function_call",
            "logit_bias", "audio", "prediction", "web_search_options");
    private static final Set<String> COMPLETION_UNSUPPORTED = Set.of("logit_bias", "suffix");

    private OpenAiRequestParser() {
    }

    /** The body as a JSON object. */
    static JsonNode readObject(byte[] body) {
        if (body.length == 0) {
            throw OpenAiException.invalid(null, "The request body is empty: send a JSON object.");
        }
        JsonNode node;
        try {
            node = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw OpenAiException.invalid(null, "The request body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw OpenAiException.invalid(null, "The request body could not be read: " + e.getMessage());
        }
        if (node == null || !node.isObject()) {
            throw OpenAiException.invalid(null, "The request body must be a JSON object, got " + describe(node) + ".");
        }
        return node;
    }

    /** A {@code /chat/completions} request. */
    static OpenAiRequest chat(JsonNode body) {
        refuse(body, CHAT_UNSUPPORTED, "tool calling and logit_bias are not supported by this server yet");
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull()) {
            String type = format.path("type").asText("");
            if (!type.equals("text")) {
                throw OpenAiException.unsupported("response_format", "response_format type '" + type
                        + "' is not supported: only {\"type\": \"text\"}.");
            }
        }
        JsonNode modalities = body.get("modalities");
        if (modalities != null && modalities.isArray()) {
            for (JsonNode m : modalities) {
                if (!m.asText().equals("text")) {
                    throw OpenAiException.unsupported("modalities", "Only the 'text' modality is supported, got '"
                            + m.asText() + "'.");
                }
            }
        }
        List<ChatMessage> messages = messages(body.get("messages"));
        Integer maxTokens = optInt(body, "max_completion_tokens", 1);
        String maxTokensParam = "max_completion_tokens";
        if (maxTokens == null) {
            maxTokens = optInt(body, "max_tokens", 1);
            maxTokensParam = "max_tokens";
        }
        Integer logprobs = null;
        if (Boolean.TRUE.equals(optBool(body, "logprobs"))) {
            Integer top = optInt(body, "top_logprobs", 0);
            if (top != null && top > 20) {
                throw OpenAiException.invalid("top_logprobs", "Invalid 'top_logprobs': " + top
                        + " is greater than the maximum of 20.");
            }
            logprobs = top != null ? top : 0;
        } else if (optInt(body, "top_logprobs", 0) != null) {
            throw OpenAiException.invalid("top_logprobs", "'top_logprobs' needs 'logprobs' set to true.");
        }
        return new OpenAiRequest(true, model(body), messages, List.of(), stream(body), includeUsage(body),
                sampling(body, maxTokens, maxTokensParam, logprobs));
    }

    /** A {@code /completions} request. */
    static OpenAiRequest completion(JsonNode body) {
        refuse(body, COMPLETION_UNSUPPORTED, "this server does not support it yet");
        if (Boolean.TRUE.equals(optBool(body, "echo"))) {
            throw OpenAiException.unsupported("echo", "'echo' is not supported by this server yet: leave it unset or false.");
        }
        List<Object> prompts = prompts(body.get("prompt"));
        Integer logprobs = optInt(body, "logprobs", 0);
        if (logprobs != null && logprobs > 20) {
            throw OpenAiException.invalid("logprobs", "Invalid 'logprobs': " + logprobs + " is greater than the maximum of 20.");
        }
        return new OpenAiRequest(false, model(body), List.of(), prompts, stream(body), includeUsage(body),
                sampling(body, optInt(body, "max_tokens", 1), "max_tokens", logprobs));
    }

    private static Sampling sampling(JsonNode body, @Nullable Integer maxTokens, String maxTokensParam,
                                     @Nullable Integer logprobs) {
        Double temperature = optNumber(body, "temperature", 0, 2);
        Double topP = optNumber(body, "top_p", 0, 1);
        if (topP != null && topP == 0) {
            throw OpenAiException.invalid("top_p", "Invalid 'top_p': must be greater than 0 (use 'temperature': 0 "
                    + "for greedy decoding), got 0.");
        }
        Integer n = optInt(body, "n", 1);
        Integer bestOf = optInt(body, "best_of", 1);
        if (bestOf != null && bestOf < (n != null ? n : 1)) {
            throw OpenAiException.invalid("best_of", "Invalid 'best_of': " + bestOf + " is less than n ("
                    + (n != null ? n : 1) + ").");
        }
        Integer minTokens = optInt(body, "min_tokens", 0);
        if (minTokens != null && maxTokens != null && minTokens > maxTokens) {
            throw OpenAiException.invalid("min_tokens", "Invalid 'min_tokens': " + minTokens + " is greater than '"
                    + maxTokensParam + "' (" + maxTokens + ").");
        }
        return new Sampling(temperature, topP, optInt(body, "top_k", 0), optNumber(body, "min_p", 0, 1), maxTokens,
                maxTokensParam, minTokens, stop(body.get("stop")), optIntList(body, "stop_token_ids"), optLong(body, "seed"),
                optNumber(body, "presence_penalty", -2, 2), optNumber(body, "frequency_penalty", -2, 2),
                positive(optNumber(body, "repetition_penalty", 0, Double.MAX_VALUE), "repetition_penalty"), n, bestOf,
                logprobs, Boolean.TRUE.equals(optBool(body, "ignore_eos")),
                Boolean.TRUE.equals(optBool(body, "include_stop_str_in_output")),
                !Boolean.FALSE.equals(optBool(body, "skip_special_tokens")));
    }

    private static void refuse(JsonNode body, Set<String> fields, String why) {
        for (String field : fields.stream().sorted().toList()) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
                throw OpenAiException.unsupported(field, "'" + field + "' is not supported: " + why + ".");
            }
        }
    }

    private static @Nullable String model(JsonNode body) {
        JsonNode v = body.get("model");
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw OpenAiException.invalidType("model", "a string", describe(v));
        }
        return v.asText();
    }

    private static boolean stream(JsonNode body) {
        return Boolean.TRUE.equals(optBool(body, "stream"));
    }

    private static boolean includeUsage(JsonNode body) {
        JsonNode options = body.get("stream_options");
        if (options == null || options.isNull()) {
            return false;
        }
        if (!options.isObject()) {
            throw OpenAiException.invalidType("stream_options", "an object", describe(options));
        }
        if (!stream(body)) {
            throw OpenAiException.invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
        }
        JsonNode include = options.get("include_usage");
        if (include == null || include.isNull()) {
            return false;
        }
        if (!include.isBoolean()) {
            throw OpenAiException.invalidType("stream_options.include_usage", "a boolean", describe(include));
        }
        return include.asBoolean();
    }

    private static List<ChatMessage> messages(@Nullable JsonNode node) {
        if (node == null || node.isNull()) {
            throw OpenAiException.invalid("messages", "Missing required parameter: 'messages'.");
        }
        if (!node.isArray()) {
            throw OpenAiException.invalidType("messages", "an array", describe(node));
        }
        if (node.isEmpty()) {
            throw OpenAiException.invalid("messages", "'messages' must contain at least one message.");
        }
        List<ChatMessage> out = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = node.get(i);
            if (!m.isObject()) {
                throw OpenAiException.invalidType(at, "an object", describe(m));
            }
            JsonNode roleNode = m.get("role");
            if (roleNode == null || !roleNode.isTextual()) {
                throw OpenAiException.invalid(at + ".role", "Missing or invalid '" + at + ".role': expected one of "
                        + "'system', 'developer', 'user', 'assistant'.");
            }
            String role = switch (roleNode.asText()) {
                case "system", "developer" -> "system";
                case "user" -> "user";
                case "assistant" -> "assistant";
                case "tool", "function" -> throw OpenAiException.unsupported(at + ".role",
                        "Tool messages are not supported by this server yet ('" + at + ".role' is '" + roleNode.asText() + "').");
                default -> throw OpenAiException.invalid(at + ".role", "Invalid value '" + roleNode.asText() + "' for '"
                        + at + ".role': expected one of 'system', 'developer', 'user', 'assistant'.");
            };
            JsonNode toolCalls = m.get("tool_calls");
            if (toolCalls != null && !toolCalls.isNull() && !(toolCalls.isArray() && toolCalls.isEmpty())) {
                throw OpenAiException.unsupported(at + ".tool_calls", "Tool calls are not supported by this server yet.");
            }
            out.add(new ChatMessage(role, content(m.get("content"), at + ".content", role)));
        }
        return out;
    }

    /** A message's content: a string, or an array of text parts (joined); other parts are refused. */
    private static String content(@Nullable JsonNode node, String at, String role) {
        if (node == null || node.isNull()) {
            if (role.equals("assistant")) {
                return "";
            }
            throw OpenAiException.invalid(at, "Missing required parameter: '" + at + "'.");
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (!node.isArray()) {
            throw OpenAiException.invalidType(at, "a string or an array of content parts", describe(node));
        }
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < node.size(); i++) {
            JsonNode part = node.get(i);
            String type = part.path("type").asText("");
            if (!type.equals("text")) {
                throw OpenAiException.unsupported(at + "[" + i + "].type", "Only text content parts are supported, got '"
                        + type + "' in '" + at + "[" + i + "]'.");
            }
            JsonNode t = part.get("text");
            if (t == null || !t.isTextual()) {
                throw OpenAiException.invalid(at + "[" + i + "].text", "Missing or invalid '" + at + "[" + i + "].text'.");
            }
            text.append(t.asText());
        }
        return text.toString();
    }

    /** A completion prompt: a string, an array of strings, an array of token ids, or an array of those. */
    private static List<Object> prompts(@Nullable JsonNode node) {
        if (node == null || node.isNull()) {
            throw OpenAiException.invalid("prompt", "Missing required parameter: 'prompt'.");
        }
        if (node.isTextual()) {
            return List.of(node.asText());
        }
        if (!node.isArray() || node.isEmpty()) {
            throw OpenAiException.invalid("prompt", "'prompt' must be a string, an array of strings, an array of token "
                    + "ids or an array of token-id arrays, got " + describe(node) + ".");
        }
        if (node.get(0).isNumber()) {
            return List.of(tokenIds(node, "prompt"));
        }
        List<Object> out = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            JsonNode p = node.get(i);
            if (p.isTextual()) {
                out.add(p.asText());
            } else if (p.isArray() && !p.isEmpty()) {
                out.add(tokenIds(p, "prompt[" + i + "]"));
            } else {
                throw OpenAiException.invalid("prompt", "'prompt[" + i + "]' must be a string or a non-empty array of "
                        + "token ids, got " + describe(p) + ".");
            }
        }
        return out;
    }

    private static int[] tokenIds(JsonNode array, String at) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = array.get(i);
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) {
                throw OpenAiException.invalid("prompt", "'" + at + "[" + i + "]' must be a token id (an integer >= 0), got "
                        + id + ".");
            }
            ids[i] = id.asInt();
        }
        return ids;
    }

    private static @Nullable List<String> stop(@Nullable JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText().isEmpty() ? null : List.of(node.asText());
        }
        if (!node.isArray()) {
            throw OpenAiException.invalidType("stop", "a string or an array of strings", describe(node));
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode s = node.get(i);
            if (!s.isTextual() || s.asText().isEmpty()) {
                throw OpenAiException.invalid("stop", "'stop[" + i + "]' must be a non-empty string, got " + s + ".");
            }
            out.add(s.asText());
        }
        return out.isEmpty() ? null : out;
    }

    private static @Nullable List<Integer> optIntList(JsonNode body, String field) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isArray()) {
            throw OpenAiException.invalidType(field, "an array of integers", describe(node));
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode v : node) {
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0) {
                throw OpenAiException.invalid(field, "'" + field + "' must hold token ids (integers >= 0), got " + v + ".");
            }
            out.add(v.asInt());
        }
        return out;
    }

    private static @Nullable Double optNumber(JsonNode body, String field, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isNumber()) {
            throw OpenAiException.invalidType(field, "a number", describe(v));
        }
        double d = v.asDouble();
        if (!Double.isFinite(d) || d < min) {
            throw OpenAiException.invalid(field, "Invalid '" + field + "': " + v + " is less than the minimum of "
                    + format(min) + ".");
        }
        if (d > max) {
            throw OpenAiException.invalid(field, "Invalid '" + field + "': " + v + " is greater than the maximum of "
                    + format(max) + ".");
        }
        return d;
    }

    private static @Nullable Double positive(@Nullable Double value, String field) {
        if (value != null && value <= 0) {
            throw OpenAiException.invalid(field, "Invalid '" + field + "': must be greater than 0, got " + format(value) + ".");
        }
        return value;
    }

    private static @Nullable Integer optInt(JsonNode body, String field, int min) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw OpenAiException.invalidType(field, "an integer", describe(v));
        }
        if (!v.canConvertToInt()) {
            throw OpenAiException.invalid(field, "Invalid '" + field + "': " + v + " is out of range.");
        }
        if (v.asInt() < min) {
            throw OpenAiException.invalid(field, "Invalid '" + field + "': " + v + " is less than the minimum of " + min + ".");
        }
        return v.asInt();
    }

    private static @Nullable Long optLong(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw OpenAiException.invalidType(field, "an integer", describe(v));
        }
        return v.asLong();
    }

    private static @Nullable Boolean optBool(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isBoolean()) {
            throw OpenAiException.invalidType(field, "a boolean", describe(v));
        }
        return v.asBoolean();
    }

    private static String format(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    private static String describe(@Nullable JsonNode node) {
        if (node == null || node.isNull()) {
            return "null";
        }
        JsonNodeType type = node.getNodeType();
        return switch (type) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            default -> type.name().toLowerCase(Locale.ROOT);
        };
    }
}
