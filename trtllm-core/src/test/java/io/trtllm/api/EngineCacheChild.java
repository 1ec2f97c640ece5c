package io.trtllm.api;

import io.trtllm.api.config.BuildCacheConfig;
import java.nio.file.Path;

/**
 * A child process of {@link LlmEngineCacheIT}: loads stories15M through the engine cache at
 * {@code args[0]} and prints how the engine was loaded, from where, and a greedy completion.
 */
public final class EngineCacheChild {
    private EngineCacheChild() {
    }

    public static void main(String[] args) {
        var cache = new BuildCacheConfig(Path.of(args[0]), BuildCacheConfig.DEFAULT_MAX_RECORDS,
                BuildCacheConfig.DEFAULT_MAX_SIZE_BYTES);
        try (var llm = new LLM(LlmArgs.builder("stories15M").threads(1).buildCacheConfig(cache).build())) {
            String text = llm.generate("Once upon a time", SamplingParams.greedy(16)).output().text();
            System.out.println("load=" + llm.engineLoad().kind());
            System.out.println("dir=" + llm.engineDirectory());
            System.out.println("text=" + text);
        }
    }
}
