package io.trtllm.spring.testing;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;

/**
 * One stories15M engine for the whole test JVM (loading one takes a second or two): tests that only
 * need an engine share it and must leave it idle. Closed when the JVM exits.
 */
public final class SharedLlm {
    private static LLM llm;

    private SharedLlm() {
    }

    public static synchronized LLM get() {
        if (llm == null) {
            llm = new LLM(LlmArgs.builder("stories15M").threads(1).build());
            LLM loaded = llm;
            Runtime.getRuntime().addShutdownHook(new Thread(loaded::close));
        }
        return llm;
    }

    /** Waits until no request runs and no KV block is held (a cancelled request is freed on the next loop turn). */
    public static void awaitIdle(LLM llm) throws InterruptedException {
        for (int i = 0; i < 300 && (llm.stats().running() != 0 || llm.stats().waiting() != 0
                || llm.stats().kvCache().usedBlocks() != 0); i++) {
            Thread.sleep(10);
        }
    }
}
