package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.ai.openai.setup.OpenAiSetup;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The official OpenAI Java SDK (the client under Spring AI's OpenAI model) against the sample app's /v1: a
 * strict function tool with {@code tool_choice: required}, the call read back through the SDK's own types
 * and answered with a tool message; and {@code response_format: json_schema}. stories15M writes neither on
 * its own: the guides make it. (The SDK's class-to-schema helpers need victools 4, which Spring AI's
 * classpath replaces; the schemas are written out.)
 */
class OpenAiSdkToolsIT extends SampleAppTestSupport {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private OpenAIClient client() {
        return OpenAiSetup.setupSyncClient("http://localhost:" + port + "/v1", "no-key-needed", null, null, null, null,
                false, false, "stories15M", Duration.ofSeconds(60), 0, null, Map.of(), ObservationRegistry.NOOP,
                new SimpleMeterRegistry(), List.of());
    }

    private static ChatCompletionFunctionTool weatherTool() {
        return ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder()
                .name("get_weather").description("The weather in a city").strict(true)
                .parameters(FunctionParameters.builder()
                        .putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(Map.of(
                                "city", Map.of("enum", List.of("Paris", "Rome", "Oslo")),
                                "celsius", Map.of("type", "boolean"))))
                        .putAdditionalProperty("required", JsonValue.from(List.of("city", "celsius")))
                        .putAdditionalProperty("additionalProperties", JsonValue.from(false))
                        .build())
                .build()).build();
    }

    @Test
    void requiredToolCallsRoundTripThroughTheSdk() {
        OpenAIClient client = client();
        ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model("stories15M")
                .addUserMessage(PROMPT)
                .addTool(weatherTool())
                .toolChoice(ChatCompletionToolChoiceOption.ofAuto(ChatCompletionToolChoiceOption.Auto.REQUIRED))
                .parallelToolCalls(false)
                .maxCompletionTokens(96)
                .temperature(0.0)
                .build());

        ChatCompletion.Choice choice = completion.choices().getFirst();
        assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
        var calls = choice.message().toolCalls().orElseThrow();
        assertThat(calls).hasSize(1);
        ChatCompletionMessageFunctionToolCall call = calls.getFirst().asFunction();
        assertThat(call.id()).startsWith("call_");
        assertThat(call.function().name()).isEqualTo("get_weather");
        JsonNode args = JSON.readTree(call.function().arguments());
        assertThat(args.get("city").asString()).isIn("Paris", "Rome", "Oslo");
        assertThat(args.get("celsius").isBoolean()).isTrue();

        // The SDK sends the assistant's call and the tool's result back; the server takes both.
        ChatCompletion answer = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model("stories15M")
                .addUserMessage(PROMPT)
                .addMessage(choice.message())
                .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(call.id())
                        .content("It is sunny in " + args.get("city").asString() + ".").build())
                .addTool(weatherTool())
                .toolChoice(ChatCompletionToolChoiceOption.ofAuto(ChatCompletionToolChoiceOption.Auto.NONE))
                .maxCompletionTokens(8)
                .temperature(0.0)
                .build());
        assertThat(answer.choices().getFirst().message().content()).isPresent();
        assertThat(answer.choices().getFirst().message().toolCalls().orElse(List.of())).isEmpty();
    }

    @Test
    void jsonSchemaResponseFormatThroughTheSdk() {
        var format = ResponseFormatJsonSchema.builder().jsonSchema(ResponseFormatJsonSchema.JsonSchema.builder()
                .name("feeling").strict(true)
                .schema(ResponseFormatJsonSchema.JsonSchema.Schema.builder()
                        .putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(Map.of(
                                "mood", Map.of("enum", List.of("happy", "sad", "sleepy")),
                                "brave", Map.of("type", "boolean"))))
                        .putAdditionalProperty("required", JsonValue.from(List.of("mood", "brave")))
                        .putAdditionalProperty("additionalProperties", JsonValue.from(false))
                        .build())
                .build()).build();

        var completion = client().chat().completions().create(ChatCompletionCreateParams.builder()
                .model("stories15M")
                .addUserMessage(PROMPT)
                .maxCompletionTokens(64)
                .temperature(0.0)
                .responseFormat(format)
                .build());

        var choice = completion.choices().getFirst();
        assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        JsonNode feeling = JSON.readTree(choice.message().content().orElseThrow());
        assertThat(feeling.get("mood").asString()).isIn("happy", "sad", "sleepy");
        assertThat(feeling.get("brave").isBoolean()).isTrue();
    }
}
