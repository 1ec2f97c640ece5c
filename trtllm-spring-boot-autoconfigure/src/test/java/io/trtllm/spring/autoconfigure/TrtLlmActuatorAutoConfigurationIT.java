package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.LLM;
import io.trtllm.spring.actuate.TrtLlmEngineAvailability;
import io.trtllm.spring.actuate.TrtLlmHealthIndicator;
import io.trtllm.spring.actuate.TrtLlmGenAiServerMetrics;
import io.trtllm.spring.actuate.TrtLlmMetrics;
import io.trtllm.spring.actuate.TrtLlmVllmMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.trtllm.api.SamplingParams;
import java.util.List;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.model.Generation;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
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
    void anEngineGetsAHealthIndicatorAndMetersThatListenToTheEngine() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(TrtLlmHealthIndicator.class).hasSingleBean(TrtLlmMetrics.class)
                    .hasSingleBean(TrtLlmVllmMetrics.class).hasSingleBean(TrtLlmGenAiServerMetrics.class)
                    .hasBean("trtllmHealthIndicator");
            // The meters listen to the LLM, not to the chat model: it reports to no observer of theirs.
            assertThat(context).doesNotHaveBean(TrtLlmRequestObserver.class);
            assertThat(context.getBean(TrtLlmChatModel.class)).isNotNull();
        });
    }

    /** An application's own ChatModel on the LLM bean: the auto-configured one is not used, yet the meters move. */
    @Configuration(proxyBeanMethods = false)
    static class OwnPlainChatModel {
        @Bean
        ChatModel myChatModel(LLM llm) {
            return prompt -> {
                String text = llm.generate(prompt.getContents(), SamplingParams.greedy(3)).output().text();
                return new ChatResponse(List.of(new Generation(new AssistantMessage(text))));
            };
        }
    }

    @Test
    void aChatModelOfTheApplicationsOwnStillMovesTheMeters() {
        runner.withUserConfiguration(OwnPlainChatModel.class).withPropertyValues("spring.ai.model.chat=none")
                .run(context -> {
                    assertThat(context).doesNotHaveBean(TrtLlmChatModel.class);
                    MeterRegistry registry = new SimpleMeterRegistry();
                    context.getBean(TrtLlmMetrics.class).bindTo(registry); // as Boot's metrics auto-configuration does
                    context.getBean(TrtLlmVllmMetrics.class).bindTo(registry);
                    context.getBean(ChatModel.class).call(new Prompt("Once upon a time"));
                    SharedLlm.awaitIdle(context.getBean(LLM.class));
                    assertThat(registry.get("trtllm.requests.completed").tag("reason", "length").counter().count())
                            .isEqualTo(1);
                    assertThat(registry.get("trtllm.tokens").tag("type", "generated").counter().count()).isEqualTo(3);
                    assertThat(registry.get("trtllm.request.duration").timer().count()).isEqualTo(1);
                    assertThat(registry.get("vllm:request_success").tag("finished_reason", "length").counter().count())
                            .isEqualTo(1);
                    assertThat(registry.get("vllm:e2e_request_latency").tag("model_name", "stories15M").timer().count())
                            .isEqualTo(1);
                });
    }

    @Test
    void theContextsMetersStopListeningWhenItCloses() {
        LLM llm = SharedLlm.get();
        MeterRegistry registry = new SimpleMeterRegistry();
        runner.run(context -> {
            context.getBean(TrtLlmMetrics.class).bindTo(registry);
            context.getBean(TrtLlmVllmMetrics.class).bindTo(registry);
        });
        llm.generate("Once upon a time", SamplingParams.greedy(2));
        assertThat(registry.find("trtllm.requests.completed").counter()).as("made on the first count").isNull();
        assertThat(registry.get("vllm:request_success").tag("finished_reason", "length").counter().count()).isZero();
    }

    @Test
    void vllmsMetricSetCanBeTurnedOffAndItsBucketsAreChecked() {
        runner.withPropertyValues("trtllm.metrics.vllm.enabled=false").run(context ->
                assertThat(context).doesNotHaveBean(TrtLlmVllmMetrics.class).hasSingleBean(TrtLlmMetrics.class));
        runner.withPropertyValues("trtllm.metrics.buckets.time-to-first-token=0.5,0.1").run(context -> {
            assertThat(context).hasFailed();
            assertThat(context.getStartupFailure()).rootCause()
                    .hasMessageContaining("trtllm.metrics.buckets.time-to-first-token").hasMessageContaining("must increase");
        });
        runner.withPropertyValues("trtllm.metrics.buckets.time-to-first-token=0.05,0.5,5").run(context ->
                assertThat(context.getBean(TrtLlmMetricsProperties.class).toBuckets().timeToFirstToken())
                        .containsExactly(0.05, 0.5, 5.0));
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
