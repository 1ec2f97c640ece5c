package io.trtllm.spring.openai;

import io.trtllm.api.config.ChatMessage;
import io.trtllm.api.config.GuidedDecodingParams;
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
 * number, but got a string instead."). Fields OpenAI defines that this engine cannot honour (the
 * deprecated functions, logit_bias, audio, echo, suffix) are refused rather than ignored; fields
 * that change nothing here, and unknown ones, are ignored. Structured output ({@code response_format},
 * vLLM's {@code structured_outputs} and {@code guided_*}) becomes a guide, tools an {@link OpenAiTools}.
 *
 * <p>Binding is strict where Jackson's defaults are lenient, because a lenient reading of a hostile
 * or mistaken body changes what runs: a string is not a number ({@code "temperature": "2"}), a number
 * is not a string or a boolean, a fraction is not an integer ({@code "n": 2.5} would run with 2). The
 * mapper is the application's ({@code spring.jackson.*} applies) with those coercions turned off.
 */
final class OpenAiRequestReader {
    /** Chat fields with a meaning this engine does not implement, refused when set to anything but null or []. */
    private static final Map<String, Function<ChatCompletionRequest, @Nullable Object>> CHAT_UNSUPPORTED = sorted(Map.of(
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
        refuse(r, CHAT_UNSUPPORTED, "use 'tools' and 'tool_choice' for functions; logit_bias is not supported by "
                + "this server");
        OpenAiRequest.Guide guide = guide(r);
        OpenAiTools tools = tools(r);
        if (guide != null && tools != null && tools.enforced()) {
            throw OpenAiException.invalid("tool_choice", "'tool_choice' " + (tools.named() != null ? "names a function"
                    : "is 'required'") + ", which constrains the reply to tool calls, and '" + guide.param()
                    + "' constrains it too: set only one of them.");
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
                sampling(r, maxTokens, maxTokensParam, logprobs), guide, tools, templateKwargs(r.chatTemplateKwargs()));
    }

    /** A {@code /completions} request. */
    OpenAiRequest completion(byte[] body) {
        CompletionRequest r = read(body, CompletionRequest.class);
        refuse(r, COMPLETION_UNSUPPORTED, "this server does not support it yet");
        if (Boolean.TRUE.equals(r.echo())) {
            throw OpenAiException.unsupported("echo", "'echo' is not supported by this server yet: leave it unset or false.");
        }
        return new OpenAiRequest(false, r.model(), List.of(), List.copyOf(r.prompt()), stream(r), includeUsage(r),
                sampling(r, r.maxTokens(), "max_tokens", r.logprobs()), guide(r), null, Map.of());
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
                case "tool" -> "tool";
                case "function" -> throw OpenAiException.unsupported(at + ".role", "Function messages (deprecated) are "
                        + "not supported: answer tool calls with 'role': 'tool' messages ('" + at + ".role').");
                default -> throw OpenAiException.invalid(at + ".role", "Invalid value '" + InvalidRequestValue.shorten(given)
                        + "' for '" + at + ".role': expected one of 'system', 'developer', 'user', 'assistant', 'tool'.");
            };
            if (m.toolCalls() != null && !m.toolCalls().isEmpty()) {
                if (!role.equals("assistant")) {
                    throw OpenAiException.invalid(at + ".tool_calls", "Only assistant messages have 'tool_calls' ('"
                            + at + ".role' is '" + given + "').");
                }
                out.add(ChatMessage.assistant(content(m.content(), at + ".content", role), toolCalls(m.toolCalls(), at)));
                continue;
            }
            if (role.equals("tool")) {
                String id = m.toolCallId();
                if (id == null || id.isEmpty()) {
                    throw OpenAiException.invalid(at + ".tool_call_id", "Missing required parameter: '" + at
                            + ".tool_call_id' (the id of the call this message answers).");
                }
                checkLength(at + ".tool_call_id", id, MAX_ID);
                if (m.name() != null) {
                    checkLength(at + ".name", m.name(), MAX_ID);
                }
                out.add(ChatMessage.tool(content(m.content(), at + ".content", role), id, m.name()));
                continue;
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

    // ---- tools, structured output, template variables ----

    /** Longest tool call id, tool name in a message, or chat template variable name. */
    static final int MAX_ID = 256;
    /** Most choices of a guided_choice / structured_outputs.choice. */
    static final int MAX_CHOICES = 1024;
    /** Most variables in chat_template_kwargs, and the longest its JSON may be. */
    static final int MAX_TEMPLATE_KWARGS = 32;
    static final int MAX_TEMPLATE_KWARGS_CHARS = 16_384;

    private static void checkLength(String param, String value, int max) {
        if (value.length() > max) {
            throw OpenAiException.invalid(param, "'" + param + "' is too long: " + value.length()
                    + " characters, at most " + max + ".");
        }
    }

    /** An assistant message's calls: each with an id, type function, a name and arguments as a string. */
    private static List<ChatMessage.ToolCall> toolCalls(List<ChatCompletionRequest.ToolCall> calls, String at) {
        List<ChatMessage.ToolCall> out = new ArrayList<>(calls.size());
        for (int i = 0; i < calls.size(); i++) {
            String c = at + ".tool_calls[" + i + "]";
            ChatCompletionRequest.ToolCall call = calls.get(i);
            if (call.id() == null || call.id().isEmpty()) {
                throw OpenAiException.invalid(c + ".id", "Missing required parameter: '" + c + ".id'.");
            }
            checkLength(c + ".id", call.id(), MAX_ID);
            if (call.type() != null && !call.type().equals("function")) {
                throw OpenAiException.invalid(c + ".type", "Invalid value '" + InvalidRequestValue.shorten(call.type())
                        + "' for '" + c + ".type': expected 'function'.");
            }
            var function = call.function();
            if (function == null || function.name() == null || function.name().isBlank()) {
                throw OpenAiException.invalid(c + ".function.name", "Missing required parameter: '" + c
                        + ".function.name'.");
            }
            checkLength(c + ".function.name", function.name(), MAX_ID);
            if (function.arguments() == null) {
                throw OpenAiException.invalid(c + ".function.arguments", "Missing required parameter: '" + c
                        + ".function.arguments' (the arguments as a JSON string).");
            }
            out.add(new ChatMessage.ToolCall(call.id(), function.name(), function.arguments()));
        }
        return out;
    }

    /** {@code tools}, {@code tool_choice} and {@code parallel_tool_calls}; null without tools. */
    private static @Nullable OpenAiTools tools(ChatCompletionRequest r) {
        List<ChatCompletionRequest.Tool> given = r.tools() != null ? r.tools() : List.of();
        JsonNode choice = r.toolChoice();
        boolean choiceSet = choice != null && !choice.isNull();
        if (given.isEmpty()) {
            if (choiceSet) {
                throw OpenAiException.invalid("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.");
            }
            return null;
        }
        if (given.size() > OpenAiTools.MAX_TOOLS) {
            throw OpenAiException.invalid("tools", "Too many tools: " + given.size() + ", at most "
                    + OpenAiTools.MAX_TOOLS + ".");
        }
        List<OpenAiTools.Tool> tools = new ArrayList<>(given.size());
        Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < given.size(); i++) {
            String at = "tools[" + i + "]";
            ChatCompletionRequest.Tool tool = given.get(i);
            if (!"function".equals(tool.type())) {
                throw OpenAiException.invalid(at + ".type", tool.type() == null ? "Missing required parameter: '" + at
                        + ".type'." : "Invalid value '" + InvalidRequestValue.shorten(tool.type()) + "' for '" + at
                        + ".type': expected 'function' (other tool types are not supported).");
            }
            var f = tool.function();
            if (f == null || f.name() == null) {
                throw OpenAiException.invalid(at + ".function.name", "Missing required parameter: '" + at
                        + ".function.name'.");
            }
            if (!OpenAiTools.NAME.matcher(f.name()).matches()) {
                throw OpenAiException.invalid(at + ".function.name", "Invalid '" + at + ".function.name': '"
                        + InvalidRequestValue.shorten(f.name()) + "' does not match '^[a-zA-Z0-9_-]{1,64}$'.");
            }
            if (!names.add(f.name())) {
                throw OpenAiException.invalid(at + ".function.name", "Duplicate function name '" + f.name() + "' in '"
                        + at + ".function.name': each tool needs a name of its own.");
            }
            JsonNode parameters = f.parameters();
            if (parameters == null || parameters.isNull()) {
                parameters = OpenAiResponses.NODES.objectNode().put("type", "object")
                        .set("properties", OpenAiResponses.NODES.objectNode());
            } else if (!parameters.isObject()) {
                throw OpenAiException.invalidType(at + ".function.parameters", "an object (a JSON Schema)",
                        describe(parameters));
            }
            tools.add(new OpenAiTools.Tool(f.name(), f.description(), parameters));
        }
        OpenAiTools.Choice kind = OpenAiTools.Choice.AUTO;
        String named = null;
        if (choiceSet) {
            if (choice.isString()) {
                kind = switch (choice.asString()) {
                    case "none" -> OpenAiTools.Choice.NONE;
                    case "auto" -> OpenAiTools.Choice.AUTO;
                    case "required" -> OpenAiTools.Choice.REQUIRED;
                    default -> throw OpenAiException.invalid("tool_choice", "Invalid value '"
                            + InvalidRequestValue.shorten(choice.asString()) + "' for 'tool_choice': expected 'none', "
                            + "'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}.");
                };
            } else if (choice.isObject()) {
                JsonNode type = choice.get("type");
                if (type == null || !type.isString() || !type.asString().equals("function")) {
                    throw OpenAiException.invalid("tool_choice.type", "Invalid 'tool_choice.type': expected 'function'.");
                }
                JsonNode name = choice.path("function").get("name");
                if (name == null || !name.isString()) {
                    throw OpenAiException.invalid("tool_choice.function.name", "Missing required parameter: "
                            + "'tool_choice.function.name'.");
                }
                named = name.asString();
                if (!names.contains(named)) {
                    throw OpenAiException.invalid("tool_choice.function.name", "'tool_choice' names the function '"
                            + InvalidRequestValue.shorten(named) + "', which is not among 'tools' (" + String.join(", ",
                            tools.stream().map(OpenAiTools.Tool::name).limit(10).toList())
                            + (tools.size() > 10 ? ", ..." : "") + ").");
                }
                kind = OpenAiTools.Choice.NAMED;
            } else {
                throw OpenAiException.invalidType("tool_choice", "a string or an object", describe(choice));
            }
        }
        return new OpenAiTools(tools, kind, named, !Boolean.FALSE.equals(r.parallelToolCalls()));
    }

    /**
     * The one guide of a request: {@code response_format} (json_object, json_schema), vLLM's
     * {@code structured_outputs} (json, regex, choice, grammar, json_object, structural_tag) or a legacy
     * {@code guided_*} field; null for none. JSON guides write compact JSON unless
     * {@code structured_outputs.disable_any_whitespace} is false (whitespace only spends tokens, and small
     * models spend all of theirs on it).
     */
    private static OpenAiRequest.@Nullable Guide guide(GuideFields r) {
        List<OpenAiRequest.Guide> guides = new ArrayList<>();
        var format = r.responseFormat();
        if (format != null) {
            String type = format.type() == null ? "" : format.type();
            switch (type) {
                case "text" -> { }
                case "json_object" -> guides.add(new OpenAiRequest.Guide(GuidedDecodingParams.jsonObject(), "response_format"));
                case "json_schema" -> {
                    var js = format.jsonSchema();
                    if (js == null) {
                        throw OpenAiException.invalid("response_format.json_schema", "Missing required parameter: "
                                + "'response_format.json_schema'.");
                    }
                    if (js.name() == null || !OpenAiTools.NAME.matcher(js.name()).matches()) {
                        throw OpenAiException.invalid("response_format.json_schema.name", js.name() == null
                                ? "Missing required parameter: 'response_format.json_schema.name'."
                                : "Invalid 'response_format.json_schema.name': '" + InvalidRequestValue.shorten(js.name())
                                + "' does not match '^[a-zA-Z0-9_-]{1,64}$'.");
                    }
                    JsonNode schema = js.schema();
                    if (schema == null || schema.isNull()) {
                        throw OpenAiException.invalid("response_format.json_schema.schema", "Missing required parameter: "
                                + "'response_format.json_schema.schema'.");
                    }
                    if (!schema.isObject() && !schema.isBoolean()) {
                        throw OpenAiException.invalidType("response_format.json_schema.schema", "an object (a JSON Schema)",
                                describe(schema));
                    }
                    guides.add(new OpenAiRequest.Guide(GuidedDecodingParams.json(schema.toString()), "response_format"));
                }
                case "" -> throw OpenAiException.invalid("response_format.type", "Missing required parameter: "
                        + "'response_format.type'.");
                default -> throw OpenAiException.invalid("response_format.type", "Invalid value '"
                        + InvalidRequestValue.shorten(type) + "' for 'response_format.type': expected 'text', "
                        + "'json_object' or 'json_schema'.");
            }
        }
        boolean compact = true;
        var so = r.structuredOutputs();
        if (so != null) {
            if (so.json() != null && !so.json().isNull()) {
                guides.add(new OpenAiRequest.Guide(GuidedDecodingParams.json(schemaText(so.json(),
                        "structured_outputs.json")), "structured_outputs.json"));
            }
            if (so.regex() != null) {
                guides.add(new OpenAiRequest.Guide(guideOf("structured_outputs.regex",
                        () -> GuidedDecodingParams.regex(so.regex())), "structured_outputs.regex"));
            }
            if (so.choice() != null) {
                guides.add(new OpenAiRequest.Guide(choice(so.choice(), "structured_outputs.choice"),
                        "structured_outputs.choice"));
            }
            if (so.grammar() != null) {
                guides.add(new OpenAiRequest.Guide(guideOf("structured_outputs.grammar",
                        () -> GuidedDecodingParams.grammar(so.grammar())), "structured_outputs.grammar"));
            }
            if (Boolean.TRUE.equals(so.jsonObject())) {
                guides.add(new OpenAiRequest.Guide(GuidedDecodingParams.jsonObject(), "structured_outputs.json_object"));
            }
            if (so.structuralTag() != null && !so.structuralTag().isNull()) {
                JsonNode tag = so.structuralTag();
                String text = tag.isString() ? tag.asString() : tag.toString();
                guides.add(new OpenAiRequest.Guide(guideOf("structured_outputs.structural_tag",
                        () -> GuidedDecodingParams.structuralTag(text)), "structured_outputs.structural_tag"));
            }
            compact = !Boolean.FALSE.equals(so.disableAnyWhitespace());
        }
        if (r.guidedJson() != null && !r.guidedJson().isNull()) {
            guides.add(new OpenAiRequest.Guide(GuidedDecodingParams.json(schemaText(r.guidedJson(), "guided_json")),
                    "guided_json"));
        }
        if (r.guidedRegex() != null) {
            guides.add(new OpenAiRequest.Guide(guideOf("guided_regex", () -> GuidedDecodingParams.regex(r.guidedRegex())),
                    "guided_regex"));
        }
        if (r.guidedChoice() != null) {
            guides.add(new OpenAiRequest.Guide(choice(r.guidedChoice(), "guided_choice"), "guided_choice"));
        }
        if (r.guidedGrammar() != null) {
            guides.add(new OpenAiRequest.Guide(guideOf("guided_grammar",
                    () -> GuidedDecodingParams.grammar(r.guidedGrammar())), "guided_grammar"));
        }
        if (guides.size() > 1) {
            throw OpenAiException.invalid(guides.get(1).param(), "Only one kind of structured output per request: '"
                    + guides.get(0).param() + "' and '" + guides.get(1).param() + "' are both set.");
        }
        if (guides.isEmpty()) {
            return null;
        }
        OpenAiRequest.Guide g = guides.getFirst();
        return new OpenAiRequest.Guide(g.params().withCompactWhitespace(compact), g.param());
    }

    private static String schemaText(JsonNode schema, String param) {
        if (schema.isString()) {
            return guideOf(param, () -> GuidedDecodingParams.json(schema.asString())).text();
        }
        if (!schema.isObject() && !schema.isBoolean()) {
            throw OpenAiException.invalidType(param, "an object (a JSON Schema) or a string", describe(schema));
        }
        return schema.toString();
    }

    private static GuidedDecodingParams choice(List<String> choices, String param) {
        if (choices.isEmpty()) {
            throw OpenAiException.invalid(param, "'" + param + "' must contain at least 1 item.");
        }
        if (choices.size() > MAX_CHOICES) {
            throw OpenAiException.invalid(param, "'" + param + "' has " + choices.size() + " items, at most "
                    + MAX_CHOICES + ".");
        }
        return GuidedDecodingParams.choice(choices);
    }

    /** A guide's constructor's refusal (a blank pattern, say) as a 400 naming the field. */
    private static GuidedDecodingParams guideOf(String param, java.util.function.Supplier<GuidedDecodingParams> make) {
        try {
            return make.get();
        } catch (IllegalArgumentException e) {
            throw OpenAiException.invalid(param, "Invalid '" + param + "': " + e.getMessage() + ".");
        }
    }

    /**
     * {@code chat_template_kwargs} (vLLM's): an object of at most {@value #MAX_TEMPLATE_KWARGS} variables, as plain
     * Java values for the template ({@code enable_thinking: false} for Qwen3). {@code messages},
     * {@code add_generation_prompt} and {@code tools} are set by the server and refused here.
     */
    private Map<String, Object> templateKwargs(@Nullable JsonNode kwargs) {
        if (kwargs == null || kwargs.isNull()) {
            return Map.of();
        }
        if (!kwargs.isObject()) {
            throw OpenAiException.invalidType("chat_template_kwargs", "an object", describe(kwargs));
        }
        if (kwargs.size() > MAX_TEMPLATE_KWARGS) {
            throw OpenAiException.invalid("chat_template_kwargs", "'chat_template_kwargs' has " + kwargs.size()
                    + " variables, at most " + MAX_TEMPLATE_KWARGS + ".");
        }
        if (kwargs.toString().length() > MAX_TEMPLATE_KWARGS_CHARS) {
            throw OpenAiException.invalid("chat_template_kwargs", "'chat_template_kwargs' is too large: at most "
                    + MAX_TEMPLATE_KWARGS_CHARS + " characters of JSON.");
        }
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        for (var e : kwargs.properties()) {
            String name = e.getKey();
            if (name.isEmpty() || name.length() > 64 || !name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw OpenAiException.invalid("chat_template_kwargs", "Invalid variable name '"
                        + InvalidRequestValue.shorten(name) + "' in 'chat_template_kwargs': expected an identifier.");
            }
            if (Set.of("messages", "add_generation_prompt", "tools").contains(name)) {
                throw OpenAiException.invalid("chat_template_kwargs." + name, "'chat_template_kwargs." + name
                        + "' is set by the server" + (name.equals("tools") ? ": send the tools in 'tools'." : "."));
            }
            Object value = plain(e.getValue());
            if (value != null) { // null: the variable stays unset, as a template reads a missing one
                out.put(name, value);
            }
        }
        return out;
    }

    /** A JSON value as plain Java values (maps, lists, strings, numbers, booleans; null for JSON null), as templates read them. */
    @Nullable Object plain(JsonNode node) {
        return json.treeToValue(node, Object.class);
    }

    private static String describe(JsonNode node) {
        return switch (node.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            case ARRAY -> "an array";
            default -> "an object";
        };
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
