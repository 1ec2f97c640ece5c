package io.trtllm.spring.autoconfigure;

import io.micrometer.observation.ObservationRegistry;
import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.config.InvalidSettingException;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.chat.TrtLlmChatWarmUp;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.observation.ChatModelObservationConvention;
import org.springframework.ai.model.SpringAIModelProperties;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Scope;
import org.springframework.core.env.Environment;

/**
 * Auto-configuration of the in-process engine and its Spring AI chat model: an {@link LLM} built from
 * {@code trtllm.*} at startup (closed on shutdown) and a {@link TrtLlmChatModel} with the
 * {@code trtllm.chat.*} defaults. Gated like Spring AI's own providers: on unless
 * {@code spring.ai.model.chat} names another provider (or {@code none}). Every bean backs off when
 * the application defines one of its type.
 */
@AutoConfiguration
@ConditionalOnClass({LLM.class, ChatModel.class})
@ConditionalOnProperty(name = SpringAIModelProperties.CHAT_MODEL, havingValue = TrtLlmAutoConfiguration.MODEL_NAME,
        matchIfMissing = true)
@EnableConfigurationProperties(TrtLlmProperties.class)
@Import(TrtLlmPropertiesConversion.class)
public final class TrtLlmAutoConfiguration {
    /** Value of {@code spring.ai.model.chat} that selects this provider. */
    public static final String MODEL_NAME = "trtllm";

    private static final Logger LOG = LoggerFactory.getLogger(TrtLlmAutoConfiguration.class);

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    LLM trtLlm(TrtLlmProperties properties, Environment environment) {
        LlmArgs args = TrtLlmPropertiesMapper.toLlmArgs(properties);
        // Checked before the model loads (seconds to minutes), not when the chat model is built after it.
        TrtLlmPropertiesMapper.toChatOptions(properties.getChat(), environment::containsProperty);
        long start = System.nanoTime();
        LLM llm;
        try {
            llm = new LLM(args);
        } catch (InvalidSettingException e) {
            // A setting the model refuses (a split it does not allow): Boot's analysis names the key.
            throw TrtLlmPropertiesMapper.invalid(e);
        } catch (RuntimeException e) {
            throw new TrtLlmEngineStartException(args.model(), args.backend(), e);
        }
        LOG.info("trtllm engine ready: model {} on {}, engine {} ({}), max-seq-len {}, loaded in {} ms", args.model(),
                llm.backendDescription(), llm.engineLoad().kind().name().toLowerCase(java.util.Locale.ROOT),
                llm.engineDirectory(), llm.maxSeqLen(), (System.nanoTime() - start) / 1_000_000);
        return llm;
    }

    /**
     * A builder of {@link TrtLlmChatModel}s over the engine, wired as the auto-configured one is (the
     * {@code trtllm.chat.*} defaults, the application's {@code ObservationRegistry} and observation convention,
     * the request observers): a prototype, so that an application that defines its own {@code ChatModel} bean
     * ({@code builder.defaultOptions(...).build()}) keeps the {@code gen_ai} observations, as Spring AI's
     * {@code ChatClient.Builder} bean does for clients.
     */
    @Bean
    @Scope(ConfigurableBeanFactory.SCOPE_PROTOTYPE)
    @ConditionalOnMissingBean
    TrtLlmChatModel.Builder trtLlmChatModelBuilder(LLM llm, TrtLlmProperties properties, Environment environment,
                                                   ObjectProvider<ObservationRegistry> observationRegistry,
                                                   ObjectProvider<ChatModelObservationConvention> observationConvention,
                                                   ObjectProvider<TrtLlmRequestObserver> requestObservers) {
        var builder = TrtLlmChatModel.builder()
                .llm(llm)
                .defaultOptions(TrtLlmPropertiesMapper.toChatOptions(properties.getChat(), environment::containsProperty))
                .observationRegistry(observationRegistry.getIfUnique(() -> ObservationRegistry.NOOP))
                .requestObserver(TrtLlmRequestObserver.of(requestObservers.orderedStream().toList()));
        observationConvention.ifAvailable(builder::observationConvention);
        return builder;
    }

    @Bean
    @ConditionalOnMissingBean
    TrtLlmChatModel trtLlmChatModel(TrtLlmChatModel.Builder builder) {
        return builder.build();
    }

    /**
     * Runs the chat path (template, Spring AI's request and response) once before the web server takes traffic,
     * without the engine: see {@link TrtLlmChatWarmUp}.
     */
    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnProperty(name = "trtllm.warmup.chat-model", havingValue = "true", matchIfMissing = true)
    TrtLlmChatWarmUp trtLlmChatWarmUp(LLM llm, TrtLlmProperties properties, Environment environment) {
        return new TrtLlmChatWarmUp(llm, TrtLlmPropertiesMapper.toChatOptions(properties.getChat(), environment::containsProperty));
    }
}
