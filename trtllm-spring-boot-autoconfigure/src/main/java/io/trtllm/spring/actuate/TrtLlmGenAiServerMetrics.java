package io.trtllm.spring.actuate;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.trtllm.api.RequestMetrics;
import io.trtllm.spring.chat.TrtLlmChatModel;
import io.trtllm.spring.openai.GenAiServerObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The OpenAI API's requests as OpenTelemetry's GenAI model-server metrics: the histograms
 * {@value #REQUEST_DURATION} (every request, {@code error.type} set on failures), {@value #TIME_TO_FIRST_TOKEN}
 * and {@value #TIME_PER_OUTPUT_TOKEN} (successful responses), in seconds, with the semantic conventions'
 * attributes: {@code gen_ai.operation.name} ({@code chat} or {@code text_completion}), {@code gen_ai.provider.name}
 * and its older name {@code gen_ai.system} ({@code trtllm}), {@code gen_ai.request.model} and
 * {@code gen_ai.response.model} (both the served model: a request naming another is refused, and its name is not
 * put in a label), and {@code error.type}. Buckets follow the conventions' advice unless configured
 * ({@link MetricsBuckets}).
 *
 * <p>Times run from the request's arrival at the API: time to first token includes reading, templating and
 * tokenizing the request and its wait in the engine's queue; time per output token is each engine request's mean
 * after its first token (one value per prompt of a batch). Only the OpenAI API records these: a {@code ChatModel}'s
 * calls are Spring AI's {@code gen_ai.client.*} observations, so no request counts in both.
 *
 * <p>Prometheus needs every series of a name to carry the same labels: successes carry {@code error.type=""},
 * which Prometheus reads as no label at all.
 */
public final class TrtLlmGenAiServerMetrics implements MeterBinder, GenAiServerObserver {
    static final String REQUEST_DURATION = "gen_ai.server.request.duration";
    static final String TIME_TO_FIRST_TOKEN = "gen_ai.server.time_to_first_token";
    static final String TIME_PER_OUTPUT_TOKEN = "gen_ai.server.time_per_output_token";

    private final MetricsBuckets buckets;
    private final List<MeterRegistry> registries = new CopyOnWriteArrayList<>();

    public TrtLlmGenAiServerMetrics(MetricsBuckets buckets) {
        this.buckets = buckets;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        registries.add(registry);
    }

    @Override
    public void succeeded(String operation, String model, long startNanos, List<RequestMetrics> outputs) {
        long end = System.nanoTime();
        Tags tags = tags(operation, model);
        for (MeterRegistry registry : registries) {
            duration(registry, tags.and("error.type", "")).record(Duration.ofNanos(end - startNanos));
            for (RequestMetrics m : outputs) {
                if (m.firstTokenNanos() != 0 && m.firstTokenNanos() > startNanos) {
                    timer(registry, TIME_TO_FIRST_TOKEN, "Time to generate first token for successful responses.",
                            tags, buckets.genAiTimeToFirstToken()).record(Duration.ofNanos(m.firstTokenNanos() - startNanos));
                }
                if (m.timePerOutputTokenNanos() > 0) {
                    timer(registry, TIME_PER_OUTPUT_TOKEN, "Time per output token generated after the first token for "
                            + "successful responses.", tags, buckets.genAiTimePerOutputToken())
                            .record(Duration.ofNanos(m.timePerOutputTokenNanos()));
                }
            }
        }
    }

    @Override
    public void failed(String operation, String model, long startNanos, String errorType) {
        long end = System.nanoTime();
        Tags tags = tags(operation, model).and("error.type", errorType);
        registries.forEach(r -> duration(r, tags).record(Duration.ofNanos(end - startNanos)));
    }

    private static Tags tags(String operation, String model) {
        return Tags.of("gen_ai.operation.name", operation, "gen_ai.provider.name", TrtLlmChatModel.PROVIDER_NAME,
                "gen_ai.system", TrtLlmChatModel.PROVIDER_NAME, "gen_ai.request.model", model,
                "gen_ai.response.model", model);
    }

    private Timer duration(MeterRegistry registry, Tags tags) {
        return timer(registry, REQUEST_DURATION, "Generative AI server request duration such as time-to-last byte or "
                + "last output token.", tags, buckets.genAiRequestDuration());
    }

    private static Timer timer(MeterRegistry registry, String name, String description, Tags tags, List<Double> bounds) {
        return Timer.builder(name).description(description).tags(tags)
                .serviceLevelObjectives(MetricsBuckets.durations(bounds)).register(registry);
    }
}
