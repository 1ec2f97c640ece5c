package io.trtllm.spring.autoconfigure;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.context.annotation.Bean;

/**
 * {@code trtllm.openai.enabled=true} in a servlet (Spring MVC) application: the OpenAI-compatible API
 * is built on WebFlux's functional routes and a servlet application would never route {@code /v1} to
 * it, so the startup fails and says what to change instead of serving 404s.
 */
@AutoConfiguration
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnBooleanProperty(TrtLlmOpenAiProperties.PREFIX + ".enabled")
public final class TrtLlmOpenAiServletAutoConfiguration {

    /** The message a servlet application that enables the API fails with. */
    static final String NEEDS_WEBFLUX = TrtLlmOpenAiProperties.PREFIX + ".enabled=true, but this is a servlet "
            + "(Spring MVC) application: the OpenAI-compatible API runs on Spring WebFlux. Use "
            + "spring-boot-starter-webflux instead of spring-boot-starter-web (or set "
            + "spring.main.web-application-type=reactive when both are present), or set "
            + TrtLlmOpenAiProperties.PREFIX + ".enabled=false.";

    @Bean
    Object trtLlmOpenAiNeedsWebFlux() {
        throw new IllegalStateException(NEEDS_WEBFLUX);
    }
}
