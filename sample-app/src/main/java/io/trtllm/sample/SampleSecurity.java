package io.trtllm.sample;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.savedrequest.NoOpServerRequestCache;

/**
 * The sample's own security: everything the starter does not protect is open (the chat page and its
 * files). What costs GPU time is the starter's: with {@code trtllm.openai.api-key} set, its chain
 * (ordered first) requires the key on {@code /v1/**}, on {@code /api/**} (listed in
 * {@code trtllm.openai.protected-paths}) and on Actuator except health. Without a key this chain also
 * serves those paths, openly, as the sample did before it had Spring Security.
 *
 * <p>No CSRF tokens: nothing here authenticates by cookie, and the starter's request guard refuses
 * cross-site requests without CORS and request bodies that are not JSON on the generating paths.
 */
@Configuration(proxyBeanMethods = false)
class SampleSecurity {

    @Bean
    @Order(Ordered.LOWEST_PRECEDENCE)
    SecurityWebFilterChain sampleSecurityWebFilterChain(ServerHttpSecurity http) {
        return http.authorizeExchange(exchanges -> exchanges.anyExchange().permitAll())
                .csrf(ServerHttpSecurity.CsrfSpec::disable)
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                .formLogin(ServerHttpSecurity.FormLoginSpec::disable)
                .logout(ServerHttpSecurity.LogoutSpec::disable)
                .requestCache(c -> c.requestCache(NoOpServerRequestCache.getInstance()))
                .build();
    }
}
