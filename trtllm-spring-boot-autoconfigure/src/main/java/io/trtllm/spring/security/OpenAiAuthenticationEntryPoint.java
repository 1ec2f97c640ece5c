package io.trtllm.spring.security;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.security.access.AccessDeniedException;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.web.server.ServerAuthenticationEntryPoint;
import org.springframework.security.web.server.authorization.ServerAccessDeniedHandler;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * 401 and 403 in the OpenAI API's shape, {@code {"error": {"message", "type", "param", "code"}}}, so
 * that OpenAI clients show the reason: {@code missing_api_key} for a request without
 * {@code Authorization: Bearer ...}, {@code invalid_api_key} for a wrong key; with
 * {@code WWW-Authenticate: Bearer}.
 */
final class OpenAiAuthenticationEntryPoint implements ServerAuthenticationEntryPoint, ServerAccessDeniedHandler {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Mono<Void> commence(ServerWebExchange exchange, AuthenticationException e) {
        ServerHttpResponse response = exchange.getResponse();
        response.getHeaders().set(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        return e instanceof BadCredentialsException
                ? write(response, HttpStatus.UNAUTHORIZED, "invalid_api_key", "Incorrect API key provided.")
                : write(response, HttpStatus.UNAUTHORIZED, "missing_api_key",
                        "You didn't provide an API key: send it in an Authorization header (Authorization: Bearer KEY).");
    }

    @Override
    public Mono<Void> handle(ServerWebExchange exchange, AccessDeniedException denied) {
        return write(exchange.getResponse(), HttpStatus.FORBIDDEN, "forbidden", "This API key may not call this endpoint.");
    }

    private static Mono<Void> write(ServerHttpResponse response, HttpStatus status, String code, String message) {
        ObjectNode body = JSON.createObjectNode();
        body.putObject("error").put("message", message).put("type", "invalid_request_error").putNull("param")
                .put("code", code);
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        response.setStatusCode(status);
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        return response.writeWith(Mono.just(response.bufferFactory().wrap(bytes)));
    }
}
