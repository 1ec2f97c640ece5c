package io.trtllm.spring.security;

import java.util.List;
import org.springframework.security.authentication.AbstractAuthenticationToken;
import org.springframework.security.core.authority.SimpleGrantedAuthority;

/**
 * A request's bearer token: unauthenticated as read from the {@code Authorization} header, then
 * authenticated (principal {@value #PRINCIPAL}, authority {@value #AUTHORITY}) once it matched the key.
 * The key itself is never kept in an authenticated token.
 */
public final class ApiKeyAuthenticationToken extends AbstractAuthenticationToken {
    /** Name of the principal of a request that carried the key. */
    public static final String PRINCIPAL = "api-key";
    /** Authority of a request that carried the key (health details need no role unless configured). */
    public static final String AUTHORITY = "ROLE_TRTLLM_API_KEY";

    private final transient byte[] presented;

    private ApiKeyAuthenticationToken(byte[] presented, boolean authenticated) {
        super(authenticated ? List.of(new SimpleGrantedAuthority(AUTHORITY)) : List.of());
        this.presented = presented;
        setAuthenticated(authenticated);
    }

    /** The token a request presented, not yet checked. */
    static ApiKeyAuthenticationToken presented(byte[] token) {
        return new ApiKeyAuthenticationToken(token, false);
    }

    /** A request that presented the key. */
    static ApiKeyAuthenticationToken authenticated() {
        return new ApiKeyAuthenticationToken(new byte[0], true);
    }

    byte[] presentedBytes() {
        return presented;
    }

    @Override
    public Object getCredentials() {
        return "";
    }

    @Override
    public Object getPrincipal() {
        return PRINCIPAL;
    }
}
