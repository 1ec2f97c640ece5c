package io.trtllm.spring.web;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.springframework.core.Ordered;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.reactive.CorsConfigurationSource;
import org.springframework.web.cors.reactive.CorsWebFilter;
import org.springframework.web.cors.reactive.UrlBasedCorsConfigurationSource;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import org.springframework.web.util.pattern.PathPattern;
import org.springframework.web.util.pattern.PathPatternParser;
import reactor.core.publisher.Mono;

/**
 * What a request to an endpoint that generates must look like, checked before any handler runs; for
 * the OpenAI API and the application's own generating paths ({@code trtllm.openai.protected-paths}),
 * with or without an API key:
 * <ol>
 *   <li><b>CORS</b>: a browser request from another origin is refused with 403 unless its origin is
 *   in {@code trtllm.openai.cors.allowed-origins} (none by default); preflights are answered here.</li>
 *   <li><b>No cross-site requests without CORS</b>: a request a browser marks {@code Sec-Fetch-Site:
 *   cross-site} (or {@code same-site}) that carries no {@code Origin} (an image, a script, a link, a
 *   form) is refused with 403: without it, any page a user visits could start generation on a server
 *   on their network, e.g. with {@code <img src=".../api/chat/stream?message=...">}.</li>
 *   <li><b>JSON bodies only</b>: a POST, PUT or PATCH whose {@code Content-Type} is not
 *   {@code application/json} is refused with 415. A browser sends a cross-site {@code text/plain} or
 *   form POST without asking first; {@code application/json} needs a CORS preflight, which (1) refuses.</li>
 * </ol>
 * Errors have the OpenAI API's shape: {@code {"error": {"message", "type", "param", "code"}}}.
 * Ordered after Spring Security's filter chain (an unauthenticated request gets its 401 first).
 */
public final class TrtLlmRequestGuard implements WebFilter, Ordered {
    /** Order of this filter: after Spring Security's {@code WebFilterChainProxy} (-100). */
    public static final int ORDER = -90;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<HttpMethod> WITH_BODY = Set.of(HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH);

    private final List<PathPattern> paths;
    private final CorsWebFilter cors;

    /**
     * @param pathPatterns   the generating paths (e.g. {@code /v1/**}, {@code /api/**})
     * @param allowedOrigins origins allowed to call them from a browser; empty: none
     */
    public TrtLlmRequestGuard(List<String> pathPatterns, List<String> allowedOrigins) {
        PathPatternParser parser = PathPatternParser.defaultInstance;
        this.paths = pathPatterns.stream().map(parser::parse).toList();
        this.cors = new CorsWebFilter(corsConfiguration(pathPatterns, allowedOrigins));
    }

    /**
     * The CORS rules of the generating paths: the allowed origins may send GET and POST with the
     * Authorization and Content-Type headers, without credentials (cookies); no other origin may.
     */
    public static CorsConfigurationSource corsConfiguration(List<String> pathPatterns, List<String> allowedOrigins) {
        var config = new CorsConfiguration();
        config.setAllowedOrigins(List.copyOf(allowedOrigins));
        config.setAllowedMethods(List.of("GET", "POST"));
        config.setAllowedHeaders(List.of(HttpHeaders.AUTHORIZATION, HttpHeaders.CONTENT_TYPE));
        config.setAllowCredentials(false);
        config.setMaxAge(3600L);
        var source = new UrlBasedCorsConfigurationSource();
        for (String pattern : pathPatterns) {
            source.registerCorsConfiguration(pattern, config);
        }
        return source;
    }

    @Override
    public int getOrder() {
        return ORDER;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        var path = exchange.getRequest().getPath().pathWithinApplication();
        if (paths.stream().noneMatch(p -> p.matches(path))) {
            return chain.filter(exchange);
        }
        return cors.filter(exchange, checked -> {
            HttpHeaders headers = checked.getRequest().getHeaders();
            String site = headers.getFirst("Sec-Fetch-Site");
            if (("cross-site".equals(site) || "same-site".equals(site)) && headers.getOrigin() == null) {
                return error(checked.getResponse(), HttpStatus.FORBIDDEN, "cross_site_request",
                        "Cross-site requests without CORS are refused: call this endpoint from a page of an allowed "
                                + "origin, or from a server.");
            }
            if (WITH_BODY.contains(checked.getRequest().getMethod()) && !isJson(headers)) {
                return error(checked.getResponse(), HttpStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                        "The request body must be JSON: send it with 'Content-Type: application/json' (got "
                                + describe(headers.getFirst(HttpHeaders.CONTENT_TYPE)) + ").");
            }
            return chain.filter(checked);
        });
    }

    /** Whether the request says its body is {@code application/json} (any parameters, e.g. a charset). */
    public static boolean isJson(HttpHeaders headers) {
        try {
            MediaType type = headers.getContentType();
            return type != null && type.isCompatibleWith(MediaType.APPLICATION_JSON) && !type.isWildcardType()
                    && !type.isWildcardSubtype();
        } catch (InvalidMediaTypeException e) {
            return false;
        }
    }

    /** A Content-Type header as an error message may quote it: at most 100 printable ASCII characters. */
    public static String describe(@Nullable String contentType) {
        if (contentType == null || contentType.isBlank()) {
            return "no Content-Type";
        }
        String printable = contentType.replaceAll("[^\\x20-\\x7e]", "?");
        return "'" + (printable.length() > 100 ? printable.substring(0, 100) + "..." : printable) + "'";
    }

    private static Mono<Void> error(ServerHttpResponse response, HttpStatus status, String code, String message) {
        ObjectNode body = JSON.createObjectNode();
        body.putObject("error").put("message", message).put("type", "invalid_request_error").putNull("param")
                .put("code", code);
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        response.setStatusCode(status);
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        return response.writeWith(Mono.just(response.bufferFactory().wrap(bytes)));
    }
}
