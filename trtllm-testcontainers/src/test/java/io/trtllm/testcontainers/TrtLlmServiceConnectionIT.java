package io.trtllm.testcontainers;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.ChatMessage;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.model.openai.autoconfigure.OpenAiChatProperties;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.testcontainers.service.connection.ServiceConnection;
import org.testcontainers.containers.output.Slf4jLogConsumer;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

/**
 * An application that uses Spring AI's OpenAI chat model, with a {@code @ServiceConnection} trtllm server in a
 * container and no {@code spring.ai.openai.*} connection properties of its own: the base URL, the API key and
 * the model come from the container. The container serves the host's converted stories15M; greedy replies
 * (call and stream) must equal what the engine generates in this JVM from the same chat-templated prompt.
 */
@ExtendWith(ServerImage.class)
@Testcontainers
@SpringBootTest(classes = TrtLlmServiceConnectionIT.App.class, webEnvironment = SpringBootTest.WebEnvironment.NONE,
        properties = "spring.ai.openai.api-key=not-the-servers-key")
class TrtLlmServiceConnectionIT {
    private static final String PROMPT = "Once upon a time";
    private static final int MAX_TOKENS = 48;
    private static String expected = "";

    @Container
    @ServiceConnection
    static final TrtLlmContainer TRTLLM = new TrtLlmContainer(ServerImage.NAME)
            .withModelDirectory(ServerImage.stories15M())
            .withApiKey("it-" + Long.toHexString(System.nanoTime()))
            .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger("trtllm-server")));

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class App {
    }

    @Autowired
    OpenAiChatModel chatModel;

    @Autowired
    OpenAiChatProperties chatProperties;

    @BeforeAll
    static void inProcessReference() {
        try (var llm = new LLM(LlmArgs.builder("stories15M").build())) {
            int[] prompt = llm.tokenizer().encodeChat(List.of(ChatMessage.user(PROMPT)), true);
            RequestOutput out = llm.generate(prompt, SamplingParams.greedy(MAX_TOKENS));
            assertThat(out.output().tokenIds()).hasSize(MAX_TOKENS);
            expected = out.output().text();
        }
    }

    /**
     * Greedy, on top of the chat model's defaults (Spring AI 2 sends a prompt's options as they are, so options
     * built from scratch would name OpenAI's default model instead of the connection's).
     */
    private ChatOptions greedy() {
        return chatModel.getDefaultOptions().mutate().temperature(0.0).maxTokens(MAX_TOKENS).build();
    }

    @Test
    void theClientIsWiredToTheContainer() {
        assertThat(chatProperties.getBaseUrl()).isEqualTo(TRTLLM.getOpenAiBaseUrl());
        assertThat(chatProperties.getApiKey()).isEqualTo(TRTLLM.getApiKey());
        assertThat(chatModel.getDefaultOptions().getModel()).isEqualTo("stories15M");
    }

    @Test
    void greedyCallInTheContainerEqualsTheInProcessEngine() {
        ChatResponse response = chatModel.call(new Prompt(PROMPT, greedy()));

        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected);
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualToIgnoringCase("length");
        assertThat(response.getMetadata().getModel()).isEqualTo("stories15M");
        assertThat(response.getMetadata().getUsage().getCompletionTokens()).isEqualTo(MAX_TOKENS);
    }

    @Test
    void greedyStreamInTheContainerEqualsTheInProcessEngine() {
        List<ChatResponse> chunks = chatModel.stream(new Prompt(PROMPT, greedy()))
                .collectList().block(Duration.ofSeconds(120));

        assertThat(chunks).hasSizeGreaterThan(5);
        StringBuilder text = new StringBuilder();
        for (ChatResponse chunk : Objects.requireNonNull(chunks)) {
            if (chunk.getResult() != null) {
                text.append(Objects.requireNonNullElse(chunk.getResult().getOutput().getText(), ""));
            }
        }
        assertThat(text.toString()).isEqualTo(expected);
    }
}
