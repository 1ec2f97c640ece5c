package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LLM} through the engine cache with the builtin stories15M (its checkpoint comes from the
 * default cache, as in the other tests; engines go to a temporary cache root).
 */
class LlmEngineCacheIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = "Once upon a time";

    @TempDir
    Path cacheRoot;

    private LlmArgs.Builder args() {
        return LlmArgs.builder("stories15M").threads(1)
                .buildCacheConfig(new BuildCacheConfig(cacheRoot, 10, BuildCacheConfig.DEFAULT_MAX_SIZE_BYTES));
    }

    private static String greedy(LLM llm) {
        return llm.generate(PROMPT, SamplingParams.greedy(32)).output().text();
    }

    @Test
    void runtimeLimitsShareOneEngine() {
        // trtllm generate --n 2 --best-of 4 raises max_batch_size to 4: that is no reason to build again.
        try (var first = new LLM(args().maxBatchSize(4).maxNumTokens(512).build());
             var second = new LLM(args().maxBatchSize(16).maxNumTokens(1024).maxBeamWidth(4).build())) {
            assertThat(first.engineLoad().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            assertThat(second.engineLoad().kind()).isEqualTo(EngineLoad.Kind.SHARED);
            assertThat(second.engineLoad().key()).isEqualTo(first.engineLoad().key());
            assertThat(greedy(second)).isEqualTo(greedy(first));
        }
        assertThat(new EngineCache(cacheRoot, BuildCacheConfig.defaults(), Clock.systemUTC()).list()).hasSize(1);
    }

    @Test
    void firstLlmBuildsTheSecondLoadsFromTheCacheWithTheSameOutput() throws IOException {
        String built;
        Path engine;
        try (var first = new LLM(args().build())) {
            assertThat(first.engineLoad().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            engine = first.engineDirectory();
            assertThat(engine.getParent()).isEqualTo(cacheRoot.resolve("engines"));
            assertThat(engine.getFileName().toString()).isEqualTo(first.engineLoad().key());
            built = greedy(first);
            try (var second = new LLM(args().build())) {
                assertThat(second.engineLoad().kind()).isEqualTo(EngineLoad.Kind.SHARED);
                assertThat(greedy(second)).isEqualTo(built);
            }
        }
        JsonNode meta = JSON.readTree(engine.resolve(EngineCache.METADATA).toFile());
        assertThat(meta.path("key").asText()).isEqualTo(engine.getFileName().toString());
        assertThat(meta.path("key_inputs").path("model").path("path").asText()).endsWith("models/stories15M");
        assertThat(meta.path("key_inputs").path("build_config").path("max_seq_len").asInt()).isEqualTo(256);
        assertThat(meta.path("key_inputs").path("build_config").path("dtype").asText()).isEqualTo("auto");
        assertThat(meta.path("key_inputs").path("device").path("backend").asText()).isEqualTo("cpu");
        assertThat(meta.path("size_bytes").asLong()).isGreaterThan(60_000_000L);
        assertThat(engine.resolve("tokenizer.json")).isRegularFile();

        try (var again = new LLM(args().build())) {
            assertThat(again.engineLoad().kind()).isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
            assertThat(again.engineDirectory()).isEqualTo(engine);
            assertThat(greedy(again)).isEqualTo(built);
        }
        assertThat(new EngineCache(cacheRoot, BuildCacheConfig.defaults(), Clock.systemUTC()).list())
                .singleElement().satisfies(e -> assertThat(e.inUse()).isFalse());
    }

    @Test
    void corruptEntryIsRebuiltWithAWarningAndGivesTheSameOutput() throws IOException {
        Path engine;
        String built;
        try (var first = new LLM(args().build())) {
            engine = first.engineDirectory();
            built = greedy(first);
        }
        try (RandomAccessFile f = new RandomAccessFile(engine.resolve(EngineConfig.WEIGHTS_FILE).toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0x01);
        }
        PrintStream stderr = System.err;
        var captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        LLM rebuilt;
        try {
            rebuilt = new LLM(args().build());
        } finally {
            System.setErr(stderr);
        }
        try (rebuilt) {
            assertThat(rebuilt.engineLoad().kind()).isEqualTo(EngineLoad.Kind.REBUILT);
            assertThat(rebuilt.engineLoad().reason()).contains("model.safetensors: crc32c");
            assertThat(greedy(rebuilt)).isEqualTo(built);
        }
        assertThat(captured.toString(StandardCharsets.UTF_8))
                .contains("WARN").contains("is corrupt or incomplete").contains(engine.toString());
    }

    @Test
    void dtypeAndMaxSeqLenMakeOtherEnginesAndPrebuiltEnginesLoadAsTheyAre(@TempDir Path tmp) {
        String f32;
        Path defaultEngine;
        try (var llm = new LLM(args().build())) {
            f32 = greedy(llm);
            defaultEngine = llm.engineDirectory();
        }
        try (var bf16 = new LLM(args().dtype("bf16").build())) {
            assertThat(bf16.engineLoad().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            assertThat(bf16.engineDirectory()).isNotEqualTo(defaultEngine);
            assertThat(bf16.buildConfig().dtype()).isEqualTo(Dtype.BFLOAT16);
            String text = greedy(bf16);
            assertThat(text).isNotBlank();
            assertThat(text.substring(0, 12)).isEqualTo(f32.substring(0, 12)); // BF16 weights, same opening words
        }
        try (var shorter = new LLM(args().maxSeqLen(128).build())) {
            assertThat(shorter.engineLoad().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            assertThat(shorter.buildConfig().maxSeqLen()).isEqualTo(128);
        }

        // A prebuilt engine (as 'trtllm build' writes) is used as it is, not copied into the cache.
        Path prebuilt = tmp.resolve("engine");
        Path checkpoint;
        try (var llm = new LLM(args().build())) {
            checkpoint = llm.modelDirectory();
        }
        new EngineBuilder(BuildConfig.builder(200).build(), Device.cpu()).build(checkpoint, prebuilt);
        try (var llm = new LLM(LlmArgs.builder(prebuilt.toString()).threads(1).build())) {
            assertThat(llm.engineLoad().kind()).isEqualTo(EngineLoad.Kind.PREBUILT);
            assertThat(llm.engineDirectory()).isEqualTo(prebuilt);
            assertThat(llm.maxSeqLen()).isEqualTo(200);
            assertThat(greedy(llm)).isEqualTo(f32);
        }
        assertThatThrownBy(() -> new LLM(LlmArgs.builder(prebuilt.toString()).maxSeqLen(256).build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max_seq_len 256 exceeds the engine's max_seq_len 200");
    }

    @Test
    void withTheCacheDisabledTheEngineIsPrivateAndDeletedOnClose() {
        Path dir;
        try (var llm = new LLM(args().enableBuildCache(false).build())) {
            assertThat(llm.engineLoad().kind()).isEqualTo(EngineLoad.Kind.BUILT_UNCACHED);
            dir = llm.engineDirectory();
            assertThat(dir).isDirectory();
            assertThat(greedy(llm)).isNotBlank();
        }
        assertThat(dir).doesNotExist();
        assertThat(new EngineCache(cacheRoot, BuildCacheConfig.defaults(), Clock.systemUTC()).list()).isEmpty();
    }

    @Test
    void twoProcessesOnAnEmptyCacheBuildOnceAndBothSucceed() throws Exception {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<Process> children = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            children.add(new ProcessBuilder(javaBin, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                    "-Xmx512m", "-cp", classpath, EngineCacheChild.class.getName(), cacheRoot.toString())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start());
        }
        List<String> outputs = new ArrayList<>();
        for (Process p : children) {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            outputs.add(out);
        }
        assertThat(outputs).filteredOn(o -> o.contains("load=BUILT\n")).hasSize(1);
        assertThat(outputs).filteredOn(o -> o.contains("load=LOADED_FROM_CACHE\n")).hasSize(1);
        assertThat(outputs.get(0).lines().filter(l -> !l.startsWith("load=")).toList())
                .isEqualTo(outputs.get(1).lines().filter(l -> !l.startsWith("load=")).toList());
        assertThat(new EngineCache(cacheRoot, BuildCacheConfig.defaults(), Clock.systemUTC()).list()).hasSize(1);
    }
}
