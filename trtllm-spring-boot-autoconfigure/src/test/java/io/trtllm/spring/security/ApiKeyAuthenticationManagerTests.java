package io.trtllm.spring.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;

/** The key check: exactly the key, nothing shorter, longer or differently cased. */
class ApiKeyAuthenticationManagerTests {
    private final ApiKeyAuthenticationManager manager = new ApiKeyAuthenticationManager("sk-Abc123");

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void onlyTheKeyMatches() {
        assertThat(manager.matches(utf8("sk-Abc123"))).isTrue();
        for (String wrong : new String[] {"", "sk-Abc12", "sk-Abc1234", "sk-abc123", "SK-Abc123", " sk-Abc123",
                "sk-Abc123\u0000", "x".repeat(10_000)}) {
            assertThat(manager.matches(utf8(wrong))).as(wrong).isFalse();
        }
    }

    @Test
    void theKeyAuthenticatesWithoutKeepingItAndAWrongOneIsBadCredentials() {
        var authenticated = manager.authenticate(ApiKeyAuthenticationToken.presented(utf8("sk-Abc123"))).block();
        assertThat(authenticated).isNotNull();
        assertThat(authenticated.isAuthenticated()).isTrue();
        assertThat(authenticated.getName()).isEqualTo(ApiKeyAuthenticationToken.PRINCIPAL);
        assertThat(authenticated.getCredentials()).isEqualTo("");
        assertThat(authenticated.getAuthorities()).extracting(Object::toString)
                .containsExactly(ApiKeyAuthenticationToken.AUTHORITY);

        assertThatThrownBy(() -> manager.authenticate(ApiKeyAuthenticationToken.presented(utf8("nope"))).block())
                .isInstanceOf(BadCredentialsException.class);
        assertThat(manager.authenticate(new UsernamePasswordAuthenticationToken("u", "p")).blockOptional())
                .as("another kind of authentication is not ours to judge").isEmpty();
    }

    @Test
    void aBlankKeyIsRefused() {
        assertThatThrownBy(() -> new ApiKeyAuthenticationManager(" ")).isInstanceOf(IllegalArgumentException.class);
    }
}
