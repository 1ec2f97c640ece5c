package io.trtllm.api.config;

import org.jspecify.annotations.Nullable;

/**
 * How the Hugging Face Hub is reached, where a caller sets it rather than the environment
 * ({@code trtllm.hub.*} in Spring). Each null field keeps what {@code huggingface_hub} reads from the
 * environment: {@code HF_ENDPOINT}, {@code HF_TOKEN} (else {@code $HF_HOME/token}), {@code HF_HUB_OFFLINE}.
 *
 * @param endpoint the Hub's base URL (http or https), or null for {@code HF_ENDPOINT} / the public Hub
 * @param token    an access token for gated or private models, or null for {@code HF_TOKEN}
 * @param offline  whether only cached snapshots are used, never the network; null for {@code HF_HUB_OFFLINE}
 */
public record HubConfig(@Nullable String endpoint, @Nullable String token, @Nullable Boolean offline) {
    public HubConfig {
        if (endpoint != null) {
            checkEndpoint("hub.endpoint", endpoint);
        }
        if (token != null && token.isBlank()) {
            token = null;
        }
    }

    /** Everything from the environment. */
    public static HubConfig fromEnvironment() {
        return new HubConfig(null, null, null);
    }

    /**
     * The one check of a Hub endpoint: an http(s) URL.
     *
     * @param setting how the caller names the setting ({@code HF_ENDPOINT}, {@code hub.endpoint})
     * @throws InvalidSettingException naming the setting and the value
     */
    public static void checkEndpoint(String setting, String endpoint) {
        if (!endpoint.startsWith("http://") && !endpoint.startsWith("https://")) {
            throw new InvalidSettingException(setting, endpoint,
                    setting + " must be an http(s) URL, got '" + endpoint + "'");
        }
    }

    @Override
    public String toString() {
        // Never the token: LlmArgs (a record) prints this in logs and error messages.
        return "HubConfig[endpoint=" + endpoint + ", token=" + (token != null ? "set" : "from environment")
                + ", offline=" + offline + "]";
    }
}
