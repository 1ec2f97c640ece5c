package io.trtllm.spring.autoconfigure;

import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.LLM;
import io.trtllm.spring.actuate.TrtLlmEngineAvailability;
import io.trtllm.spring.actuate.TrtLlmHealthIndicator;
import io.trtllm.spring.actuate.TrtLlmGenAiServerMetrics;
import io.trtllm.spring.actuate.TrtLlmMetrics;
import io.trtllm.spring.actuate.TrtLlmVllmMetrics;
import org.springframework.beans.factory.ObjectProvider;
import io.trtllm.spring.actuate.TrtLlmRankMetrics;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.availability.ApplicationAvailabilityAutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * Health and metrics of the engine, for whichever {@link LLM} bean the application has (the
 * auto-configured one or its own): {@link TrtLlmEngineAvailability}, which turns a failed engine into a
 * broken liveness and a refusing readiness state (the probes orchestrators ask); a
 * {@link TrtLlmHealthIndicator} named {@code trtllm} when Spring Boot's health module is present (off
 * with {@code management.health.trtllm.enabled=false}); and, when Micrometer is, the meters: {@link TrtLlmMetrics}
 * ({@code trtllm.*}), {@link TrtLlmVllmMetrics} (vLLM's set, off with {@code trtllm.metrics.vllm.enabled=false}),
 * {@link TrtLlmGenAiServerMetrics} (the OpenAI API's {@code gen_ai.server.*}) and {@link TrtLlmRankMetrics} (per rank
 * of a split model). The first two listen to the {@code LLM} itself, so they count every request once, whichever
 * {@code ChatModel} or API made it.
 */
@AutoConfiguration(after = {TrtLlmAutoConfiguration.class, ApplicationAvailabilityAutoConfiguration.class})
@ConditionalOnBean(LLM.class)
public final class TrtLlmActuatorAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnBean(ApplicationAvailability.class)
    TrtLlmEngineAvailability trtLlmEngineAvailability(LLM llm, ApplicationAvailability availability) {
        return new TrtLlmEngineAvailability(llm, availability);
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(HealthIndicator.class)
    @ConditionalOnEnabledHealthIndicator("trtllm")
    static final class HealthConfiguration {
        @Bean
        @ConditionalOnMissingBean(name = "trtllmHealthIndicator")
        TrtLlmHealthIndicator trtllmHealthIndicator(LLM llm) {
            return new TrtLlmHealthIndicator(llm);
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterBinder.class)
    @EnableConfigurationProperties(TrtLlmMetricsProperties.class)
    static final class MetricsConfiguration {
        @Bean
        @ConditionalOnMissingBean
        TrtLlmMetrics trtLlmMetrics(LLM llm) {
            return new TrtLlmMetrics(llm);
        }

        @Bean
        @ConditionalOnMissingBean
        @ConditionalOnBooleanProperty(name = TrtLlmMetricsProperties.PREFIX + ".vllm.enabled", matchIfMissing = true)
        TrtLlmVllmMetrics trtLlmVllmMetrics(LLM llm, TrtLlmMetricsProperties properties,
                                            ObjectProvider<TrtLlmProperties> engineProperties, Environment environment) {
            return new TrtLlmVllmMetrics(llm, ServedModel.name(llm, engineProperties, environment), properties.toBuckets());
        }

        @Bean
        @ConditionalOnMissingBean
        TrtLlmGenAiServerMetrics trtLlmGenAiServerMetrics(TrtLlmMetricsProperties properties) {
            return new TrtLlmGenAiServerMetrics(properties.toBuckets());
        }

        @Bean
        @ConditionalOnMissingBean
        TrtLlmRankMetrics trtLlmRankMetrics(LLM llm) {
            return new TrtLlmRankMetrics(llm);
        }
    }
}
