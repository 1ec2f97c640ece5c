package io.trtllm.spring.security;

import org.springframework.security.config.web.server.SecurityWebFiltersOrder;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.authentication.AuthenticationWebFilter;
import org.springframework.security.web.server.authentication.ServerAuthenticationEntryPointFailureHandler;
import org.springframework.security.web.server.context.NoOpServerSecurityContextRepository;
import org.springframework.security.web.server.savedrequest.NoOpServerRequestCache;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher;
import org.springframework.web.cors.reactive.CorsConfigurationSource;

/**
 * The API key as a Spring Security filter chain of its own, limited to the exchanges it protects
 * (the rest of the application keeps whatever chains it has): each request there must carry
 * {@code Authorization: Bearer <key>}, except those {@code open} lets through (health probes), which
 * are still authenticated when they carry it (so that health details can be shown to key holders).
 * Stateless: no session, no saved request, no login form or HTTP Basic; no CSRF token either, since the
 * key never travels in a cookie and cross-site forms cannot send JSON (see
 * {@link io.trtllm.spring.web.TrtLlmRequestGuard}). CORS: {@code cors}, answered before authentication
 * so that preflights (which carry no key) work.
 */
public final class TrtLlmApiKeySecurity {

    private TrtLlmApiKeySecurity() {
    }

    /**
     * The filter chain.
     *
     * @param http      Spring Security's builder (a fresh one)
     * @param apiKey    the key
     * @param protect   the exchanges this chain handles
     * @param open      among them, those allowed without the key
     * @param cors      CORS rules of the exchanges (none registered for a path: no CORS handling there)
     */
    public static SecurityWebFilterChain filterChain(ServerHttpSecurity http, String apiKey, ServerWebExchangeMatcher protect,
                                                     ServerWebExchangeMatcher open, CorsConfigurationSource cors) {
        var entryPoint = new OpenAiAuthenticationEntryPoint();
        var authentication = new AuthenticationWebFilter(new ApiKeyAuthenticationManager(apiKey));
        authentication.setServerAuthenticationConverter(new BearerTokenConverter());
        authentication.setAuthenticationFailureHandler(new ServerAuthenticationEntryPointFailureHandler(entryPoint));
        return http.securityMatcher(protect)
                .authorizeExchange(exchanges -> {
                    exchanges.matchers(open).permitAll();
                    exchanges.anyExchange().authenticated();
                })
                .addFilterAt(authentication, SecurityWebFiltersOrder.AUTHENTICATION)
                .exceptionHandling(e -> e.authenticationEntryPoint(entryPoint).accessDeniedHandler(entryPoint))
                .cors(c -> c.configurationSource(cors))
                .csrf(ServerHttpSecurity.CsrfSpec::disable)
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                .formLogin(ServerHttpSecurity.FormLoginSpec::disable)
                .logout(ServerHttpSecurity.LogoutSpec::disable)
                .requestCache(c -> c.requestCache(NoOpServerRequestCache.getInstance()))
                .securityContextRepository(NoOpServerSecurityContextRepository.getInstance())
                .build();
    }
}
