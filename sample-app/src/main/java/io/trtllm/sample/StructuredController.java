package io.trtllm.sample;

import org.jspecify.annotations.Nullable;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.tool.annotation.Tool;
import org.springframework.ai.tool.annotation.ToolParam;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Structured output and tool calling with Spring AI's {@link ChatClient} on the injected chat model:
 * <ul>
 *   <li>{@code POST /api/extract {"text": ...}} answers a {@link StoryFacts} record. The chat model enforces its
 *       JSON Schema with guided decoding ({@code .entity(...)} with native structured output), so the reply
 *       parses whatever the model is, even one that only writes stories;</li>
 *   <li>{@code POST /api/tools/weather {"text": ...}} lets the model call a weather tool ({@link Weather}); the
 *       {@code ChatClient} runs the tool loop. It needs a model whose chat template renders tools (Qwen 2.5/3,
 *       Llama 3.1, Mistral): with another the request is a 400 naming the model.</li>
 * </ul>
 */
@RestController
class StructuredController {
    private final ChatClient chat;

    StructuredController(ChatModel chatModel) {
        this.chat = ChatClient.create(chatModel);
    }

    /** A text to read. */
    record TextRequest(@Nullable String text) {
    }

    /** How a story feels. */
    enum Mood { HAPPY, SAD, SCARY, FUNNY }

    /** What {@code /api/extract} reads from a text. */
    record StoryFacts(Mood mood, boolean happyEnding, int characters) {
    }

    /** A tool answer. */
    record Answer(String answer) {
    }

    /** The demo's tool: a fixed forecast per city (no network). */
    static final class Weather {
        @Tool(description = "The weather forecast for a city")
        String weather(@ToolParam(description = "the city") String city) {
            return "sunny and 21 degrees in " + city;
        }
    }

    @PostMapping(path = "/api/extract", consumes = MediaType.APPLICATION_JSON_VALUE, produces = MediaType.APPLICATION_JSON_VALUE)
    Mono<StoryFacts> extract(@RequestBody(required = false) @Nullable TextRequest request) {
        String text = text(request);
        return Mono.fromCallable(() -> chat.prompt().advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT)
                        .system("Read the story and answer with its facts as JSON.")
                        .user(text).call().entity(StoryFacts.class))
                .subscribeOn(Schedulers.boundedElastic());
    }

    @PostMapping(path = "/api/tools/weather", consumes = MediaType.APPLICATION_JSON_VALUE,
            produces = MediaType.APPLICATION_JSON_VALUE)
    Mono<Answer> weather(@RequestBody(required = false) @Nullable TextRequest request) {
        String text = text(request);
        return Mono.fromCallable(() -> new Answer(String.valueOf(chat.prompt().user(text).tools(new Weather()).call().content())))
                .subscribeOn(Schedulers.boundedElastic());
    }

    private static String text(@Nullable TextRequest request) {
        if (request == null || request.text() == null || request.text().isBlank()) {
            throw new ChatErrors.BadRequest("text", "'text' is required and must not be blank.");
        }
        if (request.text().length() > 8192) {
            throw new ChatErrors.BadRequest("text", "'text' must be at most 8192 characters.");
        }
        return request.text();
    }
}
