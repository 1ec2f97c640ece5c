package io.trtllm.spring.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.executor.Executor;
import io.trtllm.executor.FinishReason;
import io.trtllm.executor.GenerationListener;
import io.trtllm.executor.GenerationRequest;
import io.trtllm.executor.RequestStats;
import io.trtllm.executor.SchedulerConfig;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.SamplingConfig;
import io.trtllm.spring.testing.SharedLlm;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.autoconfigure.availability.ApplicationAvailabilityAutoConfiguration;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.availability.LivenessState;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * A failed engine breaks liveness and refuses readiness: through Spring Boot's availability states, in
 * a context and through the probes' HTTP endpoints. The engine is an executor driven by a runner that
 * breaks like the CUDA runner after an illegal memory access (a real failure of the loop, not a flag).
 */
class TrtLlmEngineAvailabilityIT {
    private static final IllegalStateException DEVICE_ERROR = new IllegalStateException(
            "CUDA error in cudaStreamSynchronize: an illegal memory access was encountered (700)");

    /** The runner breaks on its first forward pass and reports itself unusable. */
    private static final class BrokenRunner implements ModelRunner {
        private final ModelConfig config = SharedLlm.get().modelConfig();
        private volatile @Nullable Throwable failure;

        @Override
        public ModelConfig config() {
            return config;
        }

        @Override
        public KvCacheSpec kvCache() {
            return new KvCacheSpec(4, 16);
        }

        @Override
        public String backend() {
            return "cuda";
        }

        @Override
        public ForwardResult forward(Batch batch) {
            failure = DEVICE_ERROR;
            throw DEVICE_ERROR;
        }

        @Override
        public @Nullable Throwable failure() {
            return failure;
        }

        @Override
        public void close() {
        }
    }

    private final Executor executor = new Executor(new BrokenRunner(),
            new Executor.Config(SchedulerConfig.defaults(), 8, 32, false));

    @AfterEach
    void close() {
        executor.close(Duration.ofSeconds(5));
    }

    private TrtLlmEngineAvailability availability(GenericApplicationContext context) {
        return new TrtLlmEngineAvailability(executor::failure, executor::onFailure,
                context.getBean(ApplicationAvailability.class));
    }

    /** Sends the engine a request: its first pass breaks the runner, which stops the loop. */
    private void breakTheEngine() throws Exception {
        var failed = new CompletableFuture<Throwable>();
        executor.submit(new GenerationRequest("r", new int[] {1, 2}, 4, SamplingConfig.builder().build()),
                new GenerationListener() {
                    @Override
                    public void onToken(SampledToken token, @Nullable FinishReason finish) {
                    }

                    @Override
                    public void onFinish(FinishReason reason, RequestStats stats) {
                        failed.complete(null);
                    }

                    @Override
                    public void onFailure(Throwable error) {
                        failed.complete(error);
                    }
                });
        assertThat(failed.get(10, TimeUnit.SECONDS)).isSameAs(DEVICE_ERROR);
        for (int i = 0; i < 500 && executor.stats().alive(); i++) {
            Thread.sleep(10);
        }
    }

    /** Waits for the engine's event (the defaults of an availability without events are BROKEN and REFUSING). */
    private static void awaitEngineEvent(ApplicationAvailability availability) throws InterruptedException {
        for (int i = 0; i < 500 && !(availability.getLastChangeEvent(ReadinessState.class) != null
                && availability.getLastChangeEvent(ReadinessState.class).getSource() instanceof TrtLlmEngineAvailability); i++) {
            Thread.sleep(10);
        }
    }

