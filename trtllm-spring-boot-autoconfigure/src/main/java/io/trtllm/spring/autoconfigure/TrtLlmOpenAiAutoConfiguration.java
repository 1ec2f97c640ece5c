package io.trtllm.spring.autoconfigure;

import io.trtllm.api.LLM;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.openai.GenAiServerObserver;
import io.trtllm.spring.openai.TrtLlmOpenAiApi;
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
import tools.jackson.databind.json.JsonMapper;

/**
 * The OpenAI-compatible HTTP API ({@link TrtLlmOpenAiApi}) on the application's {@link LLM}, when the
 * application runs on WebFlux and {@code trtllm.openai.enabled=true}. Requests that leave a sampling
 * field unset take the {@link TrtLlmChatModel}'s default options ({@code trtllm.chat.*}); they count in the
 * engine's meters like every request of the {@code LLM}, and are observed as OpenTelemetry's GenAI server metrics
 * ({@link GenAiServerObserver}, the actuator configuration's bean). Requests are read and responses written
 * with the application's Jackson {@link JsonMapper} ({@code spring.jackson.*}) and checked with Bean
 * Validation.
 *
 * <p>In a servlet (Spring MVC) application the API cannot run: {@link TrtLlmOpenAiServletAutoConfiguration}
 * then fails the startup with a message that says so, rather than leaving {@code /v1} unanswered.
 */
@AutoConfiguration(after = {TrtLlmAutoConfiguration.class, TrtLlmActuatorAutoConfiguration.class},
        afterName = "org.springframework.boot.jackson.autoconfigure.JacksonAutoConfiguration")
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.REACTIVE)
@ConditionalOnClass({RouterFunction.class, JsonMapper.class})
@ConditionalOnBooleanProperty(TrtLlmOpenAiProperties.PREFIX + ".enabled")
@ConditionalOnBean(LLM.class)
@EnableConfigurationProperties(TrtLlmOpenAiProperties.class)
public final class TrtLlmOpenAiAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    TrtLlmOpenAiApi trtLlmOpenAiApi(LLM llm, TrtLlmOpenAiProperties properties,
                                    ObjectProvider<TrtLlmProperties> engineProperties,
                                    ObjectProvider<TrtLlmChatModel> chatModel,
                                    ObjectProvider<TrtLlmRequestObserver> requestObservers,
                                    ObjectProvider<JsonMapper> jsonMapper,
                                    ObjectProvider<GenAiServerObserver> serverObserver) {
        String modelName = properties.getModelName();
        if (modelName == null) {
            modelName = ServedModel.configuredOrDirectory(llm, engineProperties);
        }
        TrtLlmChatModel chat = chatModel.getIfUnique();
        TrtLlmChatOptions defaults = chat != null ? chat.getOptions() : TrtLlmChatOptions.builder().build();
        return new TrtLlmOpenAiApi(llm, modelName, defaults, properties.getMaxN(),
                TrtLlmRequestObserver.of(requestObservers.orderedStream().toList()),
                jsonMapper.getIfUnique(() -> JsonMapper.builder().build()),
                serverObserver.getIfUnique(() -> GenAiServerObserver.NOOP));
    }

    @Bean
    @ConditionalOnMissingBean(name = "trtLlmOpenAiRoutes")
    RouterFunction<ServerResponse> trtLlmOpenAiRoutes(TrtLlmOpenAiApi api, TrtLlmOpenAiProperties properties) {
        String basePath = properties.getBasePath();
        return api.routes(basePath.equals("/") ? "" : basePath);
    }
}
