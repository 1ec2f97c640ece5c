package io.trtllm.spring.chat;

import io.trtllm.api.CompletionOutput;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import java.util.List;
import java.util.concurrent.Flow;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.context.SmartLifecycle;
import reactor.adapter.JdkFlowAdapter;
import reactor.core.publisher.Flux;

/**
 * Runs the chat model's own path once while the application starts, before the web server takes traffic: a
 * {@code call} and a {@code stream} of a system and a user message through a {@link TrtLlmChatModel} like the
 * application's (same engine, tokenizer, chat template and default options), whose generator answers with a
 * made-up reply instead of asking the engine. So the chat template is parsed and rendered, and Spring AI's prompt,
 * response and streaming classes load and run, before the first caller's request: without it, the first call on
 * stories15M spent 12–21 ms outside the engine against 2–3 ms with it (≈ 1.5 ms warm; docs/PERFORMANCE.md). The
 * engine warms its own path up ({@code trtllm.warmup.requests}).
 *
 * <p>Invisible: nothing reaches the engine (its stats, request listeners, metrics stay untouched), and the twin
 * model reports to no observation registry or request observer. A failure is logged, never fatal: the first request
 * then pays as it would have. {@code trtllm.warmup.chat-model=false} turns it off.
 */
public final class TrtLlmChatWarmUp implements SmartLifecycle {
    /**
     * Before the web server starts (Spring Boot starts it at {@code SmartLifecycle.DEFAULT_PHASE - 2048}), after the
     * beans it uses exist.
     */
    static final int PHASE = 0;
    private static final Logger LOG = LoggerFactory.getLogger(TrtLlmChatWarmUp.class);
    private static final String REPLY = "Once upon a time, there was a little dog named Max.";

    private final LLM llm;
    private final TrtLlmChatOptions defaultOptions;
    private volatile boolean running;

    /** A warm-up of a chat model over {@code llm} with {@code defaultOptions} (the application's defaults). */
    public TrtLlmChatWarmUp(LLM llm, TrtLlmChatOptions defaultOptions) {
        this.llm = llm;
        this.defaultOptions = defaultOptions;
    }

    @Override
    public void start() {
        running = true;
        long start = System.nanoTime();
        try {
            run();
            LOG.info("Chat model warm-up (template, Spring AI request and response, call and stream) in {} ms; "
                    + "trtllm.warmup.chat-model=false turns it off", (System.nanoTime() - start) / 1_000_000);
        } catch (RuntimeException e) {
            LOG.warn("Chat model warm-up failed, the first chat request may run slower: {}", e.toString());
        }
    }

    /** One call and one stream of a system and a user message. */
    void run() {
        // Built here, inside start()'s guard: an engine without a tokenizer fails this, not the application's start.
        var twin = TrtLlmChatModel.builder().llm(llm).defaultOptions(defaultOptions).generator(new MadeUpReply(llm)).build();
        var prompt = new Prompt(List.of(new SystemMessage("You are a storyteller."), new UserMessage("Tell me a story.")));
        twin.call(prompt);
        twin.stream(prompt).blockLast();
    }

    @Override
    public void stop() {
        running = false;
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int getPhase() {
        return PHASE;
    }

    /** Answers every request with {@link #REPLY}, without the engine. */
    private record MadeUpReply(LLM llm) implements TrtLlmChatModel.Generator {
        @Override
        public RequestOutput generate(int[] promptTokenIds, SamplingParams params) {
            int[] ids = llm.tokenizer().encode(REPLY, false);
            return new RequestOutput("warmup", "", promptTokenIds, List.of(new CompletionOutput(0, REPLY, ids,
                    CompletionOutput.LENGTH)), true, new RequestMetrics(promptTokenIds.length, ids.length, 0, 1, 2, 3));
        }

        @Override
        public Flow.Publisher<RequestOutput> generateStream(int[] promptTokenIds, SamplingParams params) {
            return JdkFlowAdapter.publisherToFlowPublisher(Flux.defer(() -> Flux.just(generate(promptTokenIds, params))));
        }
    }
}
