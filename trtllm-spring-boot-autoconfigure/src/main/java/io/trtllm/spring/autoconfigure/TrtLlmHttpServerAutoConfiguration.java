package io.trtllm.spring.autoconfigure;

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
 * Timeouts of the embedded Netty server against slow clients ({@code trtllm.http.*}); Spring Boot sets
 * none by default, and a client that opened a connection and trickled its headers held it for as long
 * as it liked (1,000 such connections were held for 90 s).
 *
 * <ul>
 *   <li>The request head: Reactor Netty's idle timeout ({@code HttpServer.idleTimeout}), which runs while
 *   a connection waits for a request. In Reactor Netty 1.3 its handler sits after the HTTP codec and
 *   counts decoded messages, not bytes: the bytes of an incomplete head do not restart it, so it bounds
 *   a slowloris as well as an idle connection (tested). Spring Boot's {@code server.netty.idle-timeout}
 *   wins when set.</li>
 *   <li>The request body: Reactor Netty's request timeout ({@code HttpServer.requestTimeout}), from the
 *   end of the head to the end of the body; then 408. (Its read timeout, by contrast, restarts with
 *   every read.)</li>
 * </ul>
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
        return new NettyTimeouts(properties, environment.containsProperty(BOOT_IDLE_TIMEOUT));
    }

    /** After Spring Boot's own customizer of the factory (order 0), whose idle timeout it leaves alone. */
    private record NettyTimeouts(TrtLlmHttpServerProperties properties, boolean bootIdleTimeout)
            implements WebServerFactoryCustomizer<NettyReactiveWebServerFactory>, Ordered {
        @Override
        public int getOrder() {
            return 10;
        }

        @Override
        public void customize(NettyReactiveWebServerFactory factory) {
            factory.addServerCustomizers(server -> {
                HttpServer s = server.requestTimeout(properties.getBodyTimeout());
                return bootIdleTimeout ? s : s.idleTimeout(properties.getIdleTimeout());
            });
        }
    }
}
