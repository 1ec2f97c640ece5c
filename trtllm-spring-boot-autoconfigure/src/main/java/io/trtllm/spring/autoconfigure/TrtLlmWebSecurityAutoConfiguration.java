package io.trtllm.spring.autoconfigure;

import io.trtllm.spring.security.KeyHolderHealthDetails;
import io.trtllm.spring.security.TrtLlmApiKeySecurity;
import io.trtllm.spring.web.TrtLlmRequestGuard;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.util.matcher.OrServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.PathPatternParserServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher;
import org.springframework.util.ClassUtils;

/**
 * Protection of the endpoints that generate (the OpenAI API under its base path and
 * {@code trtllm.openai.protected-paths}) on a reactive web application:
 * <ul>
 *   <li>Always: {@link TrtLlmRequestGuard} (CORS from {@code trtllm.openai.cors.allowed-origins}, no
 *   cross-site requests without CORS, JSON request bodies only).</li>
 *   <li>With {@code trtllm.openai.api-key} and Spring Security: a filter chain of its own
 *   ({@link TrtLlmApiKeySecurity}, order {@link #ORDER}) for those paths and every Actuator endpoint:
 *   the key is required except on health and its probes, whose details only key holders see
 *   ({@link KeyHolderHealthDetails}). The rest of the application keeps its own chains; an application
 *   with none keeps what Spring Security does without one (everything needs a login), since defining a
 *   chain would otherwise switch that default off.</li>
 *   <li>With {@code trtllm.openai.api-key} and no Spring Security: startup fails, naming the dependency
 *   to add, rather than serving the API without the key the configuration asks for.</li>
 * </ul>
 * Without a key the starter adds no chain: Spring Security's defaults apply only if the application
 * itself has Spring Security.
 */
@AutoConfiguration(after = TrtLlmOpenAiAutoConfiguration.class, afterName = {
        "org.springframework.boot.security.autoconfigure.actuate.web.reactive.ReactiveManagementWebSecurityAutoConfiguration",
        "org.springframework.boot.security.autoconfigure.web.reactive.ReactiveWebSecurityAutoConfiguration",
        "org.springframework.boot.actuate.autoconfigure.endpoint.web.WebEndpointAutoConfiguration",
        "org.springframework.boot.health.autoconfigure.actuate.endpoint.HealthEndpointAutoConfiguration",
        "org.springframework.boot.health.autoconfigure.actuate.endpoint.AvailabilityProbesAutoConfiguration"})
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.REACTIVE)
@EnableConfigurationProperties(TrtLlmOpenAiProperties.class)
public final class TrtLlmWebSecurityAutoConfiguration {
    /**
     * Order of the API key's filter chain among the application's {@link SecurityWebFilterChain}s: before
     * those without an order. An application that wants its own rules for one of its paths gives its
     * chain a lower order.
     */
    public static final int ORDER = Ordered.HIGHEST_PRECEDENCE + 100;

    private static final String SERVER_HTTP_SECURITY = "org.springframework.security.config.web.server.ServerHttpSecurity";

    /**
     * The path patterns of the endpoints that generate: the API's routes (under its base path, when the
     * API is enabled) and the protected paths.
     */
    static List<String> generatingPaths(TrtLlmOpenAiProperties properties) {
        List<String> paths = new ArrayList<>();
        if (properties.isEnabled()) {
            String base = properties.getBasePath();
            if (base.equals("/")) {
                // The API at the root: its own routes, not the whole application.
                paths.addAll(List.of("/chat/completions", "/completions", "/models", "/models/*"));
            } else {
                paths.add(base + "/**");
            }
        }
        paths.addAll(properties.getProtectedPaths());
        return paths;
    }

    @Bean
    @ConditionalOnMissingBean
    TrtLlmRequestGuard trtLlmRequestGuard(TrtLlmOpenAiProperties properties) {
        return new TrtLlmRequestGuard(generatingPaths(properties), properties.getCors().getAllowedOrigins());
    }

    /** An API key without Spring Security: fail rather than serve without the key. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(prefix = TrtLlmOpenAiProperties.PREFIX, name = "api-key")
    @ConditionalOnMissingClass(SERVER_HTTP_SECURITY)
    static final class ApiKeyWithoutSpringSecurity implements InitializingBean {
        @Override
        public void afterPropertiesSet() {
            throw new InvalidConfigurationPropertyValueException(TrtLlmOpenAiProperties.PREFIX + ".api-key", "(hidden)",
                    "the API key is enforced by Spring Security, which is not on the classpath: add the dependency "
                            + "org.springframework.boot:spring-boot-starter-security, or remove the key");
        }
    }

    /**
     * The key's chain. Its nested configurations are processed in their {@code @Order}: the default chain
     * is decided before the key's chain exists.
     */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(prefix = TrtLlmOpenAiProperties.PREFIX, name = "api-key")
    @ConditionalOnClass(name = SERVER_HTTP_SECURITY)
    static final class ApiKeyConfiguration {

