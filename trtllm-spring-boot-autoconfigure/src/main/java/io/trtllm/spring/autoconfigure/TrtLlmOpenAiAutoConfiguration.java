package io.trtllm.spring.autoconfigure;

import io.trtllm.api.LLM;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.openai.TrtLlmOpenAiApi;
import java.nio.file.Path;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * The OpenAI-compatible HTTP API ({@link TrtLlmOpenAiApi}) on the application's {@link LLM}, when the
 * application runs on WebFlux and {@code trtllm.openai.enabled=true}. Requests that leave a sampling
 * field unset take the {@link TrtLlmChatModel}'s default options ({@code trtllm.chat.options.*}), and
 * count in the trtllm meters like the chat model's requests.
 */
@AutoConfiguration(after = {TrtLlmAutoConfiguration.class, TrtLlmActuatorAutoConfiguration.class})
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.REACTIVE)
@ConditionalOnClass(RouterFunction.class)
@ConditionalOnBooleanProperty(TrtLlmOpenAiProperties.PREFIX + ".enabled")
@ConditionalOnBean(LLM.class)
@EnableConfigurationProperties(TrtLlmOpenAiProperties.class)
public final class TrtLlmOpenAiAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    TrtLlmOpenAiApi trtLlmOpenAiApi(LLM llm, TrtLlmOpenAiProperties properties,
                                    ObjectProvider<TrtLlmProperties> engineProperties,
                                    ObjectProvider<TrtLlmChatModel> chatModel,
                                    ObjectProvider<TrtLlmRequestObserver> requestObservers) {
        String modelName = properties.getModelName();
        if (modelName == null) {
            TrtLlmProperties engine = engineProperties.getIfUnique();
            modelName = engine != null ? engine.getModel() : directoryName(llm.modelDirectory());
        }
        TrtLlmChatModel chat = chatModel.getIfUnique();
        TrtLlmChatOptions defaults = chat != null ? chat.getOptions() : TrtLlmChatOptions.builder().build();
        return new TrtLlmOpenAiApi(llm, modelName, defaults, properties.getMaxN(),
                TrtLlmRequestObserver.of(requestObservers.orderedStream().toList()));
    }

    @Bean
    @ConditionalOnMissingBean(name = "trtLlmOpenAiRoutes")
    RouterFunction<ServerResponse> trtLlmOpenAiRoutes(TrtLlmOpenAiApi api, TrtLlmOpenAiProperties properties) {
        String basePath = properties.getBasePath();
        return api.routes(basePath.equals("/") ? "" : basePath);
    }

    private static String directoryName(Path dir) {
        Path name = dir.getFileName();
        return name != null ? name.toString() : dir.toString();
    }
}
