package io.trtllm.spring.openai;

import io.trtllm.api.config.ChatMessage;
import io.trtllm.spring.openai.ChatCompletionRequest.ContentPart;
import io.trtllm.spring.openai.ChatCompletionRequest.Message;
import io.trtllm.spring.openai.OpenAiRequest.Sampling;
import io.trtllm.spring.web.ClientMessages;
import jakarta.validation.ConstraintViolation;
import jakarta.validation.MessageInterpolator;
import jakarta.validation.Path;
import jakarta.validation.Validation;
import jakarta.validation.Validator;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Size;
import java.lang.annotation.Annotation;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonToken;
import tools.jackson.core.exc.InputCoercionException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.cfg.CoercionAction;
import tools.jackson.databind.cfg.CoercionInputShape;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.type.LogicalType;

/**
 * Reads the bodies of {@code /chat/completions} and {@code /completions}: Jackson binds them to
 * {@link ChatCompletionRequest} / {@link CompletionRequest}, Bean Validation checks each field, and a
 * few lines here check what spans fields. Every problem is an {@link OpenAiException} (HTTP 400) whose
 * {@code param} names the field, in OpenAI's words ("Invalid type for 'temperature': expected a
 * number, but got a string instead."). Fields OpenAI defines that this engine cannot honour (tools,
 * logit_bias, non-text response formats, audio, echo, suffix) are refused rather than ignored; fields
 * that change nothing here, and unknown ones, are ignored.
 *
 * <p>Binding is strict where Jackson's defaults are lenient, because a lenient reading of a hostile
 * or mistaken body changes what runs: a string is not a number ({@code "temperature": "2"}), a number
 * is not a string or a boolean, a fraction is not an integer ({@code "n": 2.5} would run with 2). The
 * mapper is the application's ({@code spring.jackson.*} applies) with those coercions turned off.
 */
final class OpenAiRequestReader {
    /** Chat fields with a meaning this engine does not implement, refused when set to anything but null or []. */
    private static final Map<String, Function<ChatCompletionRequest, @Nullable Object>> CHAT_UNSUPPORTED = sorted(Map.of(
            "tools", ChatCompletionRequest::tools, "tool_choice", ChatCompletionRequest::toolChoice,
            "functions", ChatCompletionRequest::functions, "function_call", ChatCompletionRequest::functionCall,
            "logit_bias", ChatCompletionRequest::logitBias, "audio", ChatCompletionRequest::audio,
            "prediction", ChatCompletionRequest::prediction, "web_search_options", ChatCompletionRequest::webSearchOptions));
    private static final Map<String, Function<CompletionRequest, @Nullable Object>> COMPLETION_UNSUPPORTED = sorted(Map.of(
            "logit_bias", CompletionRequest::logitBias, "suffix", CompletionRequest::suffix));

    private final JsonMapper json;
    private final Validator validator;

