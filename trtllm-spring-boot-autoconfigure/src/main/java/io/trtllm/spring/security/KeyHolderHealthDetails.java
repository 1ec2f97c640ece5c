package io.trtllm.spring.security;

import java.security.Principal;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.actuate.endpoint.EndpointId;
import org.springframework.boot.actuate.endpoint.SecurityContext;
import org.springframework.boot.actuate.endpoint.web.AdditionalPathsMapper;
import org.springframework.boot.actuate.endpoint.web.WebServerNamespace;
import org.springframework.boot.health.actuate.endpoint.AdditionalHealthEndpointPath;
import org.springframework.boot.health.actuate.endpoint.HealthEndpointGroup;
import org.springframework.boot.health.actuate.endpoint.HealthEndpointGroups;
import org.springframework.boot.health.actuate.endpoint.HealthEndpointGroupsPostProcessor;
import org.springframework.boot.health.actuate.endpoint.HttpCodeStatusMapper;
import org.springframework.boot.health.actuate.endpoint.StatusAggregator;
import org.springframework.core.Ordered;
import org.springframework.security.authentication.AnonymousAuthenticationToken;
import org.springframework.security.core.Authentication;

/**
 * With an API key, health details and components are for authenticated callers only, whatever
 * {@code management.endpoint.health.show-details}/{@code show-components} say ({@code always} becomes
 * "when authorized"; {@code never} stays never): without the key, the health endpoint and the probes
 * answer with their status alone. The engine's details (model directory, backend, queue, KV cache)
 * describe the server to whoever asks otherwise.
 */
public final class KeyHolderHealthDetails implements HealthEndpointGroupsPostProcessor, Ordered {

    @Override
    public int getOrder() {
        return Ordered.LOWEST_PRECEDENCE; // after Boot's probes post-processor: its groups are wrapped too
    }

    @Override
    public HealthEndpointGroups postProcessHealthEndpointGroups(HealthEndpointGroups groups) {
        return new Groups(groups);
    }

    static boolean authenticated(SecurityContext context) {
        Principal principal = context.getPrincipal();
        return principal instanceof Authentication a && a.isAuthenticated() && !(a instanceof AnonymousAuthenticationToken);
    }

    /** The groups, each wrapped; keeps the additional paths (/livez, /readyz) of the groups it wraps. */
    private record Groups(HealthEndpointGroups delegate) implements HealthEndpointGroups, AdditionalPathsMapper {
        @Override
        public HealthEndpointGroup getPrimary() {
            return new Group(delegate.getPrimary());
        }

        @Override
        public Set<String> getNames() {
            return delegate.getNames();
        }

        @Override
        public @Nullable HealthEndpointGroup get(String name) {
            HealthEndpointGroup group = delegate.get(name);
            return group != null ? new Group(group) : null;
        }

        @Override
        public @Nullable List<String> getAdditionalPaths(EndpointId endpointId, WebServerNamespace webServerNamespace) {
            return delegate instanceof AdditionalPathsMapper mapper ? mapper.getAdditionalPaths(endpointId, webServerNamespace)
                    : null;
        }
    }

    private record Group(HealthEndpointGroup delegate) implements HealthEndpointGroup {
        @Override
        public boolean isMember(String name) {
            return delegate.isMember(name);
        }

        @Override
        public boolean showComponents(SecurityContext securityContext) {
            return authenticated(securityContext) && delegate.showComponents(securityContext);
        }

        @Override
        public boolean showDetails(SecurityContext securityContext) {
            return authenticated(securityContext) && delegate.showDetails(securityContext);
        }

        @Override
        public StatusAggregator getStatusAggregator() {
            return delegate.getStatusAggregator();
        }

        @Override
        public HttpCodeStatusMapper getHttpCodeStatusMapper() {
            return delegate.getHttpCodeStatusMapper();
        }

        @Override
        public @Nullable AdditionalHealthEndpointPath getAdditionalPath() {
            return delegate.getAdditionalPath();
        }
    }
}
