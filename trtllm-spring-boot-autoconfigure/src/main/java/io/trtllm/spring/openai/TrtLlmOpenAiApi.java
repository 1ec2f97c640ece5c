package io.trtllm.spring.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.executor.QueueFullException;
import io.trtllm.spring.chat.TrtLlmChatOptions;
import io.trtllm.spring.chat.TrtLlmRequestObserver;
import io.trtllm.spring.openai.OpenAiResponses.Header;
import io.trtllm.tokenizer.ChatTemplateException;
import io.trtllm.tokenizer.TemplateLimitException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.reactive.function.BodyInserter;
import org.springframework.web.reactive.function.server.HandlerFilterFunction;
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
 * {@link SamplingParams} (see {@link OpenAiRequestParser}); fields a request leaves unset take the
 * chat model's defaults ({@code trtllm.chat.options.*}), then the engine's.
 *
 * <p>Errors have OpenAI's shape, {@code {"error": {"message", "type", "param", "code"}}}: 400 for an
 * invalid request (param names the field; also messages that the chat template refuses or that take it
 * past its limits, see {@link io.trtllm.tokenizer.ChatTemplate.Limits}), 401 for a missing or wrong API key when one is configured,
 * 404 for another model or an unknown path, 413 for a body over the codec limit, 429 when the
 * engine's queue is full, 503 when the engine has stopped; a 500 names no class or server path (the
 * log has the exception). A client that disconnects aborts its engine request (the KV-cache blocks are
 * freed on the engine's next iteration). Requests are parsed, rendered with the chat template and
 * tokenized on Reactor's bounded-elastic workers, never on the event loop.
 */
public final class TrtLlmOpenAiApi {
    private static final Logger LOG = LoggerFactory.getLogger(TrtLlmOpenAiApi.class);
    private static final String DONE = "[DONE]";

    private final LLM llm;
    private final String modelName;
    private final TrtLlmChatOptions defaults;
    private final @Nullable String apiKey;
    private final TrtLlmRequestObserver observer;
    private final OpenAiResponses responses;
    private final long created = Instant.now().getEpochSecond();

    /**
     * @param llm       the engine
     * @param modelName the model id requests name and {@code /models} lists
     * @param defaults  options for fields a request leaves unset (e.g. the chat model's defaults)
     * @param apiKey    the bearer token every request must carry, or null for none
     * @param observer  told about the end of each engine request (e.g. the trtllm meters)
     */
    public TrtLlmOpenAiApi(LLM llm, String modelName, TrtLlmChatOptions defaults, @Nullable String apiKey,
                           TrtLlmRequestObserver observer) {
        this.llm = llm;
        this.modelName = modelName;
        this.defaults = defaults;
        this.apiKey = apiKey;
        this.observer = observer;
        this.responses = new OpenAiResponses(llm.tokenizer());
    }

    /** The model id this API serves. */
    public String modelName() {
        return modelName;
    }

    /** The routes under {@code basePath} (e.g. {@code /v1}), with the API-key check when a key is set. */
    public RouterFunction<ServerResponse> routes(String basePath) {
        RouterFunction<ServerResponse> routes = RouterFunctions.route()
                .POST(basePath + "/chat/completions", r -> generate(r, true))
                .POST(basePath + "/completions", r -> generate(r, false))
                .GET(basePath + "/models", this::models)
                .GET(basePath + "/models/{model}", this::model)
                .route(RequestPredicates.path(basePath + "/**"), r -> error(new OpenAiException(404,
                        "invalid_request_error", null, "unknown_url", "Unknown request URL: " + r.method() + " "
                        + r.path() + ". This server serves POST " + basePath + "/chat/completions, POST " + basePath
                        + "/completions and GET " + basePath + "/models.")))
                .build();
        return apiKey == null ? routes : routes.filter(apiKeyFilter(apiKey));
    }

    private static HandlerFilterFunction<ServerResponse, ServerResponse> apiKeyFilter(String key) {
        byte[] expected = key.getBytes(StandardCharsets.UTF_8);
        return (request, next) -> {
            String header = request.headers().firstHeader(HttpHeaders.AUTHORIZATION);
            if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
                return error(new OpenAiException(401, "invalid_request_error", null, "missing_api_key",
                        "You didn't provide an API key: send it in an Authorization header (Authorization: Bearer KEY)."));
            }
            byte[] given = header.substring(7).trim().getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(expected, given)) {
                return error(new OpenAiException(401, "invalid_request_error", null, "invalid_api_key",
                        "Incorrect API key provided."));
            }
            return next.handle(request);
        };
    }

    private Mono<ServerResponse> models(ServerRequest request) {
        ObjectNode list = OpenAiResponses.JSON.createObjectNode().put("object", "list");
        list.putArray("data").add(modelNode());
        return json(200, list);
    }

    private Mono<ServerResponse> model(ServerRequest request) {
        String id = request.pathVariable("model");
        return id.equals(modelName) ? json(200, modelNode()) : error(modelNotFound(id));
    }

    private ObjectNode modelNode() {
        return OpenAiResponses.JSON.createObjectNode().put("id", modelName).put("object", "model").put("created", created)
                .put("owned_by", "trtllm").put("max_model_len", llm.maxSeqLen());
    }

    private OpenAiException modelNotFound(String model) {
        return new OpenAiException(404, "invalid_request_error", "model", "model_not_found", "The model '" + model
                + "' does not exist: this server serves '" + modelName + "'.");
    }

    // ---- generation ----

    /** One admitted request: its header, prompts (token ids) and per-prompt sampling parameters. */
    private record Call(Header header, OpenAiRequest request, List<int[]> prompts, List<SamplingParams> params) {
    }

    private Mono<ServerResponse> generate(ServerRequest http, boolean chat) {
        return http.bodyToMono(byte[].class)
                .defaultIfEmpty(new byte[0])
                // Parsing, the chat template and tokenizing take time in proportion to the request (the
                // template up to its render time limit): on a worker thread, never on the event loop,
                // which serves every other connection.
                .publishOn(Schedulers.boundedElastic())
                .map(body -> {
                    JsonNode json = OpenAiRequestParser.readObject(body);
                    OpenAiRequest request = chat ? OpenAiRequestParser.chat(json) : OpenAiRequestParser.completion(json);
                    return prepare(request);
                })
                .flatMap(call -> call.request().stream() ? stream(call) : complete(call))
                .onErrorResume(e -> error(toOpenAi(e)));
    }

    private Call prepare(OpenAiRequest request) {
        if (request.model() != null && !request.model().isEmpty() && !request.model().equals(modelName)) {
            throw modelNotFound(request.model());
        }
        if (request.stream() && (request.n() > 1 || request.sampling().bestOf() != null && request.sampling().bestOf() > 1)) {
            throw OpenAiException.unsupported(request.n() > 1 ? "n" : "best_of", "Streaming supports one choice per "
                    + "prompt for now: set 'n' and 'best_of' to 1, or 'stream' to false.");
        }
        List<int[]> prompts = new ArrayList<>();
        if (request.chat()) {
            prompts.add(llm.tokenizer().encodeChat(request.messages(), true));
        } else {
            for (Object p : request.prompts()) {
                prompts.add(p instanceof int[] ids ? ids : llm.tokenizer().encode((String) p, true));
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
            if (ids.length + maxTokens > llm.maxSeqLen()) {
                throw new OpenAiException(400, "invalid_request_error",
                        asked != null ? request.sampling().maxTokensParam() : promptParam, "context_length_exceeded",
                        "This model's maximum context length is " + llm.maxSeqLen() + " tokens. However, you requested "
                                + (ids.length + maxTokens) + " tokens (" + ids.length + " in the " + promptParam + ", "
                                + maxTokens + " in the completion). Please reduce the length of the " + promptParam
                                + " or the completion.");
            }
            params.add(request.sampling().toParams(defaults, maxTokens));
        }
        String id = (request.chat() ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        var header = new Header(id, request.chat() ? (request.stream() ? "chat.completion.chunk" : "chat.completion")
                : "text_completion", Instant.now().getEpochSecond(), modelName);
        return new Call(header, request, prompts, params);
    }

    /** Whole responses: every prompt submitted at once (batched by the engine), answered together. */
    private Mono<ServerResponse> complete(Call call) {
        List<Mono<RequestOutput>> outputs = new ArrayList<>();
        for (int i = 0; i < call.prompts().size(); i++) {
            int[] ids = call.prompts().get(i);
            SamplingParams params = call.params().get(i);
            outputs.add(observed(Mono.fromFuture(() -> llm.generateAsync(ids, params), false)));
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
                    choices.add(responses.choice(call.request().chat(), p * n + out.index(), out));
                }
            }
            body.set("usage", OpenAiResponses.usage(metrics));
            body.putNull("system_fingerprint");
            return json(200, body);
        });
    }

    private Mono<RequestOutput> observed(Mono<RequestOutput> output) {
        return output.doOnNext(observer::onFinished).doOnError(this::failed).doOnCancel(observer::onCancelled);
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
        for (int i = 0; i < prompts; i++) {
            int index = i;
            int[] ids = call.prompts().get(i);
            SamplingParams params = call.params().get(i);
            AtomicInteger logprobsSent = new AtomicInteger();
            AtomicBoolean first = new AtomicBoolean(true);
            choices.add(Flux.defer(() -> JdkFlowAdapter.flowPublisherToFlux(llm.generateStream(ids, params)))
                    .filter(u -> u.finished() || !u.output().textDiff().isEmpty())
                    .doOnNext(u -> {
                        if (u.finished()) {
                            finals[index] = u.metrics();
                            observer.onFinished(u);
                        }
                    })
                    .doOnError(this::failed)
                    .doOnCancel(observer::onCancelled)
                    .concatMapIterable(u -> {
                        CompletionOutput out = u.output();
                        List<String> events = new ArrayList<>(2);
                        var logprobs = out.logprobs();
                        int from = Math.min(logprobsSent.getAndSet(logprobs.size()), logprobs.size());
                        String role = chat && first.getAndSet(false) ? "assistant" : null;
                        if (role != null && u.finished()) {
                            // A choice that ends at once still opens with its role.
                            events.add(OpenAiResponses.string(responses.chunk(call.header(), true, index, role, "",
                                    List.of(), 0, null, includeUsage)));
                            role = null;
                        }
                        events.add(OpenAiResponses.string(responses.chunk(call.header(), chat, index, role,
                                out.textDiff(), logprobs, from, out.finishReason(), includeUsage)));
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
                    return Flux.just(OpenAiResponses.string(usage));
                }))
                .concatWith(Flux.just(DONE))
                .doOnNext(e -> started.set(true))
                .onErrorResume(e -> started.get()
                        ? Flux.just(OpenAiResponses.string(OpenAiResponses.error(toOpenAi(e))), DONE)
                        : Flux.error(e));
        return ServerResponse.ok()
                .contentType(MediaType.TEXT_EVENT_STREAM)
                .header(HttpHeaders.CACHE_CONTROL, "no-cache")
                .header("X-Accel-Buffering", "no")
                .body(serverSentEvents(events));
    }

    /**
     * Writes each event as {@code data: <event>\n\n}, flushed at once. An error before the first event
     * (nothing committed yet) is answered as an OpenAI error with its status instead.
     */
    private BodyInserter<Flux<String>, org.springframework.http.ReactiveHttpOutputMessage> serverSentEvents(
            Flux<String> events) {
        return (message, context) -> {
            Flux<Mono<DataBuffer>> buffers = events.map(e -> Mono.just(message.bufferFactory()
                    .wrap(("data: " + e + "\n\n").getBytes(StandardCharsets.UTF_8))));
            return message.writeAndFlushWith(buffers).onErrorResume(e -> {
                if (!(message instanceof ServerHttpResponse response) || response.isCommitted()) {
                    return Mono.error(e);
                }
                OpenAiException error = toOpenAi(e);
                response.setStatusCode(org.springframework.http.HttpStatusCode.valueOf(error.status()));
                response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
                response.getHeaders().remove(HttpHeaders.CACHE_CONTROL);
                if (error.status() == 429) {
                    response.getHeaders().set(HttpHeaders.RETRY_AFTER, "1");
                }
                byte[] body = OpenAiResponses.bytes(OpenAiResponses.error(error));
                return response.writeWith(Mono.just(response.bufferFactory().wrap(body)));
            });
        };
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
            return new OpenAiException(503, "service_unavailable", null, "engine_unavailable",
                    "The engine is not running: " + (llm.failure() != null ? llm.failure().getMessage() : e.getMessage()));
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
            return OpenAiException.invalid(null, "The request body could not be read: " + input.getReason());
        }
        if (e instanceof IllegalArgumentException) {
            // The engine's own checks of a request this API let through (e.g. a token id out of the vocabulary).
            String message = String.valueOf(e.getMessage());
            return OpenAiException.invalid(message.startsWith("prompt") ? "prompt" : null, message);
        }
        LOG.error("OpenAI API request failed", e);
        // The log has the exception; the client gets no class names or server paths (a broken chat
        // template's message names its file).
        return new OpenAiException(500, "server_error", null, null,
                "The server failed to process the request; its log has the details.");
    }

    private static Mono<ServerResponse> error(OpenAiException e) {
        var response = ServerResponse.status(e.status()).contentType(MediaType.APPLICATION_JSON);
        if (e.status() == 429) {
            response.header(HttpHeaders.RETRY_AFTER, "1");
        }
        if (e.status() == 401) {
            response.header(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        }
        return response.bodyValue(OpenAiResponses.bytes(OpenAiResponses.error(e)));
    }

    private static Mono<ServerResponse> json(int status, ObjectNode body) {
        return ServerResponse.status(status).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(OpenAiResponses.bytes(body));
    }
}
