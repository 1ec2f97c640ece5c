package io.trtllm.sample;

import io.trtllm.api.ChatTemplateException;
import io.trtllm.api.TemplateLimitException;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.Usage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Chat on the injected Spring AI {@link ChatModel} (the starter's {@code TrtLlmChatModel}):
 * {@code POST /api/chat} answers a message as JSON, {@code GET /api/chat/stream} streams the reply as
 * server-sent events, one {@code {"text": delta}} per piece of text, then an event named {@code done}
 * with the finish reason and token counts. Text goes as JSON because an event's data that starts with
 * a space would lose it (the SSE format strips one space after {@code data:}).
 *
 * <p>Values are checked here before anything is generated (400 naming the field, see
 * {@link ChatErrors}); what the engine refuses (a prompt beyond its length, say) is a 400 too. Under
 * {@code trtllm.openai.protected-paths}, so the API key (when one is set), CORS and JSON-only bodies
 * apply as to the OpenAI API.
 *
 * <p>A message that the model's chat template refuses, or that takes the template past its limits, is
 * answered 400 with a problem detail saying why (without the template's file, a server path). The
 * template renders off the event loop: {@code call()} runs on a bounded-elastic worker, and the chat
 * model's {@code stream()} renders on one itself.
 */
@RestController
@RequestMapping("/api/chat")
class ChatController {
    private final ChatModel chatModel;

    ChatController(ChatModel chatModel) {
        this.chatModel = chatModel;
    }

    /**
     * A chat request.
     *
     * @param message     the user's message (required)
     * @param system      an optional system message before it
     * @param temperature sampling temperature (0 = greedy); unset, the configured default
     * @param maxTokens   most tokens to generate; unset, the configured default
     */
    record ChatRequest(@Nullable String message, @Nullable String system, @Nullable Double temperature,
                       @Nullable Integer maxTokens) {
    }

    /** A reply: its text, why it ended, the model and the token counts. */
    record ChatReply(String reply, @Nullable String finishReason, String model, long promptTokens, long completionTokens) {
    }

    /** One piece of a streamed reply. */
    record Delta(String text) {
    }

    /** The last event of a stream. */
    record Done(@Nullable String finishReason, long promptTokens, long completionTokens) {
    }

    /** Highest temperature accepted (OpenAI's range: 0 to 2). */
    static final double MAX_TEMPERATURE = 2;

    @PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE, produces = MediaType.APPLICATION_JSON_VALUE)
    Mono<ChatReply> chat(@RequestBody(required = false) @Nullable ChatRequest request) {
        if (request == null) {
            throw new ChatErrors.BadRequest("body", "The request body is empty: send a JSON object with a 'message'.");
        }
        Prompt prompt = prompt(request.message(), request.system(), request.temperature(), request.maxTokens());
        // call() blocks until the reply is complete: run it off the event loop.
        return Mono.fromCallable(() -> chatModel.call(prompt))
                .subscribeOn(Schedulers.boundedElastic())
                .map(ChatController::reply);
    }

    @GetMapping(path = "/stream", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    Flux<ServerSentEvent<Object>> stream(@RequestParam(required = false) @Nullable String message,
                                         @RequestParam(required = false) @Nullable String system,
                                         @RequestParam(required = false) @Nullable Double temperature,
                                         @RequestParam(required = false) @Nullable Integer maxTokens) {
        Prompt prompt = prompt(message, system, temperature, maxTokens);
        // Cancelling (the browser closes the EventSource, the connection drops) aborts the engine request.
        return chatModel.stream(prompt).concatMap(response -> {
            var result = response.getResult();
            String text = result != null ? Objects.requireNonNullElse(result.getOutput().getText(), "") : "";
            String finishReason = result != null ? result.getMetadata().getFinishReason() : null;
            Flux<ServerSentEvent<Object>> events = text.isEmpty() ? Flux.empty()
                    : Flux.just(ServerSentEvent.builder((Object) new Delta(text)).build());
            if (finishReason != null) {
                Usage usage = response.getMetadata().getUsage();
                var done = new Done(finishReason, count(usage.getPromptTokens()), count(usage.getCompletionTokens()));
                events = events.concatWith(Flux.just(ServerSentEvent.builder((Object) done).event("done").build()));
            }
            return events;
        });
    }

    /** The chat template refused the message or went past its limits: the message is at fault. */
    @ExceptionHandler(ChatTemplateException.class)
    ProblemDetail templateRefused(ChatTemplateException e) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, e.reason());
        problem.setTitle(e instanceof TemplateLimitException ? "Chat template limit exceeded" : "Chat template refused the message");
        return problem;
    }

    private static Prompt prompt(@Nullable String message, @Nullable String system, @Nullable Double temperature,
                                 @Nullable Integer maxTokens) {
        if (message == null || message.isBlank()) {
            throw new ChatErrors.BadRequest("message", "'message' is required and must not be blank.");
        }
        if (temperature != null && !(temperature >= 0 && temperature <= MAX_TEMPERATURE)) { // NaN fails too
            throw new ChatErrors.BadRequest("temperature", "'temperature' must be a number from 0 to "
                    + (int) MAX_TEMPERATURE + ", got " + temperature + ".");
        }
        if (maxTokens != null && maxTokens < 1) {
            throw new ChatErrors.BadRequest("maxTokens", "'maxTokens' must be at least 1, got " + maxTokens + ".");
        }
        // A maxTokens beyond the model's sequence length is refused by the chat model, one beyond what the
        // prompt leaves by the engine, which knows the prompt's length (both 400 through ChatErrors).
        var options = ChatOptions.builder().temperature(temperature).maxTokens(maxTokens).build();
        return system == null || system.isBlank()
                ? new Prompt(new UserMessage(message), options)
                : new Prompt(java.util.List.of(new SystemMessage(system), new UserMessage(message)), options);
    }

    private static ChatReply reply(ChatResponse response) {
        var result = response.getResult();
        Usage usage = response.getMetadata().getUsage();
        String text = result != null ? Objects.requireNonNullElse(result.getOutput().getText(), "") : "";
        return new ChatReply(text, result != null ? result.getMetadata().getFinishReason() : null,
                response.getMetadata().getModel(), count(usage.getPromptTokens()), count(usage.getCompletionTokens()));
    }

    private static long count(@Nullable Integer tokens) {
        return tokens != null ? tokens : 0;
    }
}
