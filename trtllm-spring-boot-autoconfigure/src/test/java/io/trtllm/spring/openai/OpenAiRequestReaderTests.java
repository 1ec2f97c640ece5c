package io.trtllm.spring.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.ChatMessage;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Request bodies to requests and sampling parameters, and the 400s that name the field. */
class OpenAiRequestReaderTests {
    private static final OpenAiRequestReader READER = OpenAiRequestReader.standalone();


    private static OpenAiRequest chat(String json) {
        return READER.chat(json.getBytes(StandardCharsets.UTF_8));
    }

    private static OpenAiRequest completion(String json) {
        return READER.completion(json.getBytes(StandardCharsets.UTF_8));
    }

    private static void assertInvalid(Runnable parse, String param) {
        assertThatThrownBy(parse::run).isInstanceOfSatisfying(OpenAiException.class, e -> {
            assertThat(e.status()).isEqualTo(400);
            assertThat(e.param()).isEqualTo(param);
            assertThat(e.getMessage()).contains(param.replaceAll("\\[.*", ""));
        });
    }

    @Test
    void messagesWithTextPartsAndADeveloperRole() {
        OpenAiRequest r = chat("""
                {"model": "m", "messages": [
                  {"role": "developer", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "text", "text": "Once "}, {"type": "text", "text": "upon"}]},
                  {"role": "assistant", "content": null}]}""");

        assertThat(r.chat()).isTrue();
        assertThat(r.model()).isEqualTo("m");
        assertThat(r.messages()).containsExactly(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Once upon"),
                new ChatMessage("assistant", ""));
        assertThat(r.stream()).isFalse();
    }

    @Test
    void samplingFieldsMapToSamplingParamsOverTheDefaults() {
        OpenAiRequest r = chat("""
                {"messages": [{"role": "user", "content": "hi"}], "top_p": 0.9, "max_completion_tokens": 7,
                 "max_tokens": 99, "stop": "END", "seed": 42, "presence_penalty": 0.5, "frequency_penalty": -0.5,
                 "logprobs": true, "top_logprobs": 3, "top_k": 40, "repetition_penalty": 1.1}""");
        var defaults = TrtLlmChatOptions.builder().temperature(0.3).topP(1.0).stopSequences(List.of("x")).build();

        SamplingParams p = r.sampling().toParams(defaults, r.sampling().maxTokens());

        assertThat(p.maxTokens()).isEqualTo(7); // max_completion_tokens wins over the deprecated max_tokens
        assertThat(p.temperature()).isEqualTo(0.3f); // unset: the default
        assertThat(p.topP()).isEqualTo(0.9f);
        assertThat(p.topK()).isEqualTo(40);
        assertThat(p.stop()).containsExactly("END");
        assertThat(p.seed()).isEqualTo(42L);
        assertThat(p.presencePenalty()).isEqualTo(0.5f);
        assertThat(p.frequencyPenalty()).isEqualTo(-0.5f);
        assertThat(p.repetitionPenalty()).isEqualTo(1.1f);
        assertThat(p.logprobs()).isEqualTo(3);
    }

    @Test
    void completionPromptsMayBeTextTokenIdsOrABatch() {
        assertThat(completion("{\"prompt\": \"a\"}").prompts()).containsExactly("a");
        assertThat(completion("{\"prompt\": [1, 2, 3]}").prompts()).singleElement()
                .isInstanceOfSatisfying(int[].class, ids -> assertThat(ids).containsExactly(1, 2, 3));
        assertThat(completion("{\"prompt\": [\"a\", [4, 5]]}").prompts()).hasSize(2);
        OpenAiRequest streamed = completion("""
                {"prompt": "a", "stream": true, "stream_options": {"include_usage": true}, "n": 1, "logprobs": 2}""");
        assertThat(streamed.stream()).isTrue();
        assertThat(streamed.includeUsage()).isTrue();
        assertThat(streamed.sampling().logprobs()).isEqualTo(2);
    }

