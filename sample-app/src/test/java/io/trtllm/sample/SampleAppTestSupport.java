package io.trtllm.sample;

import io.micrometer.core.instrument.MeterRegistry;
import io.trtllm.api.LLM;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The sample app as it starts with no configuration, on a random port: one application context (one
 * stories15M engine) shared by every test class that extends this. Tests leave the engine idle.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient
abstract class SampleAppTestSupport {
    static final String PROMPT = "Once upon a time";

    @Autowired
    WebTestClient web;

    @Autowired
    LLM llm;

    @Autowired
    ChatModel chatModel;

    @Autowired
    MeterRegistry meterRegistry;

    @LocalServerPort
    int port;

    @BeforeEach
    void longerTimeout() throws InterruptedException {
        web = web.mutate().responseTimeout(Duration.ofSeconds(60)).build();
        awaitIdle();
    }

    /** The in-process chat model's greedy reply to {@link #PROMPT}. */
    String greedyReply(int maxTokens) {
        var options = ChatOptions.builder().temperature(0.0).maxTokens(maxTokens).build();
        return chatModel.call(new Prompt(PROMPT, options)).getResult().getOutput().getText();
    }

    /** Waits until no request runs or waits and no KV block is held; true when that happened within 10 s. */
    boolean awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000; i++) {
            var stats = llm.stats();
            if (stats.running() == 0 && stats.waiting() == 0 && stats.kvCache().usedBlocks() == 0) {
                return true;
            }
            Thread.sleep(10);
        }
        return false;
    }

    /** Waits up to 10 s for the count of cancelled chat requests to reach {@code expected}. */
    boolean awaitCancelled(double expected) throws InterruptedException {
        for (int i = 0; i < 1000 && cancelledCount() < expected; i++) {
            Thread.sleep(10);
        }
        return cancelledCount() == expected;
    }

    double cancelledCount() {
        var counter = meterRegistry.find("trtllm.requests.completed").tag("reason", "cancelled").counter();
        return counter != null ? counter.count() : 0;
    }
}
