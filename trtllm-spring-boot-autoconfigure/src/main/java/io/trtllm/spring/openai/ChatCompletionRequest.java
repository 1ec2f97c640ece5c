package io.trtllm.spring.openai;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Size;
import java.math.BigDecimal;
import java.util.List;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.annotation.JsonDeserialize;

/**
 * The body of {@code POST /chat/completions}, as sent: OpenAI's fields and vLLM's extra sampling
 * fields, bound by Jackson and checked field by field with Bean Validation ({@link OpenAiRequestReader}
 * turns both kinds of failure into 400s naming the field). Each JSON name is the snake_case of the
 * component's name, written out with {@link JsonProperty} so that an application's naming strategy
 * ({@code spring.jackson.property-naming-strategy}) cannot rename the wire format. Fields this record
 * does not declare are ignored (OpenAI adds fields often; {@code user}, {@code metadata}, {@code store}
 * change nothing here). Fields this engine cannot honour ({@code functions}, {@code logit_bias}, ...)
 * are declared so that they are refused by name rather than ignored.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record ChatCompletionRequest(
        @JsonProperty("model") @Nullable String model,
        @JsonProperty("messages") @NotNull @Size(min = 1) List<@NotNull @Valid Message> messages,
        @JsonProperty("stream") @Nullable Boolean stream,
        @JsonProperty("stream_options") @Nullable StreamOptions streamOptions,
        @JsonProperty("max_tokens") @Min(1) @Nullable Integer maxTokens,
        @JsonProperty("max_completion_tokens") @Min(1) @Nullable Integer maxCompletionTokens,
        @JsonProperty("temperature") @DecimalMin("0") @DecimalMax("2") @Nullable BigDecimal temperature,
        @JsonProperty("top_p") @DecimalMin(value = "0", inclusive = false,
                message = "must be greater than 0 (use 'temperature': 0 for greedy decoding)")
        @DecimalMax("1") @Nullable BigDecimal topP,
        @JsonProperty("top_k") @Min(0) @Nullable Integer topK,
        @JsonProperty("min_p") @DecimalMin("0") @DecimalMax("1") @Nullable BigDecimal minP,
        @JsonProperty("min_tokens") @Min(0) @Nullable Integer minTokens,
        @JsonProperty("stop") @JsonFormat(with = JsonFormat.Feature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
        @Nullable List<@NotNull String> stop,
        @JsonProperty("stop_token_ids") @Nullable List<@NotNull @Min(0) Integer> stopTokenIds,
        @JsonProperty("seed") @Nullable Long seed,
        @JsonProperty("presence_penalty") @DecimalMin("-2") @DecimalMax("2") @Nullable BigDecimal presencePenalty,
        @JsonProperty("frequency_penalty") @DecimalMin("-2") @DecimalMax("2") @Nullable BigDecimal frequencyPenalty,
        @JsonProperty("repetition_penalty") @DecimalMin(value = "0", inclusive = false)
        @DecimalMax("1.7976931348623157E+308") @Nullable BigDecimal repetitionPenalty,
        @JsonProperty("n") @Min(1) @Nullable Integer n,
        @JsonProperty("best_of") @Min(1) @Nullable Integer bestOf,
        @JsonProperty("logprobs") @Nullable Boolean logprobs,
        @JsonProperty("top_logprobs") @Min(0) @Max(20) @Nullable Integer topLogprobs,
        @JsonProperty("ignore_eos") @Nullable Boolean ignoreEos,
        @JsonProperty("include_stop_str_in_output") @Nullable Boolean includeStopStrInOutput,
        @JsonProperty("skip_special_tokens") @Nullable Boolean skipSpecialTokens,
        @JsonProperty("response_format") @Nullable ResponseFormat responseFormat,
        @JsonProperty("modalities") @Nullable List<@NotNull String> modalities,
        @JsonProperty("tools") @Nullable List<@NotNull @Valid Tool> tools,
        @JsonProperty("tool_choice") @Nullable JsonNode toolChoice,
        @JsonProperty("parallel_tool_calls") @Nullable Boolean parallelToolCalls,
        @JsonProperty("functions") @Nullable JsonNode functions,
        @JsonProperty("function_call") @Nullable JsonNode functionCall,
        @JsonProperty("logit_bias") @Nullable JsonNode logitBias,
        @JsonProperty("audio") @Nullable JsonNode audio,
        @JsonProperty("prediction") @Nullable JsonNode prediction,
        @JsonProperty("web_search_options") @Nullable JsonNode webSearchOptions,
        @JsonProperty("structured_outputs") @Nullable StructuredOutputs structuredOutputs,
        @JsonProperty("guided_json") @Nullable JsonNode guidedJson,
        @JsonProperty("guided_regex") @Nullable String guidedRegex,
        @JsonProperty("guided_choice") @Nullable List<@NotNull String> guidedChoice,
        @JsonProperty("guided_grammar") @Nullable String guidedGrammar,
        @JsonProperty("chat_template_kwargs") @Nullable JsonNode chatTemplateKwargs)
        implements SamplingFields, GuideFields {

    /**
     * One message of the conversation. {@code role} is OpenAI's: {@code system}, {@code developer},
     * {@code user}, {@code assistant}, {@code tool} (with {@code tool_call_id}); an assistant's message
     * may carry {@code tool_calls} instead of content.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record Message(
            @JsonProperty("role") @Nullable String role,
            @JsonProperty("content") @Nullable @Valid MessageContent content,
            @JsonProperty("name") @Nullable String name,
            @JsonProperty("tool_calls") @Nullable List<@NotNull @Valid ToolCall> toolCalls,
            @JsonProperty("tool_call_id") @Nullable String toolCallId) {
    }

    /**
     * A message's content: a string, or an array of content parts (OpenAI's {@code [{"type": "text",
     * "text": ...}]}); see {@link MessageContent.Deserializer}.
     *
     * @param text  the string, when the content is one
     * @param parts the parts, when the content is an array
     */
    @JsonDeserialize(using = MessageContent.Deserializer.class)
    record MessageContent(@Nullable String text, @Nullable List<@NotNull @Valid ContentPart> parts) {

        /** A string, or an array of parts; anything else is a type error naming the field. */
        static final class Deserializer extends tools.jackson.databind.ValueDeserializer<MessageContent> {
            @Override
            public MessageContent deserialize(tools.jackson.core.JsonParser p,
                                              tools.jackson.databind.DeserializationContext ctxt) {
                return switch (p.currentToken()) {
                    case VALUE_STRING -> new MessageContent(p.getString(), null);
                    case START_ARRAY -> new MessageContent(null, ctxt.readValue(p,
                            ctxt.getTypeFactory().constructCollectionType(List.class, ContentPart.class)));
                    default -> throw InvalidRequestValue.type(p, null, "a string or an array of content parts");
                };
            }
        }
    }

    /** One part of a message's content: {@code {"type": "text", "text": ...}}; other types carry other fields. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record ContentPart(@JsonProperty("type") @Nullable String type, @JsonProperty("text") @Nullable String text) {
    }

    /** A call an assistant made: {@code {"id", "type": "function", "function": {"name", "arguments"}}}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record ToolCall(@JsonProperty("id") @Nullable String id, @JsonProperty("type") @Nullable String type,
                    @JsonProperty("function") @Nullable @Valid FunctionCall function) {
    }

    /** The function of a tool call; {@code arguments} is JSON text, as OpenAI sends it. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record FunctionCall(@JsonProperty("name") @Nullable String name,
                        @JsonProperty("arguments") @Nullable String arguments) {
    }

    /** A tool the model may call: {@code {"type": "function", "function": {...}}}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record Tool(@JsonProperty("type") @Nullable String type,
                @JsonProperty("function") @Nullable @Valid FunctionDefinition function) {
    }

    /** A function the model may call; {@code parameters} is a JSON Schema. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record FunctionDefinition(@JsonProperty("name") @Nullable String name,
                              @JsonProperty("description") @Nullable String description,
                              @JsonProperty("parameters") @Nullable JsonNode parameters,
                              @JsonProperty("strict") @Nullable Boolean strict) {
    }

    /** {@code {"type": "text" | "json_object" | "json_schema", "json_schema": {name, schema, strict, description}}}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record ResponseFormat(@JsonProperty("type") @Nullable String type,
                          @JsonProperty("json_schema") @Nullable @Valid JsonSchemaFormat jsonSchema) {
    }

    /** OpenAI's {@code response_format.json_schema}: the schema is {@code schema}, the rest describes it. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record JsonSchemaFormat(@JsonProperty("name") @Nullable String name,
                            @JsonProperty("description") @Nullable String description,
                            @JsonProperty("schema") @Nullable JsonNode schema,
                            @JsonProperty("strict") @Nullable Boolean strict) {
    }

    /**
     * vLLM's {@code structured_outputs}: one of {@code json} (a schema, as an object or as text),
     * {@code regex}, {@code choice}, {@code grammar} (GBNF), {@code json_object}, {@code structural_tag}
     * (xgrammar's format, as an object or as text); {@code disable_any_whitespace} for the JSON kinds.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record StructuredOutputs(@JsonProperty("json") @Nullable JsonNode json,
                             @JsonProperty("regex") @Nullable String regex,
                             @JsonProperty("choice") @Nullable List<@NotNull String> choice,
                             @JsonProperty("grammar") @Nullable String grammar,
                             @JsonProperty("json_object") @Nullable Boolean jsonObject,
                             @JsonProperty("structural_tag") @Nullable JsonNode structuralTag,
                             @JsonProperty("disable_any_whitespace") @Nullable Boolean disableAnyWhitespace) {
    }

    /** {@code stream_options}: whether a stream ends with a usage chunk. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record StreamOptions(@JsonProperty("include_usage") @Nullable Boolean includeUsage) {
    }
}