    @Test
    void invalidFieldsAreNamed() {
        assertInvalid(() -> chat("{}"), "messages");
        assertInvalid(() -> chat("{\"messages\": \"hi\"}"), "messages");
        assertInvalid(() -> chat("{\"messages\": [{\"role\": \"user\"}]}"), "messages[0].content");
        assertInvalid(() -> chat("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}"),
                "messages[0].content[0].type");
        assertInvalid(() -> chat("{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}"), "messages[0].tool_call_id");
        assertInvalid(() -> chat("{\"messages\": [{\"role\": \"function\", \"content\": \"x\"}]}"), "messages[0].role");
        String hi = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
        assertInvalid(() -> chat("{" + hi + ", \"temperature\": 2.5}"), "temperature");
        assertInvalid(() -> chat("{" + hi + ", \"top_p\": 0}"), "top_p");
        assertInvalid(() -> chat("{" + hi + ", \"n\": 0}"), "n");
        assertInvalid(() -> chat("{" + hi + ", \"seed\": 1.5}"), "seed");
        assertInvalid(() -> chat("{" + hi + ", \"stop\": 3}"), "stop");
        assertInvalid(() -> chat("{" + hi + ", \"top_logprobs\": 2}"), "top_logprobs");
        assertInvalid(() -> chat("{" + hi + ", \"stream_options\": {\"include_usage\": true}}"), "stream_options");
        assertInvalid(() -> chat("{" + hi + ", \"response_format\": {\"type\": \"xml\"}}"), "response_format.type");
        assertInvalid(() -> chat("{" + hi + ", \"logit_bias\": {\"1\": 5}}"), "logit_bias");
        assertInvalid(() -> chat("{" + hi + ", \"model\": 5}"), "model");
        assertInvalid(() -> completion("{}"), "prompt");
        assertInvalid(() -> completion("{\"prompt\": [1, -2]}"), "prompt");
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"echo\": true}"), "echo");
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"n\": 3, \"best_of\": 2}"), "best_of");
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"max_tokens\": 4, \"min_tokens\": 5}"), "min_tokens");
    }

    @Test
    void theEnginesOwnRefusalsNameTheField() {
        OpenAiRequest r = completion("{\"prompt\": \"a\", \"temperature\": 0, \"n\": 2}");

        assertThatThrownBy(() -> r.sampling().toParams(TrtLlmChatOptions.builder().build(), 8))
                .isInstanceOfSatisfying(OpenAiException.class, e -> assertThat(e.param()).isEqualTo("n"));
    }

    @Test
    void bodiesThatAreNotJsonObjectsAreRefused() {
        for (var endpoint : List.<java.util.function.Function<byte[], OpenAiRequest>>of(READER::chat, READER::completion)) {
            assertThatThrownBy(() -> endpoint.apply(new byte[0])).isInstanceOf(OpenAiException.class)
                    .hasMessageContaining("empty");
            assertThatThrownBy(() -> endpoint.apply("[1]".getBytes(StandardCharsets.UTF_8)))
                    .isInstanceOf(OpenAiException.class).hasMessageContaining("JSON object");
            assertThatThrownBy(() -> endpoint.apply("{\"a\":".getBytes(StandardCharsets.UTF_8)))
                    .isInstanceOf(OpenAiException.class).hasMessageContaining("not valid JSON");
        }
    }

    @Test
    void typesAreStrictWhereJacksonWouldCoerce() {
        String hi = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
        // A string is not a number, a fraction not an integer, a number not a string or a boolean.
        assertThatThrownBy(() -> chat("{" + hi + ", \"temperature\": \"0.5\"}")).isInstanceOfSatisfying(
                OpenAiException.class, e -> {
                    assertThat(e.param()).isEqualTo("temperature");
                    assertThat(e.code()).isEqualTo("invalid_type");
                    assertThat(e.getMessage()).isEqualTo(
                            "Invalid type for 'temperature': expected a number, but got a string instead.");
                });
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"n\": 2.0}"), "n");
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"max_tokens\": \"\"}"), "max_tokens");
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"stream\": 1}"), "stream");
        assertInvalid(() -> completion("{\"prompt\": \"a\", \"ignore_eos\": \"true\"}"), "ignore_eos");
        assertInvalid(() -> chat("{\"messages\": [{\"role\": 1, \"content\": \"hi\"}]}"), "messages[0].role");
        assertInvalid(() -> chat("{\"messages\": [{\"role\": \"user\", \"content\": 7}]}"), "messages[0].content");
        assertInvalid(() -> chat("{" + hi + ", \"stop\": [\"a\", 3]}"), "stop[1]");
        assertInvalid(() -> chat("{" + hi + ", \"stop_token_ids\": [1, -1]}"), "stop_token_ids[1]");
        assertInvalid(() -> chat("{" + hi + ", \"stream\": true, \"stream_options\": {\"include_usage\": 1}}"),
                "stream_options.include_usage");
        assertInvalid(() -> chat("{" + hi + ", \"n\": 2147483648}"), "n");
        // Bounds are checked on the number as sent: 1e400 is no infinity, and is quoted back.
        assertThatThrownBy(() -> chat("{" + hi + ", \"temperature\": 1e400}")).isInstanceOfSatisfying(
                OpenAiException.class, e -> assertThat(e.getMessage())
                        .isEqualTo("Invalid 'temperature': 1E+400 is greater than the maximum of 2."));
    }

    @Test
    void unknownFieldsAndFieldsThatChangeNothingAreIgnored() {
        OpenAiRequest r = chat("""
                {"messages": [{"role": "user", "content": "hi", "name": "ann", "extra": {"a": [1]}}],
                 "user": "u-1", "metadata": {"k": "v"}, "store": false, "service_tier": "auto",
                 "some_future_field": [1, {"x": null}], "tools": [], "logit_bias": null}""");

        assertThat(r.messages()).containsExactly(new ChatMessage("user", "hi"));
    }

    @Test
    void everyJsonNameIsTheSnakeCaseOfItsComponent() {
        // OpenAiRequestReader names fields from Bean Validation paths (Java names) by this rule.
        for (Class<?> type : List.of(ChatCompletionRequest.class, CompletionRequest.class,
                ChatCompletionRequest.Message.class, ChatCompletionRequest.ContentPart.class,
                ChatCompletionRequest.ToolCall.class, ChatCompletionRequest.FunctionCall.class,
                ChatCompletionRequest.Tool.class, ChatCompletionRequest.FunctionDefinition.class,
                ChatCompletionRequest.ResponseFormat.class, ChatCompletionRequest.StreamOptions.class)) {
            var components = type.getRecordComponents();
            var parameters = canonicalConstructor(type).getParameters();
            for (int i = 0; i < components.length; i++) {
                var component = components[i];
                var property = parameters[i].getAnnotation(com.fasterxml.jackson.annotation.JsonProperty.class);
                assertThat(property).as("%s.%s", type.getSimpleName(), component.getName()).isNotNull();
                assertThat(property.value()).isEqualTo(OpenAiRequestReader.snakeCase(component.getName()));
            }
        }
    }

    private static java.lang.reflect.Constructor<?> canonicalConstructor(Class<?> record) {
        try {
            return record.getDeclaredConstructor(java.util.Arrays.stream(record.getRecordComponents())
                    .map(java.lang.reflect.RecordComponent::getType).toArray(Class<?>[]::new));
        } catch (NoSuchMethodException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void theApplicationsNamingStrategyDoesNotRenameTheWireFormat() {
        var camel = tools.jackson.databind.json.JsonMapper.builder()
                .propertyNamingStrategy(tools.jackson.databind.PropertyNamingStrategies.UPPER_CAMEL_CASE)
                .enable(tools.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();
        var reader = new OpenAiRequestReader(camel, OpenAiRequestReader.defaultValidator());

        OpenAiRequest r = reader.completion("""
                {"prompt": "a", "max_tokens": 3, "top_p": 0.5, "unknown": 1}""".getBytes(StandardCharsets.UTF_8));

        assertThat(r.sampling().maxTokens()).isEqualTo(3);
        assertThat(r.sampling().topP()).isEqualTo(0.5);
    }
}
