package io.trtllm.spring.security;

import java.nio.charset.StandardCharsets;
import org.springframework.http.HttpHeaders;
import org.springframework.security.core.Authentication;
import org.springframework.security.web.server.authentication.ServerAuthenticationConverter;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * Reads {@code Authorization: Bearer <token>} (scheme case-insensitive, as OpenAI clients send it);
 * a request without it is left unauthenticated, and is refused as "missing" where the key is required.
 */
final class BearerTokenConverter implements ServerAuthenticationConverter {
    private static final String BEARER = "Bearer ";
    /** Longer headers are no key of ours; keeps hashing bounded (headers are limited by the server anyway). */
    private static final int MAX_TOKEN_LENGTH = 4096;

    @Override
    public Mono<Authentication> convert(ServerWebExchange exchange) {
        String header = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
            return Mono.empty();
        }
        String token = header.substring(BEARER.length()).strip();
        byte[] bytes = token.length() > MAX_TOKEN_LENGTH ? new byte[0] : token.getBytes(StandardCharsets.UTF_8);
        return Mono.just(ApiKeyAuthenticationToken.presented(bytes));
    }
}
