package io.trtllm.model.hub;

import io.trtllm.api.config.HubConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * How the Hugging Face Hub is reached and where its files are kept, read from the same environment
 * variables as {@code huggingface_hub}.
 *
 * @param endpoint       {@code HF_ENDPOINT}, default {@value #DEFAULT_ENDPOINT}
 * @param token          {@code HF_TOKEN}, else the file {@code $HF_HOME/token}, else none
 * @param hubCache       {@code HF_HUB_CACHE}, else {@code $HF_HOME/hub} ({@code HF_HOME} defaults to
 *                       {@code ~/.cache/huggingface})
 * @param offline        {@code HF_HUB_OFFLINE=1}: use cached snapshots only, never the network
 * @param connectTimeout how long to wait for a connection
 * @param retries        how many times a cut download is resumed before giving up
 */
public record HubSettings(String endpoint, @Nullable String token, Path hubCache, boolean offline,
                          Duration connectTimeout, int retries) {
    /** The public Hub. */
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    public HubSettings {
        endpoint = endpoint.endsWith("/") ? endpoint.substring(0, endpoint.length() - 1) : endpoint;
        HubConfig.checkEndpoint("HF_ENDPOINT", endpoint);
        if (token != null && token.isBlank()) {
            token = null;
        }
        if (retries < 0) {
            throw new IllegalArgumentException("retries must be >= 0, got " + retries);
        }
    }

    /** Settings from this process's environment. */
    public static HubSettings fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** Settings from {@code env} (a map of environment variables). */
    public static HubSettings fromEnvironment(Map<String, String> env) {
        Path home = env.containsKey("HF_HOME") ? Path.of(env.get("HF_HOME"))
                : env.containsKey("XDG_CACHE_HOME") ? Path.of(env.get("XDG_CACHE_HOME"), "huggingface")
                : Path.of(System.getProperty("user.home"), ".cache", "huggingface");
        Path hubCache = env.containsKey("HF_HUB_CACHE") ? Path.of(env.get("HF_HUB_CACHE")) : home.resolve("hub");
        String token = env.get("HF_TOKEN");
        if (token == null) {
            Path file = home.resolve("token");
            try {
                token = Files.isRegularFile(file) ? Files.readString(file).strip() : null;
            } catch (IOException e) {
                token = null;
            }
        }
        boolean offline = truthy(env.get("HF_HUB_OFFLINE"));
        return new HubSettings(env.getOrDefault("HF_ENDPOINT", DEFAULT_ENDPOINT), token, hubCache.toAbsolutePath(),
                offline, Duration.ofSeconds(10), 5);
    }

    private static boolean truthy(@Nullable String v) {
        return v != null && switch (v.strip().toLowerCase(Locale.ROOT)) {
            case "1", "true", "yes", "on" -> true;
            default -> false;
        };
    }

    /**
     * These settings with the caller's over them ({@code trtllm.hub.*}): each set field of {@code config}
     * wins over the environment's.
     */
    public HubSettings with(HubConfig config) {
        return new HubSettings(config.endpoint() != null ? config.endpoint() : endpoint,
                config.token() != null ? config.token() : token, hubCache,
                config.offline() != null ? config.offline() : offline, connectTimeout, retries);
    }

    /** A copy with another endpoint, token, cache, offline flag or retry count (tests, embedding applications). */
    public HubSettings with(String endpoint, @Nullable String token, Path hubCache, boolean offline, int retries) {
        return new HubSettings(endpoint, token, hubCache, offline, connectTimeout, retries);
    }

    @Override
    public String toString() {
        // never the token
        return "HubSettings[endpoint=" + endpoint + ", token=" + (token != null ? "set" : "none") + ", hubCache=" + hubCache
                + ", offline=" + offline + ", retries=" + retries + "]";
    }
}
