package io.trtllm.spring.openai;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.databind.DeserializationContext;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ValueDeserializer;
import tools.jackson.databind.annotation.JsonDeserialize;

/**
 * The body of {@code POST /completions}, as sent (see {@link ChatCompletionRequest} for how it is
 * bound and checked). {@code prompt} is a string, an array of strings, an array of token ids, or an
 * array of those: a batch.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record CompletionRequest(
        @JsonProperty("model") @Nullable String model,
        @JsonProperty("prompt") @NotNull @JsonDeserialize(using = PromptDeserializer.class) @Nullable List<Object> prompt,
        @JsonProperty("stream") @Nullable Boolean stream,
        @JsonProperty("stream_options") ChatCompletionRequest.@Nullable StreamOptions streamOptions,
        @JsonProperty("max_tokens") @Min(1) @Nullable Integer maxTokens,
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
        @JsonProperty("logprobs") @Min(0) @Max(20) @Nullable Integer logprobs,
        @JsonProperty("echo") @Nullable Boolean echo,
        @JsonProperty("suffix") @Nullable JsonNode suffix,
        @JsonProperty("logit_bias") @Nullable JsonNode logitBias,
        @JsonProperty("ignore_eos") @Nullable Boolean ignoreEos,
        @JsonProperty("include_stop_str_in_output") @Nullable Boolean includeStopStrInOutput,
        @JsonProperty("skip_special_tokens") @Nullable Boolean skipSpecialTokens,
        @JsonProperty("response_format") ChatCompletionRequest.@Nullable ResponseFormat responseFormat,
        @JsonProperty("structured_outputs") ChatCompletionRequest.@Nullable StructuredOutputs structuredOutputs,
        @JsonProperty("guided_json") @Nullable JsonNode guidedJson,
        @JsonProperty("guided_regex") @Nullable String guidedRegex,
        @JsonProperty("guided_choice") @Nullable List<@NotNull String> guidedChoice,
        @JsonProperty("guided_grammar") @Nullable String guidedGrammar) implements SamplingFields, GuideFields {

    /**
     * A prompt or a batch of them, to a list whose items are each a {@code String} or an {@code int[]} of
     * token ids. Token ids are JSON integers from 0 to 2^31-1 (whether the vocabulary has them is the
     * engine's check); every refusal names {@code prompt}.
     */
    static final class PromptDeserializer extends ValueDeserializer<List<Object>> {
        private static final String KINDS = "a string, an array of strings, an array of token ids or an array of "
                + "token-id arrays";

        @Override
        public List<Object> deserialize(JsonParser p, DeserializationContext ctxt) {
            JsonToken token = p.currentToken();
            if (token == JsonToken.VALUE_STRING) {
                return List.of(p.getString());
            }
            if (token != JsonToken.START_ARRAY) {
                throw InvalidRequestValue.of(p, "prompt", "'prompt' must be " + KINDS + ", got "
                        + InvalidRequestValue.describe(token) + ".");
            }
            token = p.nextToken();
            if (token == JsonToken.END_ARRAY) {
                throw InvalidRequestValue.of(p, "prompt", "'prompt' must be " + KINDS + ", got an empty array.");
            }
            if (token == JsonToken.VALUE_NUMBER_INT || token == JsonToken.VALUE_NUMBER_FLOAT) {
                return List.of(tokenIds(p, "prompt"));
            }
            List<Object> prompts = new ArrayList<>();
            for (int i = 0; token != JsonToken.END_ARRAY; i++, token = p.nextToken()) {
                if (token == JsonToken.VALUE_STRING) {
                    prompts.add(p.getString());
                } else if (token == JsonToken.START_ARRAY && p.nextToken() != JsonToken.END_ARRAY) {
                    prompts.add(tokenIds(p, "prompt[" + i + "]"));
                } else {
                    throw InvalidRequestValue.of(p, "prompt", "'prompt[" + i + "]' must be a string or a non-empty "
                            + "array of token ids, got " + (token == JsonToken.START_ARRAY ? "an empty array"
                            : InvalidRequestValue.describe(token)) + ".");
                }
            }
            return prompts;
        }

        /** The ids of an array whose first element is the current token, up to its end. */
        private static int[] tokenIds(JsonParser p, String at) {
            List<Integer> ids = new ArrayList<>();
            for (JsonToken token = p.currentToken(); token != JsonToken.END_ARRAY; token = p.nextToken()) {
                int i = ids.size();
                if (token != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                        || p.getLongValue() < 0 || p.getLongValue() > Integer.MAX_VALUE) {
                    String got = token.isScalarValue() ? p.getText() : InvalidRequestValue.describe(token);
                    throw InvalidRequestValue.of(p, "prompt", "'" + at + "[" + i + "]' must be a token id (an integer "
                            + ">= 0), got " + InvalidRequestValue.shorten(got) + ".");
                }
                ids.add(p.getIntValue());
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}
