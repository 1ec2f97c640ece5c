package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.observation.ObservationRegistry;
import io.trtllm.api.LLM;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmChatWarmUp;
import io.trtllm.spring.testing.SharedLlm;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Conditions and beans of TrtLlmAutoConfiguration. Most contexts get the shared engine as a user bean. */
@ExtendWith(OutputCaptureExtension.class)
class TrtLlmAutoConfigurationIT {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class));

    @Test
    void buildsTheEngineFromPropertiesLogsItAndClosesItOnShutdown(CapturedOutput output) {
        AtomicReference<LLM> engine = new AtomicReference<>();
        runner.withPropertyValues("trtllm.threads=1", "trtllm.max-seq-len=64", "trtllm.chat.options.temperature=0",
                "trtllm.chat.options.max-tokens=8").run(context -> {
            assertThat(context).hasSingleBean(LLM.class).hasSingleBean(TrtLlmChatModel.class);
            LLM llm = context.getBean(LLM.class);
            engine.set(llm);
            assertThat(llm.maxSeqLen()).isEqualTo(64);
            assertThat(llm.stats().alive()).isTrue();
            ChatModel chat = context.getBean(ChatModel.class);
            assertThat(chat.getOptions().getMaxTokens()).isEqualTo(8);
            assertThat(chat.getOptions().getModel()).isEqualTo("stories15M");
            assertThat(chat.call(new Prompt("Once upon a time")).getMetadata().getUsage().getCompletionTokens()).isEqualTo(8);
        });
        assertThat(output).contains("trtllm engine ready: model stories15M on cpu").containsPattern("loaded in \\d+ ms");
        assertThat(engine.get().stats().alive()).isFalse();
    }

    @Test
    void aUserDefinedEngineIsUsed() {
        runner.withUserConfiguration(SharedEngine.class).run(context -> {
            assertThat(context).hasSingleBean(LLM.class).hasSingleBean(TrtLlmChatModel.class);
            assertThat(context.getBean(LLM.class)).isSameAs(SharedLlm.get());
            assertThat(context.getBean(TrtLlmChatModel.class).getLlm()).isSameAs(SharedLlm.get());
        });
    }

    @Test
    void theChatWarmUpRunsAtStartWithoutTheEngineOrObservationsAndCanBeTurnedOff(CapturedOutput output) {
        LLM llm = SharedLlm.get();
        long iterations = llm.stats().iterations();
        java.util.List<String> observed = new java.util.concurrent.CopyOnWriteArrayList<>();
        runner.withUserConfiguration(SharedEngine.class)
                .withBean(ObservationRegistry.class, () -> {
                    ObservationRegistry registry = ObservationRegistry.create();
                    registry.observationConfig().observationHandler(new io.micrometer.observation.ObservationHandler<>() {
                        @Override
                        public boolean supportsContext(io.micrometer.observation.Observation.Context context) {
                            return true;
                        }

                        @Override
                        public void onStart(io.micrometer.observation.Observation.Context context) {
                            observed.add(context.getName());
                        }
                    });
                    return registry;
                })
                .run(context -> {
                    assertThat(context).hasSingleBean(TrtLlmChatWarmUp.class);
                    assertThat(context.getBean(TrtLlmChatWarmUp.class).isRunning()).isTrue();
                });
        assertThat(output).contains("Chat model warm-up (template, Spring AI request and response, call and stream) in");
        assertThat(output).doesNotContain("Chat model warm-up failed");
        assertThat(llm.stats().iterations()).isEqualTo(iterations); // the engine ran nothing
        assertThat(observed).isEmpty();

        runner.withUserConfiguration(SharedEngine.class).withPropertyValues("trtllm.warmup.chat-model=false")
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmChatWarmUp.class));
    }

    @Test
    void aUserDefinedChatModelWins() {
        runner.withUserConfiguration(SharedEngine.class, OwnChatModel.class).run(context -> {
            assertThat(context).hasSingleBean(TrtLlmChatModel.class);
            assertThat(context.getBean(TrtLlmChatModel.class).getOptions().getModel()).isEqualTo("mine");
        });
    }

    @Test
    void anotherChatProviderOrNoneDisablesIt() {
        for (String provider : new String[] {"none", "openai"}) {
            runner.withUserConfiguration(SharedEngine.class).withPropertyValues("spring.ai.model.chat=" + provider)
                    .run(context -> assertThat(context).doesNotHaveBean(TrtLlmChatModel.class)
                            .doesNotHaveBean(TrtLlmProperties.class));
            runner.withPropertyValues("spring.ai.model.chat=" + provider)
                    .run(context -> assertThat(context).doesNotHaveBean(LLM.class));
        }
    }

    @Test
    void selectingTrtllmEnablesIt() {
        runner.withUserConfiguration(SharedEngine.class).withPropertyValues("spring.ai.model.chat=trtllm")
                .run(context -> assertThat(context).hasSingleBean(TrtLlmChatModel.class));
    }

    @Test
    void theObservationRegistryBeanIsUsed() {
        var observations = ObservationRegistry.create();
        var seen = new AtomicReference<String>();
        observations.observationConfig().observationHandler(new io.micrometer.observation.ObservationHandler<>() {
            @Override
            public boolean supportsContext(io.micrometer.observation.Observation.Context context) {
                return true;
            }

            @Override
            public void onStop(io.micrometer.observation.Observation.Context context) {
                seen.set(context.getName());
            }
        });
        runner.withUserConfiguration(SharedEngine.class).withBean(ObservationRegistry.class, () -> observations)
                .withPropertyValues("trtllm.chat.options.max-tokens=2").run(context -> {
                    context.getBean(ChatModel.class).call(new Prompt("Once upon a time"));
                    assertThat(seen.get()).isEqualTo("gen_ai.client.operation");
                });
    }

    @Test
    void aChatModelBuiltFromTheBuilderBeanKeepsTheObservationsAndTheDefaults() {
        var observations = ObservationRegistry.create();
        var seen = new AtomicReference<String>();
        observations.observationConfig().observationHandler(new io.micrometer.observation.ObservationHandler<>() {
            @Override
            public boolean supportsContext(io.micrometer.observation.Observation.Context context) {
                return true;
            }

            @Override
            public void onStop(io.micrometer.observation.Observation.Context context) {
                seen.set(context.getName());
            }
        });
        runner.withUserConfiguration(SharedEngine.class, OwnChatModelFromTheBuilder.class)
                .withBean(ObservationRegistry.class, () -> observations)
                .withPropertyValues("trtllm.chat.max-tokens=3").run(context -> {
                    assertThat(context).hasSingleBean(TrtLlmChatModel.class).hasBean("myChatModel");
                    TrtLlmChatModel mine = context.getBean(TrtLlmChatModel.class);
                    var response = mine.call(new Prompt("Once upon a time"));
                    assertThat(response.getMetadata().getUsage().getCompletionTokens())
                            .as("trtllm.chat.* defaults reach the application's own model").isEqualTo(3);
                    assertThat(seen.get()).isEqualTo("gen_ai.client.operation");
                    // A prototype: each injection point gets its own builder.
                    assertThat(context.getBean(TrtLlmChatModel.Builder.class))
                            .isNotSameAs(context.getBean(TrtLlmChatModel.Builder.class));
                });
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnChatModelFromTheBuilder {
        @Bean
        TrtLlmChatModel myChatModel(TrtLlmChatModel.Builder builder) {
            return builder.build();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class SharedEngine {
        /** The shared engine outlives the context: no destroy method. */
        @Bean(destroyMethod = "")
        LLM llm() {
            return SharedLlm.get();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnChatModel {
        @Bean
        TrtLlmChatModel myChatModel(LLM llm) {
            return TrtLlmChatModel.builder().llm(llm).defaultOptions(TrtLlmChatOptions.builder().model("mine").build())
                    .build();
        }
    }
}
