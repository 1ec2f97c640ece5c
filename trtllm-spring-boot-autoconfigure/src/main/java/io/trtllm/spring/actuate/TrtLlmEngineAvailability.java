package io.trtllm.spring.actuate;

import io.trtllm.api.LLM;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.availability.ApplicationAvailability;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.AvailabilityState;
import org.springframework.boot.availability.LivenessState;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ApplicationEventPublisherAware;
import org.springframework.context.ApplicationListener;

/**
 * Tells Spring Boot's application availability when the engine has failed ({@link LLM#failure()}
 * set, e.g. by a CUDA device fault): liveness becomes {@link LivenessState#BROKEN} and readiness
 * {@link ReadinessState#REFUSING_TRAFFIC}, so {@code /actuator/health/liveness} answers 503 DOWN and
 * {@code /actuator/health/readiness} 503 OUT_OF_SERVICE.
 *
 * <p>Both, because of what each probe means to an orchestrator. A failed engine refuses every request
 * from then on and only a new process clears it (the device context is lost): that is a broken
 * internal state, which liveness reports, and Kubernetes restarts the container when its liveness
 * probe fails. Readiness stops routing traffic to the pod at once, for the probe periods the restart
 * takes to come. Neither state ever goes back: the process must be restarted.
 *
 * <p>Spring Boot publishes {@code CORRECT} and {@code ACCEPTING_TRAFFIC} at the end of startup; an
 * engine that failed before that is reported again after each of them. For that to win, Spring Boot's
 * {@link ApplicationAvailability} must hear each event before this listener does: listeners of equal
 * order are called in the order they were created, and this one is created after it (it takes it as
 * a constructor argument).
 */
public final class TrtLlmEngineAvailability implements SmartInitializingSingleton, ApplicationEventPublisherAware,
        ApplicationListener<AvailabilityChangeEvent<?>> {
    private static final Logger LOG = LoggerFactory.getLogger(TrtLlmEngineAvailability.class);

    private final Supplier<@Nullable Throwable> failure;
    private final Consumer<Consumer<? super Throwable>> onFailure;
    private final ApplicationAvailability availability;
    private final AtomicBoolean logged = new AtomicBoolean();
    private @Nullable ApplicationEventPublisher publisher;

    /**
     * @param llm          the engine
     * @param availability the application's availability (Spring Boot's bean), created before this one
     */
    public TrtLlmEngineAvailability(LLM llm, ApplicationAvailability availability) {
        this(llm::failure, llm::onFailure, availability);
    }

    /**
     * Availability of an engine known by its failure and a way to be told of it (tests: an executor
     * driven by a broken runner).
     */
    TrtLlmEngineAvailability(Supplier<@Nullable Throwable> failure, Consumer<Consumer<? super Throwable>> onFailure,
                             ApplicationAvailability availability) {
        this.failure = failure;
        this.onFailure = onFailure;
        this.availability = availability;
    }

    @Override
    public void setApplicationEventPublisher(ApplicationEventPublisher publisher) {
        this.publisher = publisher;
    }

    @Override
    public void afterSingletonsInstantiated() {
        onFailure.accept(this::failed); // at once if it has already failed
    }

    @Override
    public void onApplicationEvent(AvailabilityChangeEvent<?> event) {
        if (event.getSource() == this || failure.get() == null) {
            return;
        }
        // Startup reports the application live and ready after the engine had failed: correct it.
        if (event.getState() == LivenessState.CORRECT || event.getState() == ReadinessState.ACCEPTING_TRAFFIC) {
            if (availability.getLastChangeEvent(event.getState().getClass()) != event) {
                LOG.warn("Availability state {} reached this listener before Spring Boot's ApplicationAvailability: "
                        + "the correction for the failed engine may be overwritten", event.getState());
            }
            publish(event.getState() == LivenessState.CORRECT ? LivenessState.BROKEN : ReadinessState.REFUSING_TRAFFIC);
        }
    }

    private void failed(Throwable error) {
        if (logged.compareAndSet(false, true)) {
            LOG.error("The trtllm engine has failed and refuses every request until the process is restarted: liveness "
                    + "BROKEN, readiness REFUSING_TRAFFIC. Cause: {}", error.toString());
        }
        publish(LivenessState.BROKEN);
        publish(ReadinessState.REFUSING_TRAFFIC);
    }

    private <S extends AvailabilityState> void publish(S state) {
        ApplicationEventPublisher events = publisher;
        if (events == null) {
            return;
        }
        try {
            AvailabilityChangeEvent.publish(events, this, state);
        } catch (IllegalStateException e) {
            // The context is closing or closed: nobody is left to probe it.
            LOG.debug("Could not publish availability state {}: {}", state, e.toString());
        }
    }
}
