package io.trtllm.spring.chat;

import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.contextpropagation.ObservationThreadLocalAccessor;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.QueueFullException;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.Tokenizer;
import io.trtllm.api.chat.AssistantReply;
import io.trtllm.api.chat.ReplyParser;
import io.trtllm.spring.chat.ChatRequestMapper.EngineRequest;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.model.Generation;
import org.springframework.ai.chat.model.MessageAggregator;
import org.springframework.ai.chat.observation.ChatModelObservationContext;
import org.springframework.ai.chat.observation.ChatModelObservationConvention;
import org.springframework.ai.chat.observation.ChatModelObservationDocumentation;
import org.springframework.ai.chat.observation.DefaultChatModelObservationConvention;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * A Spring AI {@link ChatModel} on an in-process {@link LLM}: the prompt's messages are rendered with
 * the model's chat template (models without one, such as stories15M, get the messages' text joined by
 * newlines — see {@link io.trtllm.api.Tokenizer#applyChatTemplate}), the request's options are
 * merged over the defaults and sampled by the engine, which batches concurrent requests inflight.
 *
 * <p>{@link #stream} emits one {@link ChatResponse} per text delta, the last one carrying the finish
 * reason; cancelling the subscription aborts the engine request and frees its KV-cache blocks. It
 * renders the chat template on Reactor's bounded-elastic workers, not on the subscribing thread (a
 * web server's event loop); {@link #call} blocks, and renders on the calling thread. A conversation
 * the template refuses, or that takes it past its render limits, fails with a
 * {@link io.trtllm.api.ChatTemplateException} (an {@link IllegalArgumentException}; a
 * {@link io.trtllm.api.TemplateLimitException} for the limits).
 * Finish reasons are {@code STOP}, {@code LENGTH} or {@code CANCELLED}; the metadata carries the
 * engine's request id, the model label and the {@link DefaultUsage usage} (prompt and completion
 * tokens, prefix-cache hits as cache-read tokens, {@link RequestMetrics} as the native usage).
 * Every request is observed as Spring AI's {@code gen_ai.client.operation} with provider
 * {@value #PROVIDER_NAME}.
 *
 * <p>Tools: when the options carry tool callbacks and the model's chat template renders tools and asks
 * for calls in a format we parse (Hermes/Qwen {@code <tool_call>} JSON, Mistral {@code [TOOL_CALLS]},
 * Llama 3.1/3.2 JSON; {@code io.trtllm.api.chat}), their definitions are rendered into the prompt and the
 * reply's calls are returned as {@link AssistantMessage.ToolCall}s with finish reason {@value #TOOL_CALLS}.
 * A template with Qwen3's {@code <think>} block: the reasoning goes into the message's metadata
 * ({@value #REASONING_CONTENT}), not its text (except in a plain stream's deltas, which are raw). Structured
 * output ({@link TrtLlmChatOptions#getOutputSchema()}) is enforced by guided decoding. As in Spring AI 2.0's own chat models, this
 * model does not execute tools: a {@code ChatClient} does (its {@code ToolCallingAdvisor} calls the
 * tools and this model again with the results, which render as the template's {@code tool}
 * messages); a direct {@code call} gets the tool calls back. With tools, {@link #stream} emits the
 * whole reply as one response once it is generated, since a tool call can only be parsed whole
 * (cancelling still aborts the engine request).
 * Other templates, or none (stories15M), refuse tools with an {@link UnsupportedOperationException}
 * naming the model.
 *
 * <p>Not supported, refused with {@link UnsupportedOperationException}: media.
 */
public final class TrtLlmChatModel implements ChatModel {
    /** Provider name in observations. */
    public static final String PROVIDER_NAME = "trtllm";

    /** Finish reason of a reply that calls tools. */
    public static final String TOOL_CALLS = "TOOL_CALLS";
    /** Key of the reasoning text (Qwen3's think block) in the assistant message's metadata. */
    public static final String REASONING_CONTENT = "reasoningContent";
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private static final ChatModelObservationConvention DEFAULT_OBSERVATION_CONVENTION =
            new DefaultChatModelObservationConvention();

    private final LLM llm;
    private final TrtLlmChatOptions defaultOptions;
    private final ChatRequestMapper mapper;
    private final ObservationRegistry observationRegistry;
    private final TrtLlmRequestObserver requestObserver;
    private final Generator generator;
    private ChatModelObservationConvention observationConvention = DEFAULT_OBSERVATION_CONVENTION;

    /** Runs engine requests: the {@link LLM}, or in tests a script of replies. */
    interface Generator {
        /** As {@link LLM#generate(int[], SamplingParams)}. */
        RequestOutput generate(int[] promptTokenIds, SamplingParams params);

        /** As {@link LLM#generateStream(int[], SamplingParams)}. */
        Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params);

        static Generator of(LLM llm) {
            return new Generator() {
                @Override
                public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
                    return llm.generate(promptTokenIds, params);
                }

                @Override
                public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
                    return llm.generateStream(promptTokenIds, params);
                }
            };
        }
    }

    private TrtLlmChatModel(LLM llm, Tokenizer tokenizer, TrtLlmChatOptions defaultOptions,
                            ObservationRegistry observationRegistry, TrtLlmRequestObserver requestObserver,
                            Generator generator) {
        this.llm = llm;
        this.defaultOptions = defaultOptions.getModel() != null ? defaultOptions
                : defaultOptions.mutate().model(modelLabel(llm.modelDirectory())).build();
        this.mapper = new ChatRequestMapper(tokenizer, llm.maxSeqLen(), this.defaultOptions);
        this.observationRegistry = observationRegistry;
        this.requestObserver = requestObserver;
        this.generator = generator;
    }

    /** A builder; {@link Builder#llm} is required. */
    public static Builder builder() {
        return new Builder();
    }

    private static String modelLabel(Path modelDir) {
        Path name = modelDir.getFileName();
        return name != null ? name.toString() : modelDir.toString();
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        EngineRequest request = mapper.map(prompt);
        var context = ChatModelObservationContext.builder().prompt(request.prompt()).provider(PROVIDER_NAME).build();
        ChatResponse response = ChatModelObservationDocumentation.CHAT_MODEL_OPERATION
                .observation(observationConvention, DEFAULT_OBSERVATION_CONVENTION, () -> context, observationRegistry)
                .observe(() -> {
                    RequestOutput output = generate(request);
                    ChatResponse r = toResponse(output, output.output().text(), request.options(), request.replies());
                    context.setResponse(r);
                    return r;
                });
        return Objects.requireNonNull(response);
    }

    private RequestOutput generate(EngineRequest request) {
        try {
            RequestOutput output = generator.generate(request.promptTokenIds(), request.params());
            requestObserver.onFinished(output);
            return output;
        } catch (RuntimeException e) {
            failed(e);
            throw e;
        }
    }

    private void failed(Throwable e) {
        if (e instanceof QueueFullException full) {
            requestObserver.onRejected(full);
        } else {
            requestObserver.onFailed(e);
        }
    }

    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        // The chat template renders for up to its time limit: not on the subscriber's thread, which
        // for a web request is the event loop that serves every other connection.
        return Mono.fromCallable(() -> mapper.map(prompt))
                .subscribeOn(Schedulers.boundedElastic())
                .flatMapMany(request -> stream(request));
    }

    private Flux<ChatResponse> stream(EngineRequest request) {
        return Flux.deferContextual(contextView -> {
            var context = ChatModelObservationContext.builder().prompt(request.prompt()).provider(PROVIDER_NAME)
                    .streaming(true).build();
            Observation observation = ChatModelObservationDocumentation.CHAT_MODEL_OPERATION
                    .observation(observationConvention, DEFAULT_OBSERVATION_CONVENTION, () -> context, observationRegistry);
            Observation parent = contextView.getOrDefault(ObservationThreadLocalAccessor.KEY, null);
            observation.parentObservation(parent);
            observation.start();

            Flux<RequestOutput> updates = JdkFlowAdapter
                    .flowPublisherToFlux(generator.generateStream(request.promptTokenIds(), request.params()));
            if (request.tools()) {
                // A tool call parses only whole: one response with the whole reply (cancelling still aborts).
                updates = updates.filter(RequestOutput::finished);
            }
            Flux<ChatResponse> responses = updates
                    .filter(update -> update.finished() || !update.output().textDiff().isEmpty())
                    .doOnNext(update -> {
                        if (update.finished()) {
                            requestObserver.onFinished(update);
                        }
                    })
                    .doOnCancel(requestObserver::onCancelled)
                    .doOnError(this::failed)
                    .map(update -> request.tools()
                            ? toResponse(update, update.output().text(), request.options(), request.replies())
                            : toResponse(update, update.output().textDiff(), request.options(), null))
                    .doOnError(observation::error)
                    .doFinally(signal -> observation.stop())
                    .contextWrite(ctx -> ctx.put(ObservationThreadLocalAccessor.KEY, observation));
            // Errors go around Spring AI's aggregator, which logs every error with its stack trace at ERROR:
            // most are the caller's (a prompt longer than the model, a full queue) and are the caller's to
            // report; the observation has recorded each, and the engine logs its own failures.
            AtomicReference<Throwable> error = new AtomicReference<>();
            return new MessageAggregator()
                    .aggregate(responses.onErrorResume(e -> {
                        error.set(e);
                        return Flux.empty();
                    }), context::setResponse)
                    .concatWith(Flux.defer(() -> error.get() == null ? Flux.empty() : Flux.error(error.get())));
        });
    }

    /**
     * One response: {@code text} (the whole text, or a stream's delta) and, once finished, the finish
     * reason; with a reply parser (tools rendered, or a reasoning template), the text's tool calls as
     * {@link AssistantMessage.ToolCall}s and its reasoning in the message's metadata
     * ({@value #REASONING_CONTENT}), the rest as content.
     */
    private static ChatResponse toResponse(RequestOutput output, String text, TrtLlmChatOptions options,
                                           @Nullable ReplyParser replies) {
        CompletionOutput completion = output.output();
        @Nullable String engineReason = completion.finishReason();
        @Nullable String finishReason = engineReason == null ? null : engineReason.toUpperCase(Locale.ROOT);
        AssistantMessage message = new AssistantMessage(text);
        if (replies != null) {
            AssistantReply reply = replies.parse(text);
            Map<String, Object> properties = reply.reasoningContent().isEmpty() ? Map.of()
                    : Map.of(REASONING_CONTENT, reply.reasoningContent());
            List<AssistantMessage.ToolCall> calls = reply.toolCalls().stream()
                    .map(c -> new AssistantMessage.ToolCall(c.id(), "function", c.name(), compactJson(c.arguments())))
                    .toList();
            message = AssistantMessage.builder().content(reply.content()).toolCalls(calls).properties(properties).build();
            if (!calls.isEmpty()) {
                finishReason = TOOL_CALLS;
            }
        }
        ChatGenerationMetadata generationMetadata = finishReason == null ? ChatGenerationMetadata.NULL
                : ChatGenerationMetadata.builder().finishReason(finishReason).build();
        var generation = new Generation(message, generationMetadata);
        RequestMetrics metrics = output.metrics();
        var usage = new DefaultUsage(metrics.promptTokens(), metrics.generatedTokens(),
                metrics.promptTokens() + metrics.generatedTokens(), metrics, (long) metrics.cachedPromptTokens(), null);
        var metadata = ChatResponseMetadata.builder()
                .id(output.requestId())
                .model(Objects.requireNonNull(options.getModel()))
                .usage(usage)
                .build();
        return new ChatResponse(List.of(generation), metadata);
    }

    /** Arguments as compact JSON when they parse (models write spaces and newlines), else as written. */
    private static String compactJson(String arguments) {
        try {
            return JSON.readTree(arguments).toString();
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            return arguments;
        }
    }

    /** The default options (a copy can be changed through {@link TrtLlmChatOptions#mutate()}). */
    @Override
    public TrtLlmChatOptions getOptions() {
        return defaultOptions;
    }

    /** The engine this chat model runs on. */
    public LLM getLlm() {
        return llm;
    }

    /** Replaces the observation convention (Spring AI's default names {@code gen_ai.client.operation}). */
    public void setObservationConvention(ChatModelObservationConvention observationConvention) {
        this.observationConvention = Objects.requireNonNull(observationConvention, "observationConvention");
    }

    /** Builder of {@link TrtLlmChatModel}. */
    public static final class Builder {
        private @Nullable LLM llm;
        private TrtLlmChatOptions defaultOptions = TrtLlmChatOptions.builder().build();
        private ObservationRegistry observationRegistry = ObservationRegistry.NOOP;
        private TrtLlmRequestObserver requestObserver = TrtLlmRequestObserver.NOOP;
        private @Nullable ChatModelObservationConvention observationConvention;
        private @Nullable Tokenizer tokenizer;
        private @Nullable Generator generator;

        private Builder() {
        }

        /** Tests: the tokenizer whose chat template renders the prompts (default: the engine's). */
        Builder tokenizer(Tokenizer tokenizer) {
            this.tokenizer = tokenizer;
            return this;
        }

        /** Tests: what runs the engine requests (default: the engine). */
        Builder generator(Generator generator) {
            this.generator = generator;
            return this;
        }

        /** The engine (required). */
        public Builder llm(LLM llm) {
            this.llm = llm;
            return this;
        }

        /** Options of every request, under the request's own; the model label defaults to the model directory's name. */
        public Builder defaultOptions(TrtLlmChatOptions defaultOptions) {
            this.defaultOptions = defaultOptions;
            return this;
        }

        /** Where observations go (default {@link ObservationRegistry#NOOP}). */
        public Builder observationRegistry(ObservationRegistry observationRegistry) {
            this.observationRegistry = observationRegistry;
            return this;
        }

        /** Told about the end of every engine request (default: nothing). */
        public Builder requestObserver(TrtLlmRequestObserver requestObserver) {
            this.requestObserver = requestObserver;
            return this;
        }

        /** The observation convention (default: Spring AI's, {@code gen_ai.client.operation}). */
        public Builder observationConvention(ChatModelObservationConvention observationConvention) {
            this.observationConvention = Objects.requireNonNull(observationConvention, "observationConvention");
            return this;
        }

        public TrtLlmChatModel build() {
            if (llm == null) {
                throw new IllegalStateException("TrtLlmChatModel.builder(): llm(LLM) is required");
            }
            LLM engine = llm;
            var model = new TrtLlmChatModel(engine, tokenizer != null ? tokenizer : engine.tokenizer(), defaultOptions,
                    observationRegistry, requestObserver, generator != null ? generator : Generator.of(engine));
            if (observationConvention != null) {
                model.setObservationConvention(observationConvention);
            }
            return model;
        }
    }
}
