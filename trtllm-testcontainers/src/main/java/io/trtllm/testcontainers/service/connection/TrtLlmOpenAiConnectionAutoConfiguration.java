package io.trtllm.testcontainers.service.connection;

import org.springframework.ai.model.openai.autoconfigure.AbstractOpenAiProperties;
import org.springframework.ai.model.openai.autoconfigure.OpenAiChatProperties;
import org.springframework.ai.model.openai.autoconfigure.OpenAiCommonProperties;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.context.annotation.Bean;
import org.springframework.util.StringUtils;

/**
 * Points Spring AI's OpenAI client at a trtllm server given by a {@link TrtLlmConnectionDetails} bean (from a
 * {@code @ServiceConnection} {@code TrtLlmContainer}).
 *
 * <p>Spring AI's OpenAI auto-configuration reads {@code spring.ai.openai.*} properties and, unlike its Ollama
 * one, takes no connection-details bean; so the bound {@link OpenAiCommonProperties} and {@link
 * OpenAiChatProperties} are adjusted after binding, before the client is built from them: base URL and API key
 * from the details (as connection details win over properties elsewhere in Spring Boot), and the chat model's
 * {@code model} when the application set none, since the server answers 404 to another model. With no details
 * bean, or several, nothing changes.
 */
@AutoConfiguration
@ConditionalOnClass({ OpenAiCommonProperties.class, OpenAiChatProperties.class })
public final class TrtLlmOpenAiConnectionAutoConfiguration {

    @Bean
    static BeanPostProcessor trtLlmOpenAiConnectionPropertiesPostProcessor(
            ObjectProvider<TrtLlmConnectionDetails> connectionDetails) {
        return new OpenAiPropertiesPostProcessor(connectionDetails);
    }

    /** Applies the connection details to the OpenAI properties beans once they are bound. */
    static final class OpenAiPropertiesPostProcessor implements BeanPostProcessor {
        private final ObjectProvider<TrtLlmConnectionDetails> connectionDetails;

        OpenAiPropertiesPostProcessor(ObjectProvider<TrtLlmConnectionDetails> connectionDetails) {
            this.connectionDetails = connectionDetails;
        }

        @Override
        public Object postProcessAfterInitialization(Object bean, String beanName) {
            if (bean instanceof OpenAiCommonProperties || bean instanceof OpenAiChatProperties) {
                TrtLlmConnectionDetails details = connectionDetails.getIfUnique();
                if (details != null) {
                    apply(details, (AbstractOpenAiProperties) bean);
                }
            }
            return bean;
        }

        private static void apply(TrtLlmConnectionDetails details, AbstractOpenAiProperties properties) {
            properties.setBaseUrl(details.getBaseUrl());
            String apiKey = details.getApiKey();
            if (apiKey != null) {
                properties.setApiKey(apiKey);
            }
            if (properties instanceof OpenAiChatProperties chat && !StringUtils.hasText(chat.getModel())) {
                chat.setModel(details.getModel());
            }
        }
    }
}
