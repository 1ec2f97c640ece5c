package io.trtllm.spring.autoconfigure;

import io.trtllm.spring.web.RequestHeaderTimeout;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.core.env.Environment;
import reactor.netty.http.server.HttpServer;

/**
 * Timeouts of the embedded Netty server against slow clients ({@code trtllm.http.*}): a deadline for
 * each request's headers ({@link RequestHeaderTimeout}), Reactor Netty's request timeout for its body,
 * and an idle timeout between requests (Spring Boot's {@code server.netty.idle-timeout} wins when set).
 * Off with {@code trtllm.http.enabled=false}.
 */
@AutoConfiguration(afterName = "org.springframework.boot.reactor.netty.autoconfigure.NettyReactiveWebServerAutoConfiguration")
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.REACTIVE)
@ConditionalOnClass({NettyReactiveWebServerFactory.class, HttpServer.class})
@ConditionalOnBooleanProperty(name = TrtLlmHttpServerProperties.PREFIX + ".enabled", matchIfMissing = true)
@EnableConfigurationProperties(TrtLlmHttpServerProperties.class)
public final class TrtLlmHttpServerAutoConfiguration {
    private static final String BOOT_IDLE_TIMEOUT = "server.netty.idle-timeout";

    @Bean
    @ConditionalOnMissingBean(name = "trtLlmNettyTimeouts")
    WebServerFactoryCustomizer<NettyReactiveWebServerFactory> trtLlmNettyTimeouts(TrtLlmHttpServerProperties properties,
                                                                                 Environment environment) {
        boolean bootIdleTimeout = environment.containsProperty(BOOT_IDLE_TIMEOUT);
        return new NettyTimeouts(properties, bootIdleTimeout);
    }

    /** Ordered after Spring Boot's own customizer of the factory (order 0), whose settings it leaves alone. */
    private record NettyTimeouts(TrtLlmHttpServerProperties properties, boolean bootIdleTimeout)
            implements WebServerFactoryCustomizer<NettyReactiveWebServerFactory>, Ordered {
        @Override
        public int getOrder() {
            return 10;
        }

        @Override
        public void customize(NettyReactiveWebServerFactory factory) {
            var headerTimeout = properties.getHeaderTimeout();
            factory.addServerCustomizers(server -> {
                HttpServer s = server.requestTimeout(properties.getBodyTimeout())
                        .doOnChannelInit((observer, channel, remote) -> RequestHeaderTimeout.install(channel.pipeline(),
                                headerTimeout));
                return bootIdleTimeout ? s : s.idleTimeout(properties.getIdleTimeout());
            });
        }
    }
}
