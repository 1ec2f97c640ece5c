package io.trtllm.spring.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.spring.web.TrtLlmRequestGuard;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.security.autoconfigure.web.reactive.ReactiveWebSecurityAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ReactiveWebApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.web.server.SecurityWebFilterChain;

/**
 * How the starter protects what generates, with and without an API key and Spring Security (the HTTP
 * behaviour itself is tested on the sample app's server).
 */
class TrtLlmWebSecurityAutoConfigurationIT {
    private static final String KEY = "sk-secret-4f1c";

    private final ReactiveWebApplicationContextRunner runner = new ReactiveWebApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(ReactiveWebSecurityAutoConfiguration.class,
                    TrtLlmAutoConfiguration.class, TrtLlmOpenAiAutoConfiguration.class,
                    TrtLlmWebSecurityAutoConfiguration.class))
            .withUserConfiguration(TrtLlmAutoConfigurationIT.SharedEngine.class)
            .withPropertyValues("trtllm.openai.enabled=true");

    @Test
    void withoutAKeyTheGuardIsThereAndNoFilterChain() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(TrtLlmRequestGuard.class).doesNotHaveBean(SecurityWebFilterChain.class);
        });
    }

    @Test
    void theGeneratingPathsAreTheApisAndTheProtectedPaths() {
        var properties = new TrtLlmOpenAiProperties();
        properties.setEnabled(true);
        properties.setProtectedPaths(List.of("/api/**"));
        assertThat(TrtLlmWebSecurityAutoConfiguration.generatingPaths(properties)).containsExactly("/v1/**", "/api/**");
        properties.setBasePath("/");
        assertThat(TrtLlmWebSecurityAutoConfiguration.generatingPaths(properties))
                .as("an API at the root protects its routes, not the whole application")
                .containsExactly("/chat/completions", "/completions", "/models", "/models/*", "/api/**");
        properties.setEnabled(false);
        assertThat(TrtLlmWebSecurityAutoConfiguration.generatingPaths(properties)).containsExactly("/api/**");
    }

    @Test
    void aKeyWithoutSpringSecurityFailsStartupNamingTheDependencyButNotTheKey() {
        runner.withPropertyValues("trtllm.openai.api-key=" + KEY)
                .withClassLoader(new FilteredClassLoader("org.springframework.security"))
                .run(context -> {
                    assertThat(context).hasFailed();
                    assertThat(context.getStartupFailure()).rootCause()
                            .hasMessageContaining("trtllm.openai.api-key")
                            .hasMessageContaining("org.springframework.boot:spring-boot-starter-security");
                    assertThat(stackOf(context.getStartupFailure())).doesNotContain(KEY);
                });
    }

    @Test
    void aKeyGetsItsChainAndKeepsSpringSecuritysDefaultForTheRestOfAnApplicationWithoutChains() {
        runner.withPropertyValues("trtllm.openai.api-key=" + KEY).run(context -> {
            assertThat(context).hasBean("trtLlmSecurityWebFilterChain").hasBean("trtLlmDefaultSecurityWebFilterChain");
            assertThat(context.getBeansOfType(SecurityWebFilterChain.class)).hasSize(2);
        });
    }

    @Test
    void aKeyInAnApplicationWithItsOwnChainAddsOnlyTheKeysChain() {
        runner.withPropertyValues("trtllm.openai.api-key=" + KEY).withUserConfiguration(OwnChain.class).run(context -> {
            assertThat(context).hasBean("trtLlmSecurityWebFilterChain").hasBean("ownChain")
                    .doesNotHaveBean("trtLlmDefaultSecurityWebFilterChain");
        });
    }

    @Test
    void aKeyWithNothingToProtectFailsStartup() {
        runner.withPropertyValues("trtllm.openai.api-key=" + KEY, "trtllm.openai.enabled=false")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("nothing for the key to protect"));
    }

    @Test
    void invalidProtectionPropertiesFailNamingTheKey() {
        runner.withPropertyValues("trtllm.openai.protected-paths=api/**")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("trtllm.openai.protected-paths"));
        runner.withPropertyValues("trtllm.openai.max-n=0")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("trtllm.openai.max-n"));
        runner.withPropertyValues("trtllm.openai.cors.allowed-origins=https://ui.example/")
                .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("trtllm.openai.cors.allowed-origins"));
    }

    private static String stackOf(Throwable t) {
        var out = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(out));
        return out.toString();
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnChain {
        @Bean
        SecurityWebFilterChain ownChain(ServerHttpSecurity http) {
            return http.authorizeExchange(e -> e.anyExchange().permitAll()).build();
        }
    }
}
