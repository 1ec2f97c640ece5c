package io.trtllm.testcontainers.service.connection;

import static org.assertj.core.api.Assertions.assertThat;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.springframework.ai.model.openai.autoconfigure.OpenAiChatAutoConfiguration;
import org.springframework.ai.model.openai.autoconfigure.OpenAiChatProperties;
import org.springframework.ai.model.openai.autoconfigure.OpenAiCommonProperties;
import org.springframework.ai.model.tool.autoconfigure.ToolCallingAutoConfiguration;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** Spring AI's OpenAI client configuration with and without a {@link TrtLlmConnectionDetails} bean. */
class TrtLlmOpenAiConnectionAutoConfigurationTests {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmOpenAiConnectionAutoConfiguration.class,
                    OpenAiChatAutoConfiguration.class, ToolCallingAutoConfiguration.class))
            .withPropertyValues("spring.ai.openai.base-url=http://elsewhere.invalid/v1",
                    "spring.ai.openai.api-key=configured-key",
                    "spring.ai.openai.chat.base-url=http://chat-elsewhere.invalid/v1");

    private static TrtLlmConnectionDetails details(@Nullable String apiKey) {
        return new TrtLlmConnectionDetails() {
            @Override
            public String getBaseUrl() {
                return "http://localhost:32771/v1";
            }

            @Override
            public @Nullable String getApiKey() {
                return apiKey;
            }

            @Override
            public String getModel() {
                return "stories15M";
            }
        };
    }

    @Test
    void connectionDetailsWinOverPropertiesAndNameTheModel() {
        runner.withBean(TrtLlmConnectionDetails.class, () -> details("container-key")).run(context -> {
            assertThat(context).hasNotFailed().hasSingleBean(OpenAiChatModel.class);
            var common = context.getBean(OpenAiCommonProperties.class);
            var chat = context.getBean(OpenAiChatProperties.class);
            assertThat(common.getBaseUrl()).isEqualTo("http://localhost:32771/v1");
            assertThat(common.getApiKey()).isEqualTo("container-key");
            assertThat(chat.getBaseUrl()).isEqualTo("http://localhost:32771/v1");
            assertThat(chat.getApiKey()).isEqualTo("container-key");
            assertThat(context.getBean(OpenAiChatModel.class).getDefaultOptions().getModel()).isEqualTo("stories15M");
        });
    }

    @Test
    void aModelTheApplicationSetIsKept() {
        runner.withBean(TrtLlmConnectionDetails.class, () -> details("container-key"))
                .withPropertyValues("spring.ai.openai.chat.model=another-model")
                .run(context -> assertThat(context.getBean(OpenAiChatModel.class).getDefaultOptions().getModel())
                        .isEqualTo("another-model"));
    }

    @Test
    void anOpenServerLeavesTheConfiguredKey() {
        runner.withBean(TrtLlmConnectionDetails.class, () -> details(null)).run(context -> {
            assertThat(context.getBean(OpenAiCommonProperties.class).getApiKey()).isEqualTo("configured-key");
            assertThat(context.getBean(OpenAiCommonProperties.class).getBaseUrl())
                    .isEqualTo("http://localhost:32771/v1");
        });
    }

    @Test
    void withoutConnectionDetailsThePropertiesStand() {
        runner.run(context -> {
            assertThat(context.getBean(OpenAiCommonProperties.class).getBaseUrl())
                    .isEqualTo("http://elsewhere.invalid/v1");
            assertThat(context.getBean(OpenAiChatProperties.class).getBaseUrl())
                    .isEqualTo("http://chat-elsewhere.invalid/v1");
        });
    }

    @Test
    void severalServersAreAmbiguousAndChangeNothing() {
        runner.withBean("one", TrtLlmConnectionDetails.class, () -> details("a"))
                .withBean("two", TrtLlmConnectionDetails.class, () -> details("b"))
                .run(context -> assertThat(context.getBean(OpenAiCommonProperties.class).getApiKey())
                        .isEqualTo("configured-key"));
    }
}
