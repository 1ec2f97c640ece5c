package io.trtllm.spring.autoconfigure;

import java.time.Duration;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * How long the embedded Netty server waits for slow clients ({@code trtllm.http.*}), so that clients
 * that trickle bytes or send nothing cannot hold connections: the whole application's server, not only
 * the API. Header and body sizes are bounded by Spring Boot's own settings
 * ({@code server.max-http-request-header-size}, default 8KB; {@code server.netty.max-initial-line-length},
 * 4KB; {@code spring.codec.max-in-memory-size}, 256KB of body that a handler reads).
 */
@ConfigurationProperties(prefix = TrtLlmHttpServerProperties.PREFIX)
public class TrtLlmHttpServerProperties implements InitializingBean {
    /** Prefix of the HTTP server's properties. */
    public static final String PREFIX = "trtllm.http";

    /** Whether to apply these timeouts to the Netty server. */
    private boolean enabled = true;

    /**
     * Most time a connection may wait for a whole request head (request line and headers): after it
     * opens, and between requests. Bytes of an incomplete head do not restart it, so a client that
     * trickles its headers is closed after it too. Ignored when server.netty.idle-timeout is set.
     */
    private Duration idleTimeout = Duration.ofSeconds(20);

    /** Most time to read a request's body once its head is in; then 408 and the connection closes. */
    private Duration bodyTimeout = Duration.ofSeconds(60);

    @Override
    public void afterPropertiesSet() {
        positive("idle-timeout", idleTimeout);
        positive("body-timeout", bodyTimeout);
    }

    private static void positive(String key, Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new InvalidConfigurationPropertyValueException(PREFIX + "." + key, value,
                    "must be positive (turn both off with " + PREFIX + ".enabled=false)");
        }
    }

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public Duration getIdleTimeout() {
        return idleTimeout;
    }

    public void setIdleTimeout(Duration idleTimeout) {
        this.idleTimeout = idleTimeout;
    }

    public Duration getBodyTimeout() {
        return bodyTimeout;
    }

    public void setBodyTimeout(Duration bodyTimeout) {
        this.bodyTimeout = bodyTimeout;
    }
}
