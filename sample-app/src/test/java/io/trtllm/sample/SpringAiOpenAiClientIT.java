package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Objects;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.ai.openai.OpenAiChatOptions;

/**
 * A client nobody here wrote: Spring AI's own OpenAI chat model (on the official OpenAI Java SDK),
 * pointed at the sample app's /v1. Greedy, so its replies must equal the in-process chat model's.
 */
class SpringAiOpenAiClientIT extends SampleAppTestSupport {
    private static final int MAX_TOKENS = 24;

    private OpenAiChatModel openAi() {
        return OpenAiChatModel.builder()
                .options(OpenAiChatOptions.builder()
                        .baseUrl("http://localhost:" + port + "/v1")
                        .apiKey("no-key-needed")
                        .model("stories15M")
                        .temperature(0.0)
                        .maxTokens(MAX_TOKENS)
                        .timeout(Duration.ofSeconds(60))
                        .build())
                .build();
    }

    @Test
    void callEqualsTheInProcessChatModel() {
        ChatResponse response = openAi().call(new Prompt(PROMPT));

        assertThat(response.getResult().getOutput().getText()).isEqualTo(greedyReply(MAX_TOKENS));
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualToIgnoringCase("length");
        assertThat(response.getMetadata().getModel()).isEqualTo("stories15M");
        assertThat(response.getMetadata().getUsage().getCompletionTokens()).isEqualTo(MAX_TOKENS);
    }

    @Test
    void streamEqualsTheInProcessChatModel() {
        var chunks = openAi().stream(new Prompt(PROMPT)).collectList().block(Duration.ofSeconds(60));

        assertThat(chunks).hasSizeGreaterThan(5);
        StringBuilder text = new StringBuilder();
        for (ChatResponse chunk : chunks) {
            if (chunk.getResult() != null) {
                text.append(Objects.requireNonNullElse(chunk.getResult().getOutput().getText(), ""));
            }
        }
        assertThat(text.toString()).isEqualTo(greedyReply(MAX_TOKENS));
    }
}
