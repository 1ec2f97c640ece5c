package io.trtllm.spring.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.observation.DefaultMeterObservationHandler;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.SamplingParams;
import io.trtllm.spring.testing.SharedLlm;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.observation.ChatModelMeterObservationHandler;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.tool.function.FunctionToolCallback;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/** TrtLlmChatModel on stories15M: call, stream, cancellation, options, usage, observations. */
@ExtendWith(OutputCaptureExtension.class)
class TrtLlmChatModelIT {
    static final String PROMPT = "Once upon a time";
    static LLM llm;
    static TrtLlmChatModel greedy;

    @BeforeAll
    static void load() {
        llm = SharedLlm.get();
        greedy = TrtLlmChatModel.builder().llm(llm)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(32).build()).build();
    }

    @Test
    void callWithTemperatureZeroGivesTheEnginesGreedyText() {
        String expected = llm.generate(PROMPT, SamplingParams.greedy(32)).output().text();

        ChatResponse response = greedy.call(new Prompt(PROMPT));

        assertThat(expected).isNotBlank();
        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected);
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualTo("LENGTH");
        assertThat(response.getMetadata().getId()).isNotBlank();
        assertThat(response.getMetadata().getModel()).isEqualTo("stories15M");
    }

    @Test
    void usageCountsPromptAndCompletionTokens() {
        ChatResponse response = greedy.call(new Prompt(PROMPT, ChatOptions.builder().maxTokens(7).build()));

        var usage = response.getMetadata().getUsage();
        assertThat(usage.getPromptTokens()).isEqualTo(llm.tokenizer().encode(PROMPT, true).length);
        assertThat(usage.getCompletionTokens()).isEqualTo(7);
        assertThat(usage.getTotalTokens()).isEqualTo(usage.getPromptTokens() + 7);
        assertThat(usage.getNativeUsage()).isInstanceOf(RequestMetrics.class);
    }

    @Test
    void aStreamTheEngineRefusesFailsWithItsReasonAndLogsNoStackTrace(CapturedOutput output) {
        String tooLong = "Once upon a time there was a little girl named Lily. ".repeat(100);
        int logged = output.getAll().length();

        var noMaxTokens = TrtLlmChatModel.builder().llm(llm).defaultOptions(TrtLlmChatOptions.builder().build()).build();
        assertThatThrownBy(() -> noMaxTokens.stream(new Prompt(tooLong)).collectList().block(Duration.ofSeconds(60)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("max_input_len");
        assertThat(output.getAll().substring(logged)).doesNotContain("ERROR").doesNotContain("\tat ");
        // A stream that went well still aggregates (its observation has the whole response).
        assertThat(greedy.stream(new Prompt(PROMPT)).collectList().block(Duration.ofSeconds(60))).isNotEmpty();
    }

    @Test
    void streamDeliversSeveralDeltasThatAddUpToTheCallsText() {
        String called = greedy.call(new Prompt(PROMPT)).getResult().getOutput().getText();

        List<ChatResponse> chunks = greedy.stream(new Prompt(PROMPT)).collectList().block(Duration.ofSeconds(60));

        assertThat(chunks).hasSizeGreaterThan(5);
        StringBuilder text = new StringBuilder();
        chunks.forEach(c -> text.append(c.getResult().getOutput().getText()));
        assertThat(text.toString()).isEqualTo(called);
        assertThat(chunks.getLast().getResult().getMetadata().getFinishReason()).isEqualTo("LENGTH");
        assertThat(chunks.getFirst().getResult().getMetadata().getFinishReason()).isNull();
        assertThat(chunks.getLast().getMetadata().getUsage().getCompletionTokens()).isEqualTo(32);
    }

    @Test
    void cancellingAStreamAbortsTheEngineRequest() throws InterruptedException {
        var metrics = new RecordingObserver();
        var model = TrtLlmChatModel.builder().llm(llm).requestObserver(metrics)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(200).build()).build();
        long iterationsBefore = llm.stats().iterations();

        List<ChatResponse> firstThree = model.stream(new Prompt(PROMPT)).take(3).collectList().block(Duration.ofSeconds(60));
        SharedLlm.awaitIdle(llm);

        assertThat(firstThree).hasSize(3).allSatisfy(c -> assertThat(c.getResult().getMetadata().getFinishReason()).isNull());
        assertThat(llm.stats().running()).isZero();
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
        // Run to the end, the request would have taken 200 more forward passes.
        assertThat(llm.stats().iterations() - iterationsBefore).isLessThan(100);
        assertThat(metrics.events).containsExactly("cancelled");
    }

    @Test
    void requestOptionsAreMergedOverTheDefaults() {
        var model = TrtLlmChatModel.builder().llm(llm)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(32).stopSequences(List.of("zzz"))
                        .seed(7L).build()).build();

        ChatResponse response = model.call(new Prompt(PROMPT, TrtLlmChatOptions.builder().maxTokens(5).build()));

        String greedy5 = llm.generate(PROMPT, SamplingParams.greedy(5)).output().text();
        assertThat(response.getResult().getOutput().getText()).isEqualTo(greedy5);
        assertThat(response.getMetadata().getUsage().getCompletionTokens()).isEqualTo(5);

        TrtLlmChatOptions merged = model.getOptions().merge(ChatOptions.builder().temperature(0.5).stopSequences(List.of("."))
                .build());
        assertThat(merged.getTemperature()).isEqualTo(0.5);
        assertThat(merged.getMaxTokens()).isEqualTo(32);
        assertThat(merged.getSeed()).isEqualTo(7L);
        assertThat(merged.getStopSequences()).containsExactly("zzz", ".");
        assertThat(merged.getModel()).isEqualTo("stories15M");
    }

    @Test
    void aStopSequenceEndsTheReplyWithStop() {
        String full = greedy.call(new Prompt(PROMPT)).getResult().getOutput().getText();
        String stop = full.substring(full.indexOf(' ', 3), full.indexOf(' ', 3) + 4);

        ChatResponse response = greedy.call(new Prompt(PROMPT, TrtLlmChatOptions.builder().stopSequences(List.of(stop))
                .build()));

        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualTo("STOP");
        assertThat(full).startsWith(response.getResult().getOutput().getText() + stop);
    }

    @Test
    void worksBehindAChatClientWithItsOptionsMerging() {
        ChatClient client = ChatClient.create(greedy);
        String expected = llm.generate(PROMPT, SamplingParams.greedy(10)).output().text();

        String called = client.prompt().user(PROMPT).options(TrtLlmChatOptions.builder().maxTokens(10)).call().content();
        List<String> streamed = client.prompt().user(PROMPT).options(ChatOptions.builder().maxTokens(10)).stream()
                .content().collectList().block(Duration.ofSeconds(60));

        assertThat(called).isEqualTo(expected);
        assertThat(streamed).hasSizeGreaterThan(1);
        assertThat(String.join("", streamed)).isEqualTo(expected);
    }

    @Test
    void toolCallbacksAreRefusedWhenTheChatTemplateHasNoToolsSupport() {
        var tool = FunctionToolCallback.builder("weather", (String city) -> "sunny").description("weather in a city")
                .inputType(String.class).build();
        var prompt = new Prompt(PROMPT, TrtLlmChatOptions.builder().toolCallbacks(List.of(tool)).build());

        assertThatThrownBy(() -> greedy.call(prompt)).isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("tool callbacks [weather]")
                .hasMessageContaining("model 'stories15M' has no chat template, so no tools support");
        assertThatThrownBy(() -> greedy.stream(prompt).blockLast()).isInstanceOf(UnsupportedOperationException.class);
        // A ChatClient hands its tools to the model through the options: refused too, not ignored.
        assertThatThrownBy(() -> ChatClient.create(greedy).prompt().user(PROMPT).toolCallbacks(tool).call().content())
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("weather");
    }

    @Test
    void aSystemMessageGoesFirstInTheRenderedPrompt() {
        // stories15M has no chat template: the messages' text joined by newlines, system first.
        String expected = llm.generate("Be brief.\n" + PROMPT, SamplingParams.greedy(12)).output().text();

        ChatResponse response = greedy.call(new Prompt(List.of(new UserMessage(PROMPT), new SystemMessage("Be brief.")),
                ChatOptions.builder().maxTokens(12).build()));

        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected);
    }

    @Test
    void callAndStreamAreObservedAsGenAiClientOperationsOfProviderTrtllm() {
        MeterRegistry meters = new SimpleMeterRegistry();
        ObservationRegistry observations = ObservationRegistry.create();
        observations.observationConfig().observationHandler(new DefaultMeterObservationHandler(meters))
                .observationHandler(new ChatModelMeterObservationHandler(meters));
        var model = TrtLlmChatModel.builder().llm(llm).observationRegistry(observations)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(4).build()).build();

        model.call(new Prompt(PROMPT));
        model.stream(new Prompt(PROMPT)).blockLast(Duration.ofSeconds(60));
        // The stream's observation stops in doFinally, which may run just after blockLast returns.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (meters.find("gen_ai.client.operation").timers().stream().mapToLong(t -> t.count()).sum() < 2
                && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }

        var operations = meters.find("gen_ai.client.operation").tag("gen_ai.system", "trtllm").timers();
        assertThat(operations).isNotEmpty();
        assertThat(operations.stream().mapToLong(t -> t.count()).sum()).isEqualTo(2);
        assertThat(meters.find("gen_ai.client.token.usage").tag("gen_ai.token.type", "output").counter().count())
                .isEqualTo(8);
    }

    @Test
    void aRequestForAnotherModelFailsNamingBothAndRunsNothing() {
        String served = greedy.getOptions().getModel();
        long iterations = llm.stats().iterations();
        var other = TrtLlmChatOptions.builder().model("gpt-4o").build();

        assertThatThrownBy(() -> greedy.call(new Prompt(PROMPT, other))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'gpt-4o'").hasMessageContaining("'" + served + "'");
        assertThatThrownBy(() -> greedy.stream(new Prompt(PROMPT, other)).blockLast(Duration.ofSeconds(60)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'gpt-4o'");
        assertThat(llm.stats().iterations()).isEqualTo(iterations);
        // The served model's own name, or none, runs.
        var same = TrtLlmChatOptions.builder().model(served).maxTokens(2).build();
        assertThat(greedy.call(new Prompt(PROMPT, same)).getMetadata().getModel()).isEqualTo(served);
    }

    @Test
    void observationsReportTheServedModel() {
        MeterRegistry meters = new SimpleMeterRegistry();
        ObservationRegistry observations = ObservationRegistry.create();
        observations.observationConfig().observationHandler(new DefaultMeterObservationHandler(meters));
        var model = TrtLlmChatModel.builder().llm(llm).observationRegistry(observations)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(2).build()).build();

        model.call(new Prompt(PROMPT, TrtLlmChatOptions.builder().model("").build()));

        String served = model.getOptions().getModel();
        assertThat(meters.find("gen_ai.client.operation").tag("gen_ai.request.model", served)
                .tag("gen_ai.response.model", served).timer()).as(meters.getMeters().stream().map(m -> m.getId().toString()).toList().toString()).isNotNull();
    }

    @Test
    void observersHearOfFinishedRequests() {
        var observer = new RecordingObserver();
        var model = TrtLlmChatModel.builder().llm(llm).requestObserver(observer)
                .defaultOptions(TrtLlmChatOptions.builder().temperature(0.0).maxTokens(3).build()).build();

        model.call(new Prompt(PROMPT));
        model.stream(new Prompt(PROMPT)).blockLast(Duration.ofSeconds(60));

        assertThat(observer.events).containsExactly("finished:length", "finished:length");
    }

    static final class RecordingObserver implements TrtLlmRequestObserver {
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override
        public void onFinished(io.trtllm.api.RequestOutput output) {
            events.add("finished:" + output.output().finishReason());
        }

        @Override
        public void onCancelled() {
            events.add("cancelled");
        }

        @Override
        public void onRejected(io.trtllm.api.QueueFullException e) {
            events.add("rejected");
        }

        @Override
        public void onFailed(Throwable error) {
            events.add("failed");
        }
    }
}
