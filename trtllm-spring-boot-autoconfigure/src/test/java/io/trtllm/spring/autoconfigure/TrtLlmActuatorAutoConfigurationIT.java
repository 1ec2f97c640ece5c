package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.LLM;
import io.trtllm.spring.actuate.TrtLlmEngineAvailability;
import io.trtllm.spring.actuate.TrtLlmHealthIndicator;
import io.trtllm.spring.actuate.TrtLlmMetrics;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.testing.SharedLlm;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.availability.ApplicationAvailabilityAutoConfiguration;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.availability.LivenessState;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** Health indicator and meters for whichever engine bean there is, each only when its library is present. */
class TrtLlmActuatorAutoConfigurationIT {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmActuatorAutoConfiguration.class))
            .withUserConfiguration(TrtLlmAutoConfigurationIT.SharedEngine.class);

    @Test
    void anEngineGetsAHealthIndicatorAndMetersThatTheChatModelReportsTo() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(TrtLlmHealthIndicator.class).hasSingleBean(TrtLlmMetrics.class)
                    .hasBean("trtllmHealthIndicator");
            assertThat(context.getBean(TrtLlmRequestObserver.class)).isSameAs(context.getBean(TrtLlmMetrics.class));
            assertThat(context.getBean(TrtLlmChatModel.class)).isNotNull();
        });
    }

    @Test
    void anEngineGetsItsAvailabilityWhereTheApplicationHasAvailabilityStates() {
        runner.run(context -> assertThat(context).doesNotHaveBean(TrtLlmEngineAvailability.class));
        runner.withConfiguration(AutoConfigurations.of(ApplicationAvailabilityAutoConfiguration.class)).run(context -> {
            assertThat(context).hasSingleBean(TrtLlmEngineAvailability.class);
            // A running engine publishes nothing: the states stay Spring Boot's.
            assertThat(context.getBean(ApplicationAvailability.class).getState(LivenessState.class)).isNull();
        });
    }

    @Test
    void anEngineWithoutTheChatModelStillGetsThem() {
        runner.withPropertyValues("spring.ai.model.chat=none").run(context ->
                assertThat(context).doesNotHaveBean(TrtLlmChatModel.class).hasSingleBean(TrtLlmHealthIndicator.class)
                        .hasSingleBean(TrtLlmMetrics.class));
    }

    @Test
    void noEngineNoIndicatorNoMeters() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmActuatorAutoConfiguration.class))
                .withPropertyValues("spring.ai.model.chat=none")
                .run(context -> assertThat(context).doesNotHaveBean(LLM.class).doesNotHaveBean(TrtLlmHealthIndicator.class)
                        .doesNotHaveBean(TrtLlmMetrics.class));
    }

    @Test
    void theHealthIndicatorCanBeDisabled() {
        runner.withPropertyValues("management.health.trtllm.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmHealthIndicator.class)
                        .hasSingleBean(TrtLlmMetrics.class));
    }

    @Test
    void withoutTheHealthModuleOrMicrometerTheyBackOff() {
        runner.withClassLoader(new FilteredClassLoader(HealthIndicator.class))
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmHealthIndicator.class)
                        .hasSingleBean(TrtLlmMetrics.class));
        runner.withClassLoader(new FilteredClassLoader(MeterBinder.class))
                .run(context -> assertThat(context).hasSingleBean(TrtLlmHealthIndicator.class)
                        .doesNotHaveBean(TrtLlmMetrics.class).hasSingleBean(TrtLlmChatModel.class));
    }
}
