package io.trtllm.spring.boot;

import io.trtllm.api.LLM;
import io.trtllm.api.RequestListener;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.RequestOutput;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Configuration;

/**
 * The first {@link ChatModel} calls after Spring Boot start-up against warm ones (issue 21 item 1): a context with
 * the auto-configured engine (builtin stories15M, CPU), then, as a user's first requests would meet it, one call of a
 * long prompt (its prefill: a first token only) and one of {@code "Once upon a time"} (200 tokens, greedy), then
 * {@code runs} more pairs; each call's prefill and decode speed comes from the engine's own request metrics (heard
 * through a request listener). Prints time-to-ready (JVM start to {@code ApplicationReadyEvent}) and each call.
 * A benchmark, not a test: {@code scripts/bench-first-chat-call.sh}; extra arguments are Spring properties
 * ({@code --trtllm.warmup.chat-model=false}).
 */
@Configuration(proxyBeanMethods = false)
@EnableAutoConfiguration
public class FirstChatCallBench {
    private static final String LONG = "Once upon a time, there was a little girl named Lily. She loved to play outside "
            + "in the park with her friends and her dog. ";

    private static final String[] NUMBERS = {"One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine",
        "Ten"};

    public static void main(String[] args) {
        long jvmStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
        AtomicReference<Long> ready = new AtomicReference<>();
        var app = new SpringApplicationBuilder(FirstChatCallBench.class).web(WebApplicationType.NONE)
                .listeners((ApplicationListener<ApplicationReadyEvent>) e -> ready.set(System.currentTimeMillis()));
        try (var context = app.run(args)) {
            System.out.printf(Locale.ROOT, "ready: %d ms after the JVM started%n", ready.get() - jvmStart);
            ChatModel chat = context.getBean(ChatModel.class);
            LLM llm = context.getBean(LLM.class);
            AtomicReference<RequestMetrics> last = new AtomicReference<>();
            llm.addRequestListener(new RequestListener() {
                @Override
                public void onFinished(RequestOutput output) {
                    last.set(output.metrics());
                }
            });
            var prefill = ChatOptions.builder().temperature(0.0).maxTokens(1).build();
            var decode = ChatOptions.builder().temperature(0.0).maxTokens(200).build();
            String longPrompt = LONG.repeat(6);
            int runs = 8;
            for (int i = 0; i <= runs; i++) {
                long t0 = System.nanoTime();
                // A prompt of its own each time (its first words): prefix reuse, on by default, cannot serve it.
                chat.call(new Prompt(NUMBERS[i % NUMBERS.length] + ". " + longPrompt, prefill));
                long t1 = System.nanoTime();
                RequestMetrics p = last.get();
                chat.call(new Prompt("Once upon a time", decode));
                long t2 = System.nanoTime();
                RequestMetrics d = last.get();
                System.out.printf(Locale.ROOT, "%s: prefill call %.1f ms (engine: %d tokens, %.0f tok/s, ttft %.2f ms); "
                                + "decode call %.1f ms (engine: %.0f tok/s, ttft %.2f ms)%n", i == 0 ? "first" : "run " + i,
                        (t1 - t0) / 1e6, p.promptTokens(), p.prefillTokensPerSecond(), p.timeToFirstTokenNanos() / 1e6,
                        (t2 - t1) / 1e6, d.decodeTokensPerSecond(), d.timeToFirstTokenNanos() / 1e6);
            }
        }
    }
}
