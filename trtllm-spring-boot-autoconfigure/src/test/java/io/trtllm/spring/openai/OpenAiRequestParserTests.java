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
class OpenAiRequestParserTests {

    private static OpenAiRequest chat(String json) {
        return OpenAiRequestParser.chat(OpenAiRequestParser.readObject(json.getBytes(StandardCharsets.UTF_8)));
    }

    private static OpenAiRequest completion(String json) {
        return OpenAiRequestParser.completion(OpenAiRequestParser.readObject(json.getBytes(StandardCharsets.UTF_8)));
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
        assertInvalid(() -> chat("{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}"), "messages[0].role");
        String hi = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
        assertInvalid(() -> chat("{" + hi + ", \"temperature\": 2.5}"), "temperature");
        assertInvalid(() -> chat("{" + hi + ", \"top_p\": 0}"), "top_p");
        assertInvalid(() -> chat("{" + hi + ", \"n\": 0}"), "n");
        assertInvalid(() -> chat("{" + hi + ", \"seed\": 1.5}"), "seed");
        assertInvalid(() -> chat("{" + hi + ", \"stop\": 3}"), "stop");
        assertInvalid(() -> chat("{" + hi + ", \"top_logprobs\": 2}"), "top_logprobs");
        assertInvalid(() -> chat("{" + hi + ", \"stream_options\": {\"include_usage\": true}}"), "stream_options");
        assertInvalid(() -> chat("{" + hi + ", \"response_format\": {\"type\": \"json_object\"}}"), "response_format");
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
        assertThatThrownBy(() -> OpenAiRequestParser.readObject(new byte[0])).isInstanceOf(OpenAiException.class)
                .hasMessageContaining("empty");
        assertThatThrownBy(() -> OpenAiRequestParser.readObject("[1]".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(OpenAiException.class).hasMessageContaining("JSON object");
        assertThatThrownBy(() -> OpenAiRequestParser.readObject("{\"a\":".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(OpenAiException.class).hasMessageContaining("not valid JSON");
    }
}
