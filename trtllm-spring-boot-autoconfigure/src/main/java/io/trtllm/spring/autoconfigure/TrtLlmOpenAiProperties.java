package io.trtllm.spring.autoconfigure;

import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * The OpenAI-compatible HTTP API ({@code trtllm.openai.*}): {@code POST <base-path>/chat/completions},
 * {@code POST <base-path>/completions} and {@code GET <base-path>/models} on a WebFlux application,
 * and how it and the application's own generating endpoints ({@code protected-paths}) are protected:
 * the API key (needs Spring Security), CORS, JSON-only bodies. See docs/SECURITY.md.
 */
@ConfigurationProperties(prefix = TrtLlmOpenAiProperties.PREFIX)
public class TrtLlmOpenAiProperties implements InitializingBean {
    /** Prefix of the OpenAI API's properties. */
    public static final String PREFIX = "trtllm.openai";

    /** Whether to serve the OpenAI-compatible API (needs WebFlux). */
    private boolean enabled;

    /** Path the API is served under, e.g. /v1/chat/completions. */
    private String basePath = "/v1";

    /**
     * Bearer token (Authorization: Bearer ...) that the API, the protected paths and every Actuator
     * endpoint but health require; unset, they need none. Needs Spring Security on the classpath
     * (spring-boot-starter-security): without it, startup fails.
     */
    private @Nullable String apiKey;

    /**
     * Path patterns of the application's own endpoints that generate (e.g. /api/**): protected like the
     * API (the API key when set, CORS, request bodies only as application/json).
     */
    private List<String> protectedPaths = new ArrayList<>();

    /** Most choices one request may ask for (n, best_of, and n times the prompts of a batch). */
    private int maxN = 16;

    private final Cors cors = new Cors();

    /** Model id that requests name and GET /models lists; unset, the configured trtllm.model. */
    private @Nullable String modelName;

    @Override
    public void afterPropertiesSet() {
        if (!basePath.startsWith("/") || basePath.endsWith("/") && basePath.length() > 1 || basePath.contains(" ")) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + ".base-path", basePath,
                    "must start with '/', not end with '/', and contain no spaces (e.g. /v1)");
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + ".api-key", "(blank)",
                    "must not be blank: leave it unset for an API without a key");
        }
        for (String path : protectedPaths) {
            if (!path.startsWith("/") || path.contains(" ")) {
                throw new InvalidConfigurationPropertyValueException(PREFIX + ".protected-paths", path,
                        "each must be a path pattern starting with '/' without spaces (e.g. /api/**)");
            }
        }
        if (maxN < 1) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + ".max-n", maxN, "must be >= 1");
        }
        for (String origin : cors.allowedOrigins) {
            if (origin.isBlank() || origin.endsWith("/")) {
                throw new InvalidConfigurationPropertyValueException(PREFIX + ".cors.allowed-origins", origin,
                        "each must be an origin such as https://chat.example.com (scheme, host and port, no path)");
            }
        }
        if (modelName != null && modelName.isBlank()) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + ".model-name", modelName,
                    "must not be blank: leave it unset to use trtllm.model");
        }
    }

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public String getBasePath() {
        return basePath;
    }

    public void setBasePath(String basePath) {
        this.basePath = basePath;
    }

    public @Nullable String getApiKey() {
        return apiKey;
    }

    public void setApiKey(@Nullable String apiKey) {
        this.apiKey = apiKey;
    }

    public List<String> getProtectedPaths() {
        return protectedPaths;
    }

    public void setProtectedPaths(List<String> protectedPaths) {
        this.protectedPaths = protectedPaths;
    }

    public int getMaxN() {
        return maxN;
    }

    public void setMaxN(int maxN) {
        this.maxN = maxN;
    }

    public Cors getCors() {
        return cors;
    }

    /** Cross-origin requests from browsers ({@code trtllm.openai.cors.*}) to the API and the protected paths. */
    public static class Cors {
        /**
         * Origins whose pages may call the API from a browser (e.g. https://chat.example.com); none by
         * default, so cross-origin requests are refused with 403.
         */
        private List<String> allowedOrigins = new ArrayList<>();

        public List<String> getAllowedOrigins() {
            return allowedOrigins;
        }

        public void setAllowedOrigins(List<String> allowedOrigins) {
            this.allowedOrigins = allowedOrigins;
        }
    }

    public @Nullable String getModelName() {
        return modelName;
    }

    public void setModelName(@Nullable String modelName) {
        this.modelName = modelName;
    }
}