        @Configuration(proxyBeanMethods = false)
        @Order(1)
        static final class DefaultChainConfiguration {
            /**
             * What Spring Security uses when an application has no chain of its own (every request needs a
             * login), for what the key's chain leaves; defining that chain would otherwise turn it off.
             */
            @Bean
            @Order(Ordered.LOWEST_PRECEDENCE)
            @ConditionalOnMissingBean(SecurityWebFilterChain.class)
            SecurityWebFilterChain trtLlmDefaultSecurityWebFilterChain(ServerHttpSecurity http) {
                return http.authorizeExchange(exchanges -> exchanges.anyExchange().authenticated())
                        .httpBasic(Customizer.withDefaults())
                        .formLogin(Customizer.withDefaults())
                        .build();
            }
        }

        @Configuration(proxyBeanMethods = false)
        @Order(2)
        static final class ApiKeyChainConfiguration {
            @Bean
            @Order(ORDER)
            @ConditionalOnMissingBean(name = "trtLlmSecurityWebFilterChain")
            SecurityWebFilterChain trtLlmSecurityWebFilterChain(ServerHttpSecurity http, TrtLlmOpenAiProperties properties,
                                                                ApplicationContext context) {
                List<String> generating = generatingPaths(properties);
                List<ServerWebExchangeMatcher> protect = new ArrayList<>();
                generating.forEach(p -> protect.add(new PathPatternParserServerWebExchangeMatcher(p)));
                ServerWebExchangeMatcher open = exchange -> ServerWebExchangeMatcher.MatchResult.notMatch();
                if (ActuatorMatchers.available(context)) {
                    protect.add(ActuatorMatchers.anyEndpoint());
                    open = ActuatorMatchers.health();
                }
                if (protect.isEmpty()) {
                    throw new InvalidConfigurationPropertyValueException(TrtLlmOpenAiProperties.PREFIX + ".api-key", "(hidden)",
                            "there is nothing for the key to protect: enable the API (trtllm.openai.enabled=true) or list "
                                    + "trtllm.openai.protected-paths");
                }
                return TrtLlmApiKeySecurity.filterChain(http, Objects.requireNonNull(properties.getApiKey()),
                        new OrServerWebExchangeMatcher(protect), open,
                        TrtLlmRequestGuard.corsConfiguration(generating, properties.getCors().getAllowedOrigins()));
            }
        }

        @Configuration(proxyBeanMethods = false)
        @Order(3)
        @ConditionalOnClass(name = {"org.springframework.boot.health.actuate.endpoint.HealthEndpointGroupsPostProcessor",
                "org.springframework.boot.actuate.endpoint.web.AdditionalPathsMapper"})
        static final class HealthDetailsConfiguration {
            @Bean
            @ConditionalOnMissingBean
            KeyHolderHealthDetails trtLlmKeyHolderHealthDetails() {
                return new KeyHolderHealthDetails();
            }
        }
    }

    /** Actuator's endpoints, when the application has them (classes touched only then). */
    private static final class ActuatorMatchers {
        static boolean available(ApplicationContext context) {
            ClassLoader loader = context.getClassLoader();
            return ClassUtils.isPresent(
                    "org.springframework.boot.security.autoconfigure.actuate.web.reactive.EndpointRequest", loader)
                    && ClassUtils.isPresent("org.springframework.boot.health.actuate.endpoint.HealthEndpoint", loader)
                    && ClassUtils.isPresent("org.springframework.boot.actuate.endpoint.web.PathMappedEndpoints", loader)
                    && context.getBeanNamesForType(
                            org.springframework.boot.actuate.endpoint.web.PathMappedEndpoints.class).length > 0;
        }

        static ServerWebExchangeMatcher anyEndpoint() {
            return org.springframework.boot.security.autoconfigure.actuate.web.reactive.EndpointRequest.toAnyEndpoint();
        }

        /** The health endpoint, its groups (liveness, readiness) and their additional paths (/livez, /readyz). */
        static ServerWebExchangeMatcher health() {
            Class<?> health = org.springframework.boot.health.actuate.endpoint.HealthEndpoint.class;
            return new OrServerWebExchangeMatcher(
                    org.springframework.boot.security.autoconfigure.actuate.web.reactive.EndpointRequest.to(health),
                    org.springframework.boot.security.autoconfigure.actuate.web.reactive.EndpointRequest.toAdditionalPaths(
                            org.springframework.boot.actuate.endpoint.web.WebServerNamespace.SERVER, health));
        }
    }
}
