package io.trtllm.spring.autoconfigure;

import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * The OpenAI-compatible HTTP API ({@code trtllm.openai.*}): {@code POST <base-path>/chat/completions},
 * {@code POST <base-path>/completions} and {@code GET <base-path>/models} on a WebFlux application.
 */
@ConfigurationProperties(prefix = TrtLlmOpenAiProperties.PREFIX)
public class TrtLlmOpenAiProperties implements InitializingBean {
    /** Prefix of the OpenAI API's properties. */
    public static final String PREFIX = "trtllm.openai";

    /** Whether to serve the OpenAI-compatible API (needs WebFlux). */
    private boolean enabled;

    /** Path the API is served under, e.g. /v1/chat/completions. */
    private String basePath = "/v1";

    /** Bearer token every request must carry (Authorization: Bearer ...); unset, requests need none. */
    private @Nullable String apiKey;

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

    public @Nullable String getModelName() {
        return modelName;
    }

    public void setModelName(@Nullable String modelName) {
        this.modelName = modelName;
    }
}
