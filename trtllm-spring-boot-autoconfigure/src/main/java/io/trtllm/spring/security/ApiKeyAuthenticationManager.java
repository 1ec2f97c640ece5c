package io.trtllm.spring.security;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.authentication.ReactiveAuthenticationManager;
import org.springframework.security.core.Authentication;
import reactor.core.publisher.Mono;

/**
 * Checks a presented bearer token against the API key in constant time: both are hashed with SHA-256
 * and the digests compared with {@link MessageDigest#isEqual}, so neither the position of the first
 * differing byte nor the key's length shows in the time a check takes.
 */
public final class ApiKeyAuthenticationManager implements ReactiveAuthenticationManager {
    private final byte[] keyDigest;

    /** @param apiKey the key requests must present (not blank) */
    public ApiKeyAuthenticationManager(String apiKey) {
        if (apiKey.isBlank()) {
            throw new IllegalArgumentException("the API key must not be blank");
        }
        this.keyDigest = sha256(apiKey.getBytes(StandardCharsets.UTF_8));
    }

    /** Whether {@code presented} is the key, in time independent of where it differs. */
    public boolean matches(byte[] presented) {
        return MessageDigest.isEqual(keyDigest, sha256(presented));
    }

    @Override
    public Mono<Authentication> authenticate(Authentication authentication) {
        if (!(authentication instanceof ApiKeyAuthenticationToken token)) {
            return Mono.empty(); // not ours: another manager may know it
        }
        return matches(token.presentedBytes()) ? Mono.just(ApiKeyAuthenticationToken.authenticated())
                : Mono.error(new BadCredentialsException("Incorrect API key provided."));
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
