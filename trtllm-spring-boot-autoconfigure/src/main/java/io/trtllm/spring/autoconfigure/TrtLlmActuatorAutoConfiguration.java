package io.trtllm.spring.autoconfigure;

import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.LLM;
import io.trtllm.spring.actuate.TrtLlmEngineAvailability;
import io.trtllm.spring.actuate.TrtLlmHealthIndicator;
import io.trtllm.spring.actuate.TrtLlmMetrics;
import io.trtllm.spring.actuate.TrtLlmRankMetrics;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.availability.ApplicationAvailabilityAutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Health and metrics of the engine, for whichever {@link LLM} bean the application has (the
 * auto-configured one or its own): {@link TrtLlmEngineAvailability}, which turns a failed engine into a
 * broken liveness and a refusing readiness state (the probes orchestrators ask); a
 * {@link TrtLlmHealthIndicator} named {@code trtllm} when Spring Boot's health module is present (off
 * with {@code management.health.trtllm.enabled=false}); and {@link TrtLlmMetrics} and
 * {@link TrtLlmRankMetrics} (per rank of a split model) when Micrometer is.
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
    static final class MetricsConfiguration {
        @Bean
        @ConditionalOnMissingBean
        TrtLlmMetrics trtLlmMetrics(LLM llm) {
            return new TrtLlmMetrics(llm);
        }

        @Bean
        @ConditionalOnMissingBean
        TrtLlmRankMetrics trtLlmRankMetrics(LLM llm) {
            return new TrtLlmRankMetrics(llm);
        }
    }
}