    @Test
    void anEngineThatFailsBreaksLivenessAndRefusesTraffic() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(ApplicationAvailabilityAutoConfiguration.class))
                .withInitializer(c -> ((GenericApplicationContext) c).registerBean("trtLlmEngineAvailability",
                        TrtLlmEngineAvailability.class, () -> availability((GenericApplicationContext) c)))
                .run(context -> {
                    ApplicationAvailability availability = context.getBean(ApplicationAvailability.class);
                    // A context runner publishes no startup states: what the engine sets is all there is.
                    assertThat(availability.getState(LivenessState.class)).isNull();

                    breakTheEngine();
                    awaitEngineEvent(availability);

                    assertThat(availability.getLivenessState()).isEqualTo(LivenessState.BROKEN);
                    assertThat(availability.getReadinessState()).isEqualTo(ReadinessState.REFUSING_TRAFFIC);
                    assertThat(availability.getLastChangeEvent(LivenessState.class).getSource())
                            .isInstanceOf(TrtLlmEngineAvailability.class);
                });
    }

    @Test
    void aHealthyEngineLeavesTheStatesToSpringBoot() {
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(ApplicationAvailabilityAutoConfiguration.class))
.withInitializer(c -> ((GenericApplicationContext) c).registerBean(TrtLlmEngineAvailability.class,
                        () -> new TrtLlmEngineAvailability(SharedLlm.get(), c.getBean(ApplicationAvailability.class))))
                .run(context -> assertThat(context.getBean(ApplicationAvailability.class).getState(LivenessState.class)).isNull());
    }

    @Test
    void anEngineThatFailedDuringStartupStaysBrokenAfterSpringBootReportsItLiveAndReady() throws Exception {
        breakTheEngine();
        try (ConfigurableApplicationContext context = new SpringApplicationBuilder(ApplicationConfiguration.class)
                .web(WebApplicationType.NONE)
                .initializers(c -> ((GenericApplicationContext) c).registerBean(TrtLlmEngineAvailability.class,
                        () -> availability((GenericApplicationContext) c)))
                .properties("spring.ai.model.chat=none", "spring.main.banner-mode=off")
                .run()) {
            ApplicationAvailability states = context.getBean(ApplicationAvailability.class);
            assertThat(states.getLivenessState()).isEqualTo(LivenessState.BROKEN);
            assertThat(states.getReadinessState()).isEqualTo(ReadinessState.REFUSING_TRAFFIC);
        }
    }

    @Test
    void theProbesAnswer503OnceTheEngineHasFailed() throws Exception {
        try (ConfigurableApplicationContext context = new SpringApplicationBuilder(ApplicationConfiguration.class)
                .web(WebApplicationType.REACTIVE)
                .initializers(c -> ((GenericApplicationContext) c).registerBean(TrtLlmEngineAvailability.class,
                        () -> availability((GenericApplicationContext) c)))
                .properties("spring.ai.model.chat=none", "spring.main.banner-mode=off", "server.port=0",
                        "trtllm.openai.enabled=false")
                .run()) {
            int port = ((WebServerApplicationContext) context).getWebServer().getPort();
            WebTestClient http = WebTestClient.bindToServer().baseUrl("http://localhost:" + port)
                    .responseTimeout(Duration.ofSeconds(30)).build();
            http.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk()
                    .expectBody().jsonPath("$.status").isEqualTo("UP");
            http.get().uri("/actuator/health/readiness").exchange().expectStatus().isOk()
                    .expectBody().jsonPath("$.status").isEqualTo("UP");

            breakTheEngine();
            awaitEngineEvent(context.getBean(ApplicationAvailability.class));

            http.get().uri("/actuator/health/liveness").exchange().expectStatus().isEqualTo(503)
                    .expectBody().jsonPath("$.status").isEqualTo("DOWN");
            http.get().uri("/actuator/health/readiness").exchange().expectStatus().isEqualTo(503)
                    .expectBody().jsonPath("$.status").isEqualTo("OUT_OF_SERVICE");
        }
    }

    /** An application with every auto-configuration on the test classpath, and no engine of its own. */
    @SpringBootConfiguration(proxyBeanMethods = false)
    @EnableAutoConfiguration
    static class ApplicationConfiguration {
    }
}
