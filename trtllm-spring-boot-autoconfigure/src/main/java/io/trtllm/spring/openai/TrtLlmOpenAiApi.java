package io.trtllm.spring.openai;

import io.trtllm.api.ChatTemplateException;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.QueueFullException;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.TemplateLimitException;
import io.trtllm.api.Tokenizer;
import io.trtllm.api.chat.ChatDelta;
import io.trtllm.api.chat.ReasoningParser;
import io.trtllm.api.chat.ReplyParser;
import io.trtllm.api.chat.ReplyStream;
import io.trtllm.api.chat.ToolCallFormat;
import io.trtllm.api.chat.ToolCallParser;
import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.openai.OpenAiResponses.Header;
import io.trtllm.spring.web.BodyTimeouts;
import io.trtllm.spring.web.ClientMessages;
import io.trtllm.spring.web.TrtLlmRequestGuard;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.reactive.function.BodyInserter;
import org.springframework.web.reactive.function.BodyInserters;
import org.springframework.web.reactive.function.server.RequestPredicates;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;
import org.springframework.web.server.ServerWebInputException;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * An OpenAI-compatible HTTP API on an in-process {@link LLM}, as WebFlux functional routes under a
 * base path ({@code /v1}):
 * <ul>
 *   <li>{@code POST /chat/completions}: the messages rendered with the model's chat template;</li>
 *   <li>{@code POST /completions}: a prompt (text or token ids, or a batch of them);</li>
 *   <li>{@code GET /models}, {@code GET /models/{id}}: the one model this engine serves.</li>
 * </ul>
 * Both generation endpoints answer whole ({@code application/json}) or, with {@code "stream": true},
 * as server-sent events: {@code data: {chunk}} per text delta, a usage chunk with
 * {@code stream_options.include_usage}, then {@code data: [DONE]}. Request fields map to
 * {@link SamplingParams} (see {@link OpenAiRequestReader}); fields a request leaves unset take the
 * chat model's defaults ({@code trtllm.chat.*}), then the engine's.
 *
 * <p>Errors have OpenAI's shape, {@code {"error": {"message", "type", "param", "code"}}}: 400 for an
 * invalid request (param names the field; also messages that the chat template refuses or that take it
 * past its limits, see {@link io.trtllm.api.TemplateLimitException}; also for {@code n}, {@code best_of} or a batch of prompts
 * beyond {@code maxN} or the engine's queue, which could never be admitted), 404 for another model or
 * an unknown path, 408 for a body that did not arrive in time, 413 for a body over the codec limit, 415
 * for a body that is not
 * {@code application/json}, 429 when the engine's queue is full (retry), 503 when the engine has
 * stopped. Messages name the problem without the server's paths or class names; an unexpected error is
 * a 500 whose details stay in the log. A client that disconnects aborts its engine request (the
 * KV-cache blocks are freed on the engine's next iteration). Requests are parsed, rendered with the chat
 * template and tokenized on Reactor's bounded-elastic workers, never on the event loop.
 *
 * <p>The API key, CORS and cross-site rules are not here: Spring Security and
 * {@link io.trtllm.spring.web.TrtLlmRequestGuard} apply them before a request reaches these routes
 * (see the auto-configuration).
 */
public final class TrtLlmOpenAiApi {
    private static final Logger LOG = LoggerFactory.getLogger(TrtLlmOpenAiApi.class);
    private static final String DONE = "[DONE]";

    /** What the API asks of the engine: the {@link LLM}'s generation methods (a seam for scripted replies in tests). */
    interface Engine {
        CompletableFuture<RequestOutput> generateAsync(int[] promptTokenIds, SamplingParams params);

        Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params);
    }

    private final LLM llm;
    private final Engine engine;
    private final Tokenizer tokenizer;
    private final String modelName;
    private final TrtLlmChatOptions defaults;
    private final int maxN;
    private final TrtLlmRequestObserver observer;
    private final GenAiServerObserver server;
    private final OpenAiResponses responses;
    private final OpenAiRequestReader reader;
    private final long created = Instant.now().getEpochSecond();

    /**
     * @param llm       the engine
     * @param modelName the model id requests name and {@code /models} lists
     * @param defaults  options for fields a request leaves unset (e.g. the chat model's defaults)
     * @param maxN      most choices one request may ask for: n, best_of, n times the prompts of a batch
     * @param observer  told about the end of each engine request (the engine's meters listen to the {@code LLM})
     */
    public TrtLlmOpenAiApi(LLM llm, String modelName, TrtLlmChatOptions defaults, int maxN,
                           TrtLlmRequestObserver observer) {
        this(llm, modelName, defaults, maxN, observer, JsonMapper.builder().build());
    }

    /**
     * @param llm       the engine
     * @param modelName the model id requests name and {@code /models} lists
     * @param defaults  options for fields a request leaves unset (e.g. the chat model's defaults)
     * @param maxN      most choices one request may ask for: n, best_of, n times the prompts of a batch
     * @param observer  told about the end of each engine request (the engine's meters listen to the {@code LLM})
     * @param json      reads requests (a strict copy: no string-to-number coercions) and writes responses;
     *                  the application's, so that {@code spring.jackson.*} applies
     */
    public TrtLlmOpenAiApi(LLM llm, String modelName, TrtLlmChatOptions defaults, int maxN,
                           TrtLlmRequestObserver observer, JsonMapper json) {
        this(llm, modelName, defaults, maxN, observer, json, GenAiServerObserver.NOOP);
    }

    /**
     * @param llm       the engine
     * @param modelName the model id requests name and {@code /models} lists
     * @param defaults  options for fields a request leaves unset (e.g. the chat model's defaults)
     * @param maxN      most choices one request may ask for: n, best_of, n times the prompts of a batch
     * @param observer  told about the end of each engine request
     * @param json      reads requests (a strict copy: no string-to-number coercions) and writes responses;
     *                  the application's, so that {@code spring.jackson.*} applies
     * @param server    told how each chat or text completion ended (OpenTelemetry's GenAI server metrics)
     */
    public TrtLlmOpenAiApi(LLM llm, String modelName, TrtLlmChatOptions defaults, int maxN,
                           TrtLlmRequestObserver observer, JsonMapper json, GenAiServerObserver server) {
        this(llm, modelName, defaults, maxN, observer, json, server, llm.tokenizer(), new Engine() {
            @Override
            public CompletableFuture<RequestOutput> generateAsync(int[] promptTokenIds, SamplingParams params) {
                return llm.generateAsync(promptTokenIds, params);
            }

            @Override
            public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
                return llm.generateStream(promptTokenIds, params);
            }
        });
    }

    /** An API whose prompts are rendered with {@code tokenizer} and generated by {@code engine} (tests). */
    TrtLlmOpenAiApi(LLM llm, String modelName, TrtLlmChatOptions defaults, int maxN, TrtLlmRequestObserver observer,
                    JsonMapper json, GenAiServerObserver server, Tokenizer tokenizer, Engine engine) {
        if (maxN < 1) {
            throw new IllegalArgumentException("maxN must be >= 1, got " + maxN);
        }
        this.llm = llm;
        this.engine = engine;
        this.tokenizer = tokenizer;
        this.modelName = modelName;
        this.defaults = defaults;
        this.maxN = maxN;
        this.observer = observer;
        this.server = server;
        this.responses = new OpenAiResponses(json, tokenizer);
        // A validator of the API's own, not the application's: an application's Validator bean may be an
        // adapter without a target (WebFlux registers one), and every message is worded here anyway.
        this.reader = new OpenAiRequestReader(json, OpenAiRequestReader.defaultValidator());
    }

    /** The model id this API serves. */
    public String modelName() {
        return modelName;
    }

    /** The routes under {@code basePath} (e.g. {@code /v1}). */
    public RouterFunction<ServerResponse> routes(String basePath) {
        return RouterFunctions.route()
                .POST(basePath + "/chat/completions", r -> generate(r, true))
                .POST(basePath + "/completions", r -> generate(r, false))
                .GET(basePath + "/models", this::models)
                .GET(basePath + "/models/{model}", this::model)
                .route(RequestPredicates.path(basePath + "/**"), r -> error(new OpenAiException(404,
                        "invalid_request_error", null, "unknown_url", "Unknown request URL: " + r.method() + " "
                        + r.path() + ". This server serves POST " + basePath + "/chat/completions, POST " + basePath
                        + "/completions and GET " + basePath + "/models.")))
                .build();
    }

    private Mono<ServerResponse> models(ServerRequest request) {
        ObjectNode list = OpenAiResponses.NODES.objectNode().put("object", "list");
        list.putArray("data").add(modelNode());
        return json(200, list);
    }

    private Mono<ServerResponse> model(ServerRequest request) {
        String id = request.pathVariable("model");
        return id.equals(modelName) ? json(200, modelNode()) : error(modelNotFound(id));
    }

    private ObjectNode modelNode() {
        return OpenAiResponses.NODES.objectNode().put("id", modelName).put("object", "model").put("created", created)
                .put("owned_by", "trtllm").put("max_model_len", llm.maxSeqLen());
    }

    private OpenAiException modelNotFound(String model) {
        return new OpenAiException(404, "invalid_request_error", "model", "model_not_found", "The model '" + model
                + "' does not exist: this server serves '" + modelName + "'.");
    }

    // ---- generation ----

    /**
     * One admitted request: its header, prompts (token ids) and per-prompt sampling parameters; how chat replies
     * are read (reasoning, tool calls; null: as written); the guide's field, for its compile errors; and when it
     * arrived ({@link System#nanoTime()}).
     */
    private record Call(Header header, OpenAiRequest request, List<int[]> prompts, List<SamplingParams> params,
                        @Nullable ReplyParser replies, @Nullable String guideParam, long startNanos) {

        /** A guide that did not compile, as a 400 naming its field; other errors as they are. */
        Throwable mapGuideError(Throwable e) {
            if (!(e instanceof GuidedDecodingException g)) {
                return e;
            }
            OpenAiTools tools = request.tools();
            if (guideParam == null && tools != null && tools.enforced()) {
                return tools.error(g);
            }
            return OpenAiException.invalid(guideParam, "Invalid " + (guideParam != null ? "'" + guideParam + "'" : "guide")
                    + (g.pointer() != null && !g.pointer().isEmpty() ? " at '" + g.pointer() + "'" : "")
                    + (g.keyword() != null ? " (keyword '" + g.keyword() + "')" : "") + ": " + g.getMessage());
        }
    }

    private Mono<ServerResponse> generate(ServerRequest http, boolean chat) {
        long start = System.nanoTime();
        String operation = chat ? GenAiServerObserver.CHAT : GenAiServerObserver.TEXT_COMPLETION;
        return generate(http, chat, start).onErrorResume(e -> {
            OpenAiException error = toOpenAi(e);
            server.failed(operation, modelName, start, errorType(error));
            return error(error);
        }).doOnCancel(() -> server.failed(operation, modelName, start, "cancelled")); // before a response: not streams
    }

    /** The OpenAI error's code, else its type: a low-cardinality {@code error.type}. */
    private static String errorType(OpenAiException e) {
        return e.code() != null ? e.code() : e.type();
    }

    private Mono<ServerResponse> generate(ServerRequest http, boolean chat, long start) {
        // Also checked by TrtLlmRequestGuard before security's work is done; here for routes used without it.
        if (!TrtLlmRequestGuard.isJson(http.headers().asHttpHeaders())) {
            return error(new OpenAiException(415, "invalid_request_error", null, "unsupported_media_type",
                    "The request body must be JSON: send it with 'Content-Type: application/json' (got "
                            + TrtLlmRequestGuard.describe(http.headers().firstHeader(HttpHeaders.CONTENT_TYPE)) + ")."));
        }
        return http.bodyToMono(byte[].class)
                .defaultIfEmpty(new byte[0])
                // Parsing, the chat template and tokenizing take time in proportion to the request (the
                // template up to its render time limit): on a worker thread, never on the event loop,
                // which serves every other connection. Only the body's work hops: an error in reading the
                // body (the body timeout's 408) is answered on the event loop at once, before Netty closes
                // the connection.
                .flatMap(body -> Mono.fromCallable(() -> {
                    OpenAiRequest request = chat ? reader.chat(body) : reader.completion(body);
                    return prepare(request, start);
                }).subscribeOn(Schedulers.boundedElastic()))
                .flatMap(call -> call.request().stream() ? stream(call) : complete(call));
    }

    private Call prepare(OpenAiRequest request, long start) {
        if (request.model() != null && !request.model().isEmpty() && !request.model().equals(modelName)) {
            throw modelNotFound(request.model());
        }
        if (request.stream() && (request.n() > 1 || request.sampling().bestOf() != null && request.sampling().bestOf() > 1)) {
            throw OpenAiException.unsupported(request.n() > 1 ? "n" : "best_of", "Streaming supports one choice per "
                    + "prompt for now: set 'n' and 'best_of' to 1, or 'stream' to false.");
        }
        checkChoices(request);
        List<int[]> prompts = new ArrayList<>();
        ReplyParser replies = null;
        GuidedDecodingParams guide = request.guide() != null ? request.guide().params() : null;
        boolean skipSpecial = request.sampling().skipSpecialTokens();
        if (request.chat()) {
            Map<String, Object> variables = new HashMap<>(request.templateKwargs());
            OpenAiTools tools = request.tools();
            ToolCallFormat format = null;
            if (tools != null) {
                if (tokenizer.supportsTools()) {
                    variables.put("tools", tools.definitions(reader::plain));
                }
                format = toolCallFormat(tools);
                if (format != null && guide == null) {
                    guide = tools.guide(format);
                }
                // Llama 3's <|python_tag|> and Mistral's [TOOL_CALLS] are special tokens: keep them in the text.
                skipSpecial &= format == null || format == ToolCallFormat.HERMES;
            }
            String template = tokenizer.chatTemplateSource();
            ReasoningParser reasoning = template != null && template.contains("<think>") ? ReasoningParser.qwen3() : null;
            if (format != null || reasoning != null) {
                replies = ReplyParser.of(reasoning, format != null ? ToolCallParser.of(format) : null);
            }
            prompts.add(tokenizer.encodeChat(request.messages(), true, variables));
        } else {
            for (Object p : request.prompts()) {
                prompts.add(p instanceof int[] ids ? ids : tokenizer.encode((String) p, true));
            }
        }
        String promptParam = request.chat() ? "messages" : "prompt";
        List<SamplingParams> params = new ArrayList<>();
        Integer asked = request.sampling().maxTokens();
        for (int[] ids : prompts) {
            if (ids.length == 0) {
                throw OpenAiException.invalid(promptParam, "The " + promptParam + " give an empty prompt: at least one "
                        + "token is needed.");
            }
            // Unset: the configured default, at most what the sequence length leaves (a too-long prompt
            // leaves nothing: 1 token, so that the check below names the numbers).
            int room = Math.max(1, llm.maxSeqLen() - ids.length);
            int maxTokens = asked != null ? asked
                    : defaults.getMaxTokens() != null ? Math.min(defaults.getMaxTokens(), room) : room;
            // In long: max_tokens may be anything up to 2^31-1, and the sum must not wrap.
            long total = (long) ids.length + maxTokens;
            if (total > llm.maxSeqLen()) {
                throw new OpenAiException(400, "invalid_request_error",
                        asked != null ? request.sampling().maxTokensParam() : promptParam, "context_length_exceeded",
                        "This model's maximum context length is " + llm.maxSeqLen() + " tokens. However, you requested "
                                + total + " tokens (" + ids.length + " in the " + promptParam + ", "
                                + maxTokens + " in the completion). Please reduce the length of the " + promptParam
                                + " or the completion.");
            }
            params.add(request.sampling().toParams(defaults, maxTokens, guide, skipSpecial));
        }
        String id = (request.chat() ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        var header = new Header(id, request.chat() ? (request.stream() ? "chat.completion.chunk" : "chat.completion")
                : "text_completion", Instant.now().getEpochSecond(), modelName);
        return new Call(header, request, prompts, params, replies,
                request.guide() != null ? request.guide().param() : null, start);
    }

    /**
     * The format tool calls are read (and, when enforced, guided) in: the one the chat template asks for; for a
     * template that renders no tools or asks for no format we read, Hermes' {@code <tool_call>} when calls are
     * enforced (the guide writes them, the template need not have asked), else a 400; null with
     * {@code tool_choice: none}.
     */
    private @Nullable ToolCallFormat toolCallFormat(OpenAiTools tools) {
        if (!tools.callsExpected()) {
            return null;
        }
        String template = tokenizer.chatTemplateSource();
        ToolCallFormat format = template != null && tokenizer.supportsTools() ? ToolCallFormat.ofTemplate(template) : null;
        if (format != null) {
            return format;
        }
        if (tools.enforced()) {
            return ToolCallFormat.HERMES;
        }
        throw OpenAiException.invalid("tool_choice", "The chat template of model '" + modelName + "' "
                + (!tokenizer.hasChatTemplate() ? "is missing" : !tokenizer.supportsTools() ? "does not render tools"
                : "asks for tool calls in a format this server does not read") + ", so it cannot call tools on its own "
                + "('tool_choice': 'auto'): set 'tool_choice' to 'required' or name a function (the calls are then "
                + "enforced), or to 'none'.");
    }

    /**
     * Refuses a request for more choices than one request may have ({@code maxN}) or than the engine's
     * queue holds at once (each sample of {@code best_of} and each prompt of a batch is a request of its
     * own in the queue, all submitted together): retrying would not help, so it is a 400, not a 429.
     */
    private void checkChoices(OpenAiRequest request) {
        int n = request.n();
        Integer bestOf = request.sampling().bestOf();
        int samples = Math.max(n, bestOf != null ? bestOf : n);
        String param = bestOf != null && bestOf > n ? "best_of" : "n";
        if (samples > maxN) {
            throw OpenAiException.invalid(param, "Invalid '" + param + "': " + samples + " is greater than the maximum of "
                    + maxN + " choices per request on this server.");
        }
        int prompts = request.chat() ? 1 : request.prompts().size();
        long total = (long) prompts * samples;
        if (prompts > 1 && total > maxN) {
            throw OpenAiException.invalid("prompt", "This request asks for " + total + " choices (" + prompts
                    + " prompts x " + samples + "), more than the maximum of " + maxN + " per request on this server: "
                    + "send fewer prompts per request.");
        }
        if (total > llm.maxQueueSize()) {
            throw OpenAiException.invalid(prompts > 1 ? "prompt" : param, "This request needs " + total + " engine "
                    + "requests at once, more than the engine may queue (max_queue_size " + llm.maxQueueSize() + "): "
                    + "retrying would not help. Ask for fewer choices" + (prompts > 1 ? " or prompts." : "."));
        }
    }

    /** Whether a reply may call more than one tool ({@code parallel_tool_calls}; without it, the first call is kept). */
    private static boolean parallelCalls(Call call) {
        return call.request().tools() == null || call.request().tools().parallel();
    }

    /** Whole responses: every prompt submitted at once (batched by the engine), answered together. */
    private Mono<ServerResponse> complete(Call call) {
        List<Mono<RequestOutput>> outputs = new ArrayList<>();
        AtomicBoolean failed = new AtomicBoolean();
        for (int i = 0; i < call.prompts().size(); i++) {
            int[] ids = call.prompts().get(i);
            SamplingParams params = call.params().get(i);
            outputs.add(observed(Mono.fromFuture(() -> engine.generateAsync(ids, params), false)
                    .onErrorMap(call::mapGuideError), failed));
        }
        return Flux.mergeSequential(outputs).collectList().flatMap(results -> {
            ObjectNode body = call.header().node();
            var choices = body.putArray("choices");
            int n = call.request().n();
            List<RequestMetrics> metrics = new ArrayList<>();
            for (int p = 0; p < results.size(); p++) {
                RequestOutput r = results.get(p);
                metrics.add(r.metrics());
                for (CompletionOutput out : r.outputs()) {
                    choices.add(call.request().chat()
                            ? responses.chatChoice(p * n + out.index(), out, call.replies(), parallelCalls(call))
                            : responses.choice(p * n + out.index(), out));
                }
            }
            body.set("usage", OpenAiResponses.usage(metrics));
            body.putNull("system_fingerprint");
            server.succeeded(operation(call), modelName, call.startNanos(), metrics);
            return json(200, body);
        });
    }

    /**
     * Tells the observer how one engine request ended. When one prompt of a batch fails (a full queue),
     * the others are aborted with it: that is the failure's doing, not a client's cancellation, and is
     * not counted as one ({@code failed} is shared by the call's requests).
     */
    private Mono<RequestOutput> observed(Mono<RequestOutput> output, AtomicBoolean failed) {
        return output.doOnNext(observer::onFinished)
                .doOnError(e -> {
                    failed.set(true);
                    failed(e);
                })
                .doOnCancel(() -> {
                    if (!failed.get()) {
                        observer.onCancelled();
                    }
                });
    }

    private void failed(Throwable e) {
        if (e instanceof QueueFullException full) {
            observer.onRejected(full);
        } else {
            observer.onFailed(e);
        }
    }

    /**
     * Server-sent events. Nothing is written before the engine has admitted every prompt, so a full
     * queue or a refused request still gets its HTTP status; an error after the first event becomes an
     * error event followed by {@code [DONE]}.
     */
    private Mono<ServerResponse> stream(Call call) {
        boolean chat = call.request().chat();
        boolean includeUsage = call.request().includeUsage();
        int prompts = call.prompts().size();
        RequestMetrics[] finals = new RequestMetrics[prompts];
        List<Flux<String>> choices = new ArrayList<>();
        AtomicBoolean failed = new AtomicBoolean();
        for (int i = 0; i < prompts; i++) {
            int index = i;
            int[] ids = call.prompts().get(i);
            SamplingParams params = call.params().get(i);
            AtomicInteger logprobsSent = new AtomicInteger();
            AtomicBoolean first = new AtomicBoolean(true);
            ReplyStream reply = call.replies() != null ? call.replies().stream() : null;
            AtomicBoolean calledTools = new AtomicBoolean();
            boolean parallel = parallelCalls(call);
            choices.add(Flux.defer(() -> JdkFlowAdapter.flowPublisherToFlux(engine.generateStream(ids, params)))
                    .onErrorMap(call::mapGuideError)
                    .filter(u -> u.finished() || !u.output().textDiff().isEmpty())
                    .doOnNext(u -> {
                        if (u.finished()) {
                            finals[index] = u.metrics();
                            observer.onFinished(u);
                        }
                    })
                    .doOnError(e -> {
                        failed.set(true);
                        failed(e);
                    })
                    .doOnCancel(() -> {
                        if (!failed.get()) { // aborted because another prompt of the batch failed
                            observer.onCancelled();
                        }
                    })
                    .concatMapIterable(u -> {
                        CompletionOutput out = u.output();
                        List<String> events = new ArrayList<>(2);
                        var logprobs = out.logprobs();
                        if (!chat) {
                            int from = Math.min(logprobsSent.getAndSet(logprobs.size()), logprobs.size());
                            events.add(responses.line(responses.chunk(call.header(), index, out.textDiff(), logprobs,
                                    from, out.finishReason(), includeUsage)));
                            return events;
                        }
                        ChatDelta delta = new ChatDelta("", out.textDiff(), List.of());
                        if (reply != null) {
                            delta = reply.next(out.textDiff());
                            if (u.finished()) {
                                delta = OpenAiResponses.concat(delta, reply.finish());
                            }
                            delta = OpenAiResponses.limitCalls(delta, parallel);
                        }
                        if (!delta.toolCalls().isEmpty()) {
                            calledTools.set(true);
                        }
                        String role = first.getAndSet(false) ? "assistant" : null;
                        if (role != null && u.finished()) {
                            // A choice that ends at once still opens with its role.
                            events.add(responses.line(responses.chatChunk(call.header(), index, role, ChatDelta.EMPTY,
                                    List.of(), 0, null, includeUsage)));
                            role = null;
                        }
                        if (delta.isEmpty() && role == null && !u.finished()) {
                            return events; // held back (a tag may be starting); its logprobs go with the next chunk
                        }
                        int from = Math.min(logprobsSent.getAndSet(logprobs.size()), logprobs.size());
                        String reason = u.finished() ? OpenAiResponses.chatFinishReason(out.finishReason(),
                                calledTools.get()) : null;
                        events.add(responses.line(responses.chatChunk(call.header(), index, role, delta, logprobs, from,
                                reason, includeUsage)));
                        return events;
                    }));
        }
        AtomicBoolean started = new AtomicBoolean();
        Flux<String> events = Flux.merge(choices)
                .concatWith(Flux.defer(() -> {
                    if (!includeUsage) {
                        return Flux.empty();
                    }
                    List<RequestMetrics> metrics = new ArrayList<>();
                    for (RequestMetrics m : finals) {
                        metrics.add(Objects.requireNonNull(m));
                    }
                    ObjectNode usage = call.header().node();
                    usage.putArray("choices");
                    usage.set("usage", OpenAiResponses.usage(metrics));
                    return Flux.just(responses.line(usage));
                }))
                .concatWith(Flux.just(DONE))
                .doOnNext(e -> started.set(true))
                .doOnComplete(() -> server.succeeded(operation(call), modelName, call.startNanos(),
                        Arrays.stream(finals).filter(Objects::nonNull).toList()))
                .doOnCancel(() -> server.failed(operation(call), modelName, call.startNanos(), "cancelled"))
                .onErrorResume(e -> {
                    OpenAiException error = toOpenAi(e);
                    server.failed(operation(call), modelName, call.startNanos(), errorType(error));
                    return started.get() ? Flux.just(responses.line(OpenAiResponses.error(error)), DONE) : Flux.error(error);
                });
        return ServerResponse.ok()
                .contentType(MediaType.TEXT_EVENT_STREAM)
                .header(HttpHeaders.CACHE_CONTROL, "no-cache")
                .header("X-Accel-Buffering", "no")
                .body(serverSentEvents(events));
    }

    /**
     * Writes each event as a server-sent event, {@code data: <event>}, flushed at once (Spring's
     * writer). An error before the first event (nothing committed yet) is answered as an OpenAI error
     * with its status instead.
     *
     * <p>The data starts with a space: the SSE format drops one leading space after {@code data:}, so a
     * conforming client reads the same JSON, while the bytes are OpenAI's own ({@code data: {...}}),
     * which hand-written clients that cut {@code "data: "} off each line depend on.
     */
    private BodyInserter<Flux<ServerSentEvent<String>>, ServerHttpResponse> serverSentEvents(Flux<String> events) {
        var inserter = BodyInserters.fromServerSentEvents(events.map(e -> ServerSentEvent.builder(" " + e).build()));
        return (response, context) -> inserter.insert(response, context).onErrorResume(e -> {
            if (response.isCommitted()) {
                return Mono.error(e);
            }
            OpenAiException error = toOpenAi(e);
            response.setStatusCode(org.springframework.http.HttpStatusCode.valueOf(error.status()));
            response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
            response.getHeaders().remove(HttpHeaders.CACHE_CONTROL);
            if (error.status() == 429) {
                response.getHeaders().set(HttpHeaders.RETRY_AFTER, "1");
            }
            byte[] body = responses.bytes(OpenAiResponses.error(error));
            return response.writeWith(Mono.just(response.bufferFactory().wrap(body)));
        });
    }

    private static String operation(Call call) {
        return call.request().chat() ? GenAiServerObserver.CHAT : GenAiServerObserver.TEXT_COMPLETION;
    }

    // ---- errors ----

    private OpenAiException toOpenAi(Throwable e) {
        if (e instanceof OpenAiException openAi) {
            return openAi;
        }
        if (e instanceof QueueFullException) {
            return new OpenAiException(429, "rate_limit_error", null, "queue_full", "The server is at capacity: "
                    + e.getMessage() + ". Retry after a short wait.");
        }
        if (llm.failure() != null || e instanceof IllegalStateException && !llm.stats().alive()) {
            Throwable cause = llm.failure() != null ? llm.failure() : e;
            return new OpenAiException(503, "service_unavailable", null, "engine_unavailable",
                    "The engine is not running: " + ClientMessages.sanitize(cause.getMessage()));
        }
        if (BodyTimeouts.isBodyTimeout(e)) {
            return new OpenAiException(408, "invalid_request_error", null, "request_timeout",
                    "The request body did not arrive within the server's time limit.");
        }
        if (e instanceof ChatTemplateException template) {
            // The messages are at fault (the template refused them or they exceeded its limits). The
            // reason leaves out the template's file: a server path is none of the client's business.
            return new OpenAiException(400, "invalid_request_error", "messages",
                    e instanceof TemplateLimitException ? "chat_template_limit_exceeded" : "chat_template_error",
                    template.reason());
        }
        if (e instanceof DataBufferLimitException) {
            return new OpenAiException(413, "invalid_request_error", null, "request_too_large",
                    "The request body is too large: " + e.getMessage());
        }
        if (e instanceof ServerWebInputException input) {
            return OpenAiException.invalid(null, "The request body could not be read: "
                    + ClientMessages.sanitize(input.getReason()));
        }
        if (e instanceof IllegalArgumentException) {
            // The engine's own checks of a request this API let through (e.g. a token id out of the vocabulary,
            // a chat template that refuses the messages): the message names the problem.
            String message = ClientMessages.sanitize(e.getMessage());
            LOG.debug("OpenAI API request refused by the engine: {}", e.toString());
            return OpenAiException.invalid(message.startsWith("prompt") ? "prompt" : null, message);
        }
        if (e instanceof UnsupportedOperationException) {
            return new OpenAiException(400, "invalid_request_error", null, "unsupported_parameter",
                    ClientMessages.sanitize(e.getMessage()));
        }
        // Unexpected: the client gets an id to quote, the log has the rest.
        String errorId = UUID.randomUUID().toString();
        LOG.error("OpenAI API request failed (error id {})", errorId, e);
        return new OpenAiException(500, "server_error", null, null, "The server failed to process the request "
                + "(error id " + errorId + ").");
    }

    private Mono<ServerResponse> error(OpenAiException e) {
        var response = ServerResponse.status(e.status()).contentType(MediaType.APPLICATION_JSON);
        if (e.status() == 429) {
            response.header(HttpHeaders.RETRY_AFTER, "1");
        }
        if (e.status() == 401) {
            response.header(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        }
        return response.bodyValue(responses.bytes(OpenAiResponses.error(e)));
    }

    private Mono<ServerResponse> json(int status, ObjectNode body) {
        return ServerResponse.status(status).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(responses.bytes(body));
    }
}
