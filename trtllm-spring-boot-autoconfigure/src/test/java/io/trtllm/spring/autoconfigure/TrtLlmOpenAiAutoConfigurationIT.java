package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.spring.openai.TrtLlmOpenAiApi;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.ReactiveWebApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.web.reactive.function.server.RouterFunction;

/** The OpenAI API's conditions and properties. */
class TrtLlmOpenAiAutoConfigurationIT {
    private final ReactiveWebApplicationContextRunner runner = new ReactiveWebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmOpenAiAutoConfiguration.class))
            .withUserConfiguration(TrtLlmAutoConfigurationIT.SharedEngine.class);

    @Test
    void runWhenEnabledShouldServeTheConfiguredModel() {
        runner.withPropertyValues("trtllm.openai.enabled=true").run(context -> {
            assertThat(context).hasSingleBean(TrtLlmOpenAiApi.class).hasBean("trtLlmOpenAiRoutes");
            assertThat(context.getBean(TrtLlmOpenAiApi.class).modelName()).isEqualTo("stories15M");
        });
    }

    @Test
    void runWithAModelNameShouldServeThatName() {
        runner.withPropertyValues("trtllm.openai.enabled=true", "trtllm.openai.model-name=story-teller")
                .run(context -> assertThat(context.getBean(TrtLlmOpenAiApi.class).modelName()).isEqualTo("story-teller"));
    }

    @Test
    void runWhenNotEnabledShouldNotServeIt() {
        runner.run(context -> assertThat(context).doesNotHaveBean(TrtLlmOpenAiApi.class)
                .doesNotHaveBean(RouterFunction.class));
        runner.withPropertyValues("trtllm.openai.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmOpenAiApi.class));
    }

    @Test
    void runOutsideAReactiveWebApplicationShouldNotServeIt() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmOpenAiAutoConfiguration.class))
                .withUserConfiguration(TrtLlmAutoConfigurationIT.SharedEngine.class)
                .withPropertyValues("trtllm.openai.enabled=true")
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmOpenAiApi.class));
        runner.withPropertyValues("trtllm.openai.enabled=true")
                .withClassLoader(new FilteredClassLoader(RouterFunction.class))
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmOpenAiApi.class));
    }

    @Test
    void runWithoutAnEngineShouldNotServeIt() {
        new ReactiveWebApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmOpenAiAutoConfiguration.class))
                .withPropertyValues("trtllm.openai.enabled=true", "spring.ai.model.chat=none")
                .run(context -> assertThat(context).doesNotHaveBean(TrtLlmOpenAiApi.class));
    }

    @Test
    void runWithAnInvalidBasePathShouldFailNamingTheKey() {
        runner.withPropertyValues("trtllm.openai.enabled=true", "trtllm.openai.base-path=v1/")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("trtllm.openai.base-path").hasMessageContaining("v1/"));
    }

    @Test
    void runWithABlankApiKeyShouldFailNamingTheKey() {
        runner.withPropertyValues("trtllm.openai.enabled=true", "trtllm.openai.api-key= ")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("trtllm.openai.api-key"));
    }

    @Test
    void runWithUserDefinedApiShouldBackOff() {
        runner.withPropertyValues("trtllm.openai.enabled=true")
                .withBean("myApi", TrtLlmOpenAiApi.class, () -> new TrtLlmOpenAiApi(
                        io.trtllm.spring.testing.SharedLlm.get(), "mine",
                        io.trtllm.spring.chat.TrtLlmChatOptions.builder().build(), 16,
                        io.trtllm.spring.chat.TrtLlmRequestObserver.NOOP))
                .run(context -> {
                    assertThat(context).hasSingleBean(TrtLlmOpenAiApi.class).hasBean("myApi");
                    assertThat(context.getBean(TrtLlmOpenAiApi.class).modelName()).isEqualTo("mine");
                });
    }

    @Test
    void runInAServletApplicationShouldFailSayingItNeedsWebFlux() {
        new WebApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmOpenAiAutoConfiguration.class,
                        TrtLlmOpenAiServletAutoConfiguration.class))
                .withUserConfiguration(TrtLlmAutoConfigurationIT.SharedEngine.class)
                .withPropertyValues("trtllm.openai.enabled=true")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("trtllm.openai.enabled=true")
                        .hasMessageContaining("servlet (Spring MVC)")
                        .hasMessageContaining("spring-boot-starter-webflux"));
    }

    @Test
    void runInAServletApplicationWithTheApiOffShouldStart() {
        new WebApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(TrtLlmAutoConfiguration.class, TrtLlmOpenAiAutoConfiguration.class,
                        TrtLlmOpenAiServletAutoConfiguration.class))
                .withUserConfiguration(TrtLlmAutoConfigurationIT.SharedEngine.class)
                .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(TrtLlmOpenAiApi.class));
    }

    @Test
    void runWithTheApplicationsJsonMapperShouldWriteWithIt() {
        runner.withPropertyValues("trtllm.openai.enabled=true")
                .withBean(tools.jackson.databind.json.JsonMapper.class, () -> tools.jackson.databind.json.JsonMapper.builder()
                        .enable(tools.jackson.databind.SerializationFeature.INDENT_OUTPUT).build())
                .run(context -> {
                    var client = org.springframework.test.web.reactive.server.WebTestClient
                            .bindToRouterFunction(context.getBean("trtLlmOpenAiRoutes", RouterFunction.class)).build();
                    byte[] body = client.get().uri("/v1/models").exchange().expectStatus().isOk()
                            .expectBody().returnResult().getResponseBody();
                    assertThat(new String(body, java.nio.charset.StandardCharsets.UTF_8)).contains("\n  \"object\"");
                });
    }
}