    /**
     * @param json      the application's mapper (a strict copy is made of it)
     * @param validator checks the records' constraints
     */
    OpenAiRequestReader(JsonMapper json, Validator validator) {
        this.json = json.rebuild()
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .withCoercionConfig(LogicalType.Integer, c -> c.setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail))
                .withCoercionConfig(LogicalType.Float, c -> c.setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail))
                .withCoercionConfig(LogicalType.Boolean, c -> c.setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail))
                .withCoercionConfig(LogicalType.Textual, c -> c.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                        .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail))
                .build();
        this.validator = validator;
    }

    /** A reader with a mapper and a validator of its own (no application context). */
    static OpenAiRequestReader standalone() {
        return new OpenAiRequestReader(JsonMapper.builder().build(), defaultValidator());
    }

    /**
     * A validator that interpolates no messages: every message this API sends is built here from the
     * constraint (or is a constraint's own literal {@code message}), so Hibernate Validator's EL
     * interpolation (and an EL implementation) is not needed.
     */
    static Validator defaultValidator() {
        try (var factory = Validation.byDefaultProvider().configure()
                .messageInterpolator(new LiteralMessages()).buildValidatorFactory()) {
            return factory.getValidator();
        }
    }

    /** A {@code /chat/completions} request. */
    OpenAiRequest chat(byte[] body) {
        ChatCompletionRequest r = read(body, ChatCompletionRequest.class);
        refuse(r, CHAT_UNSUPPORTED, "tool calling and logit_bias are not supported by this server yet");
        var format = r.responseFormat();
        if (format != null && !"text".equals(format.type())) {
            throw OpenAiException.unsupported("response_format", "response_format type '" + format.type()
                    + "' is not supported: only {\"type\": \"text\"}.");
        }
        if (r.modalities() != null) {
            for (String m : r.modalities()) {
                if (!m.equals("text")) {
                    throw OpenAiException.unsupported("modalities", "Only the 'text' modality is supported, got '"
                            + InvalidRequestValue.shorten(m) + "'.");
                }
            }
        }
        List<ChatMessage> messages = messages(r.messages());
        Integer maxTokens = r.maxCompletionTokens();
        String maxTokensParam = "max_completion_tokens";
        if (maxTokens == null) {
            maxTokens = r.maxTokens();
            maxTokensParam = "max_tokens";
        }
        Integer logprobs = null;
        if (Boolean.TRUE.equals(r.logprobs())) {
            logprobs = r.topLogprobs() != null ? r.topLogprobs() : 0;
        } else if (r.topLogprobs() != null) {
            throw OpenAiException.invalid("top_logprobs", "'top_logprobs' needs 'logprobs' set to true.");
        }
        return new OpenAiRequest(true, r.model(), messages, List.of(), stream(r), includeUsage(r),
                sampling(r, maxTokens, maxTokensParam, logprobs));
    }

    /** A {@code /completions} request. */
    OpenAiRequest completion(byte[] body) {
        CompletionRequest r = read(body, CompletionRequest.class);
        refuse(r, COMPLETION_UNSUPPORTED, "this server does not support it yet");
        if (Boolean.TRUE.equals(r.echo())) {
            throw OpenAiException.unsupported("echo", "'echo' is not supported by this server yet: leave it unset or false.");
        }
        return new OpenAiRequest(false, r.model(), List.of(), List.copyOf(r.prompt()), stream(r), includeUsage(r),
                sampling(r, r.maxTokens(), "max_tokens", r.logprobs()));
    }

    /** Message templates as they are written. */
    private static final class LiteralMessages implements MessageInterpolator {
        @Override
        public String interpolate(String template, Context context) {
            return template;
        }

        @Override
        public String interpolate(String template, Context context, java.util.Locale locale) {
            return template;
        }
    }

    // ---- binding and validation ----

    private <T> T read(byte[] body, Class<T> type) {
        if (body.length == 0) {
            throw OpenAiException.invalid(null, "The request body is empty: send a JSON object.");
        }
        T request;
        try {
            request = json.readValue(body, type);
        } catch (JacksonException e) {
            throw bindingError(e);
        }
        if (request == null) {
            throw OpenAiException.invalid(null, "The request body must be a JSON object, got null.");
        }
        Set<ConstraintViolation<T>> violations = validator.validate(request);
        if (!violations.isEmpty()) {
            // The first by field name, so that the same body always gets the same answer.
            ConstraintViolation<T> first = violations.stream()
                    .min(Comparator.comparing(v -> param(v.getPropertyPath()))).orElseThrow();
            throw violation(first);
        }
        return request;
    }

    /** A Jackson failure as OpenAI's 400: not JSON, not an object, or a field of the wrong type. */
    private static OpenAiException bindingError(JacksonException e) {
        if (e instanceof InvalidRequestValue invalid && invalid.expected() == null) {
            return OpenAiException.invalid(invalid.param() != null ? invalid.param() : param(e), invalid.getOriginalMessage());
        }
        String param = e instanceof InvalidRequestValue invalid && invalid.param() != null ? invalid.param() : param(e);
        if (e instanceof InputCoercionException) {
            // A number beyond the field's type (an int past 2^31-1).
            return param.isEmpty() ? OpenAiException.invalid(null, "The request body holds a number out of range.")
                    : OpenAiException.invalid(param, "Invalid '" + param + "': the number is out of range.");
        }
        if (e instanceof StreamReadException) {
            return OpenAiException.invalid(null, "The request body is not valid JSON: "
                    + ClientMessages.sanitize(e.getOriginalMessage()));
        }
        if (e instanceof MismatchedInputException mismatch) {
            JsonToken got = mismatch.getCurrentToken();
            if (param.isEmpty()) {
                return OpenAiException.invalid(null, "The request body must be a JSON object, got "
                        + InvalidRequestValue.describe(got) + ".");
            }
            String expected = mismatch instanceof InvalidRequestValue invalid ? invalid.expected()
                    : expected(mismatch.getTargetType());
            return OpenAiException.invalidType(param, expected, InvalidRequestValue.describe(got));
        }
        return OpenAiException.invalid(param.isEmpty() ? null : param, "The request body could not be read"
                + (param.isEmpty() ? "." : ": '" + param + "' is invalid."));
    }

    /** Jackson's path as OpenAI names a field: {@code messages[0].content}. */
    private static String param(JacksonException e) {
        StringBuilder out = new StringBuilder();
        for (JacksonException.Reference ref : e.getPath()) {
            if (ref.getPropertyName() != null) {
                out.append(out.isEmpty() ? "" : ".").append(ref.getPropertyName());
            } else if (ref.getIndex() >= 0) {
                out.append('[').append(ref.getIndex()).append(']');
            }
        }
        return out.toString();
    }

    private static String expected(@Nullable Class<?> type) {
        if (type == null) {
            return "another type";
        }
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
            return "an integer";
        }
        if (Number.class.isAssignableFrom(type)) {
            return "a number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "a boolean";
        }
        if (type == String.class) {
            return "a string";
        }
        if (List.class.isAssignableFrom(type) || type.isArray()) {
            return "an array";
        }
        return "an object";
    }

    /** A constraint violation as OpenAI's 400, worded from the constraint (never Hibernate's text). */
    private static OpenAiException violation(ConstraintViolation<?> v) {
        String param = param(v.getPropertyPath());
        Annotation constraint = v.getConstraintDescriptor().getAnnotation();
        Object value = v.getInvalidValue();
        String shown = value instanceof BigDecimal d ? d.toString() : String.valueOf(value);
        boolean ownMessage = !v.getMessageTemplate().startsWith("{jakarta.validation");
        String message = switch (constraint) {
            case NotNull n -> "Missing required parameter: '" + param + "'.";
            case Size s -> "'" + param + "' must contain at least " + s.min() + (s.min() == 1 ? " item." : " items.");
            case Min m when !ownMessage -> param.contains("[")
                    ? "'" + param + "' must be at least " + m.value() + ", got " + shown + "."
                    : "Invalid '" + param + "': " + shown + " is less than the minimum of " + m.value() + ".";
            case Max m when !ownMessage -> "Invalid '" + param + "': " + shown + " is greater than the maximum of "
                    + m.value() + ".";
            case DecimalMin m when !ownMessage -> m.inclusive()
                    ? "Invalid '" + param + "': " + shown + " is less than the minimum of " + m.value() + "."
                    : "Invalid '" + param + "': must be greater than " + m.value() + ", got " + shown + ".";
            case DecimalMax m when !ownMessage -> "Invalid '" + param + "': " + shown
                    + " is greater than the maximum of " + readable(m.value()) + ".";
            default -> "Invalid '" + param + "': " + v.getMessage() + ", got " + shown + ".";
        };
        return OpenAiException.invalid(param, message);
    }

    private static String readable(String bound) {
        return new BigDecimal(bound).stripTrailingZeros().toString();
    }

    /**
     * A Bean Validation path as OpenAI names a field: {@code messages[0].content}. The records' JSON names
     * are the snake_case of their components' names (see {@link ChatCompletionRequest}).
     */
    static String param(Path path) {
        StringBuilder out = new StringBuilder();
        for (Path.Node node : path) {
            if (node.getIndex() != null) {
                out.append('[').append(node.getIndex()).append(']');
            }
            if (node.getKind() == jakarta.validation.ElementKind.PROPERTY && node.getName() != null) {
                out.append(out.isEmpty() ? "" : ".").append(snakeCase(node.getName()));
            }
        }
        return out.toString();
    }

    static String snakeCase(String javaName) {
        return javaName.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(java.util.Locale.ROOT);
    }

    // ---- checks across fields ----

    private static <T> void refuse(T request, Map<String, Function<T, @Nullable Object>> fields, String why) {
        for (var field : fields.entrySet()) {
            Object v = field.getValue().apply(request);
            boolean empty = v == null || v instanceof JsonNode n && (n.isNull() || n.isArray() && n.isEmpty())
                    || v instanceof List<?> l && l.isEmpty();
            if (!empty) {
                throw OpenAiException.unsupported(field.getKey(), "'" + field.getKey() + "' is not supported: " + why + ".");
            }
        }
    }

    private static boolean stream(SamplingFields r) {
        return Boolean.TRUE.equals(r.stream());
    }

    private static boolean includeUsage(SamplingFields r) {
        if (r.streamOptions() == null) {
            return false;
        }
        if (!stream(r)) {
            throw OpenAiException.invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
        }
        return Boolean.TRUE.equals(r.streamOptions().includeUsage());
    }

    private static List<ChatMessage> messages(List<Message> messages) {
        List<ChatMessage> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            String at = "messages[" + i + "]";
            Message m = messages.get(i);
            String given = m.role();
            if (given == null) {
                throw OpenAiException.invalid(at + ".role", "Missing or invalid '" + at + ".role': expected one of "
                        + "'system', 'developer', 'user', 'assistant'.");
            }
            String role = switch (given) {
                case "system", "developer" -> "system";
                case "user" -> "user";
                case "assistant" -> "assistant";
                case "tool", "function" -> throw OpenAiException.unsupported(at + ".role",
                        "Tool messages are not supported by this server yet ('" + at + ".role' is '" + given + "').");
                default -> throw OpenAiException.invalid(at + ".role", "Invalid value '" + InvalidRequestValue.shorten(given)
                        + "' for '" + at + ".role': expected one of 'system', 'developer', 'user', 'assistant'.");
            };
            if (m.toolCalls() != null && !m.toolCalls().isEmpty()) {
                throw OpenAiException.unsupported(at + ".tool_calls", "Tool calls are not supported by this server yet.");
            }
            out.add(new ChatMessage(role, content(m.content(), at + ".content", role)));
        }
        return out;
    }

    /** A message's content: a string, or text parts (joined); other parts are refused. */
    private static String content(ChatCompletionRequest.@Nullable MessageContent content, String at, String role) {
        if (content == null) {
            if (role.equals("assistant")) {
                return "";
            }
            throw OpenAiException.invalid(at, "Missing required parameter: '" + at + "'.");
        }
        if (content.text() != null) {
            return content.text();
        }
        StringBuilder text = new StringBuilder();
        List<ContentPart> parts = content.parts() != null ? content.parts() : List.of();
        for (int i = 0; i < parts.size(); i++) {
            ContentPart part = parts.get(i);
            String type = part != null && part.type() != null ? part.type() : "";
            if (!type.equals("text")) {
                throw OpenAiException.unsupported(at + "[" + i + "].type", "Only text content parts are supported, got '"
                        + InvalidRequestValue.shorten(type) + "' in '" + at + "[" + i + "]'.");
            }
            if (part.text() == null) {
                throw OpenAiException.invalid(at + "[" + i + "].text", "Missing or invalid '" + at + "[" + i + "].text'.");
            }
            text.append(part.text());
        }
        return text.toString();
    }

    private static Sampling sampling(SamplingFields r, @Nullable Integer maxTokens, String maxTokensParam,
                                     @Nullable Integer logprobs) {
        int n = r.n() != null ? r.n() : 1;
        if (r.bestOf() != null && r.bestOf() < n) {
            throw OpenAiException.invalid("best_of", "Invalid 'best_of': " + r.bestOf() + " is less than n (" + n + ").");
        }
        if (r.minTokens() != null && maxTokens != null && r.minTokens() > maxTokens) {
            throw OpenAiException.invalid("min_tokens", "Invalid 'min_tokens': " + r.minTokens() + " is greater than '"
                    + maxTokensParam + "' (" + maxTokens + ").");
        }
        List<String> stop = r.stop();
        if (stop != null) {
            // "stop": "" is no stop string, as before; an empty string inside an array is a mistake.
            if (stop.size() == 1 && stop.getFirst().isEmpty()) {
                stop = null;
            } else {
                for (int i = 0; i < stop.size(); i++) {
                    if (stop.get(i).isEmpty()) {
                        throw OpenAiException.invalid("stop", "'stop[" + i + "]' must be a non-empty string, got \"\".");
                    }
                }
                stop = stop.isEmpty() ? null : List.copyOf(stop);
            }
        }
        return new Sampling(toDouble(r.temperature()), toDouble(r.topP()), r.topK(), toDouble(r.minP()), maxTokens,
                maxTokensParam, r.minTokens(), stop, r.stopTokenIds() != null ? List.copyOf(r.stopTokenIds()) : null,
                r.seed(), toDouble(r.presencePenalty()), toDouble(r.frequencyPenalty()), toDouble(r.repetitionPenalty()),
                r.n(), r.bestOf(), logprobs, Boolean.TRUE.equals(r.ignoreEos()),
                Boolean.TRUE.equals(r.includeStopStrInOutput()), !Boolean.FALSE.equals(r.skipSpecialTokens()));
    }

    private static @Nullable Double toDouble(@Nullable BigDecimal value) {
        return value != null ? value.doubleValue() : null;
    }

    private static <T> Map<String, Function<T, @Nullable Object>> sorted(Map<String, Function<T, @Nullable Object>> m) {
        return new TreeMap<>(m);
    }
}
