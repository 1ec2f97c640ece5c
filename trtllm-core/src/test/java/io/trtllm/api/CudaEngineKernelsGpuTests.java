package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.engine.BuildProgress;
import io.trtllm.engine.CorruptEngineException;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineLease;
import io.trtllm.engine.EngineManifest;
import io.trtllm.runtime.cuda.CompiledKernels;
import io.trtllm.runtime.cuda.CudaBackend;
import io.trtllm.runtime.cuda.GpuResults;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CUDA engines carry their kernels: NVRTC compiles {@code kernels.cu} for the GPU's SM when the
 * engine is built, the cubin sits in the engine ({@code kernels/sm_XY.cubin}, in its manifest), and
 * a runner on that SM loads it instead of compiling; another SM's cubin makes it compile, with the
 * same tokens. On stories15M ({@link CudaStories15MGpuTests#checkpoint}). Needs an NVIDIA GPU (tag
 * {@code gpu}); CI covers what needs no NVRTC ({@code CudaEngineIT}).
 */
@Tag("gpu")
class CudaEngineKernelsGpuTests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] ELF = {0x7f, 'E', 'L', 'F'};

    @TempDir
    static Path tmp;
    static Path checkpoint;
    /** This GPU's SM, and another one NVRTC can compile for. */
    static String local;
    static String other;

    @BeforeAll
    static void setUp() throws IOException {
        checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint"));
        local = CudaBackend.deviceArch();
        assertThat(local).as(CudaBackend.unavailableReason()).isNotNull();
        other = local.equals("sm_80") ? "sm_90" : "sm_80";
    }

    private static Path build(String name, BuildConfig config, Device device) {
        Path dir = tmp.resolve(name);
        if (!Files.exists(dir)) {
            new EngineBuilder(config, device).build(checkpoint, dir);
        }
        return dir;
    }

    private static LLM open(Path engine) {
        return new LLM(LlmArgs.builder(engine.toString()).backend("cuda").build());
    }

    @Test
    void anEngineBuiltHereCarriesTheCubinOfThisGpuInItsManifest() throws IOException {
        Path dir = build("local", BuildConfig.builder(256).build(), Device.of("cuda"));
        JsonNode files = JSON.readTree(dir.resolve(EngineManifest.FILE).toFile()).path("files");
        assertThat(files.has("kernels/" + local + ".cubin")).isTrue();
        assertThat(files.has("kernels/kernels.json")).isTrue();
        try (EngineLease lease = EngineCache.openPrebuilt(dir)) {
            assertThat(lease.config().device()).isEqualTo(Device.cuda(local));
            CompiledKernels k = lease.kernels();
            assertThat(k).isNotNull();
            assertThat(k.arch()).isEqualTo(local);
            assertThat(k.sourceSha256()).isEqualTo(CudaBackend.kernelsSourceSha256());
            assertThat(k.options()).contains("--gpu-architecture=" + local, "-DWEIGHT_F16=0", "-DKV_BF16=1", "-DDIM=288");
            assertThat(Arrays.copyOf(k.cubin(), 4)).containsExactly(ELF);
            GpuResults.record("engine kernels: %s, %d bytes of cubin for %s, options %s", k.compiler(), k.cubin().length,
                    k.arch(), String.join(" ", k.options()));
        }
        Path f16 = build("local-f16", BuildConfig.builder(256).dtype(Dtype.FLOAT16).build(), Device.of("cuda"));
        try (EngineLease lease = EngineCache.openPrebuilt(f16)) {
            assertThat(lease.kernels().options()).contains("-DWEIGHT_F16=1", "-DKV_F16=1");
        }
    }

    @Test
    void aRunnerLoadsAFittingCubinAndCompilesOtherwiseWithTheSameTokens() {
        Path here = build("local", BuildConfig.builder(256).build(), Device.of("cuda"));
        Path elsewhere = build("other", BuildConfig.builder(256).build(), Device.cuda(other));
        assertThat(elsewhere.resolve("kernels/" + other + ".cubin")).isRegularFile();
        int[] fromEngine;
        int[] compiled;
        try (LLM llm = open(here)) {
            assertThat(llm.backendDescription()).contains("kernels from the engine's " + local + " cubin");
            fromEngine = llm.generate("Once upon a time", SamplingParams.greedy(32)).output().tokenIds();
            GpuResults.record("engine for %s on %s: [%s]", local, local, llm.backendDescription());
        }
        try (LLM llm = open(elsewhere)) {
            assertThat(llm.backendDescription()).contains("kernels compiled by NVRTC at load");
            compiled = llm.generate("Once upon a time", SamplingParams.greedy(32)).output().tokenIds();
            GpuResults.record("engine for %s on %s: [%s]", other, local, llm.backendDescription());
        }
        assertThat(compiled).containsExactly(fromEngine);
    }

    @Test
    void theKeyDiffersPerArchAndADamagedCubinIsCaughtAndRebuilt() throws IOException {
        Path root = tmp.resolve("cache");
        EngineCache cache = new EngineCache(root, new BuildCacheConfig(root, 10, 1L << 30), Clock.systemUTC());
        BuildConfig config = BuildConfig.builder(256).build();
        Path entry;
        try (EngineLease a = cache.acquire(checkpoint, config, Device.of("cuda"), false, BuildProgress.NONE);
             EngineLease b = cache.acquire(checkpoint, config, Device.cuda(other), false, BuildProgress.NONE)) {
            assertThat(a.load().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            assertThat(b.load().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            assertThat(a.load().key()).isNotEqualTo(b.load().key());
            assertThat(a.kernels().arch()).isEqualTo(local);
            assertThat(b.kernels().arch()).isEqualTo(other);
            entry = a.directory();
        }
        Path cubin = entry.resolve("kernels/" + local + ".cubin");
        try (RandomAccessFile f = new RandomAccessFile(cubin.toFile(), "rw")) {
            f.seek(f.length() / 2);
            int v = f.read();
            f.seek(f.length() / 2);
            f.write(v ^ 0x20);
        }
        assertThatThrownBy(() -> EngineManifest.verify(entry)).isInstanceOf(CorruptEngineException.class)
                .hasMessageContaining("kernels/" + local + ".cubin: crc32c");
        try (EngineLease a = cache.acquire(checkpoint, config, Device.of("cuda"), false, BuildProgress.NONE)) {
            assertThat(a.load().kind()).isEqualTo(EngineLoad.Kind.REBUILT);
            assertThat(a.load().reason()).contains("kernels/" + local + ".cubin");
            GpuResults.record("damaged cubin in the engine cache: %s, reason: %s", a.load().kind(), a.load().reason());
        }
        EngineManifest.verify(entry);

        // An LLM on this GPU takes the same engine from the cache, kernels included.
        LlmArgs args = LlmArgs.builder(checkpoint.toString()).backend("cuda").maxSeqLen(256)
                .buildCacheConfig(new BuildCacheConfig(root, 10, 1L << 30)).build();
        try (LLM llm = new LLM(args)) {
            assertThat(llm.engineLoad().kind()).isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
            assertThat(llm.engineDirectory()).isEqualTo(entry);
            assertThat(llm.backendDescription()).contains("kernels from the engine's " + local + " cubin");
        }
    }
}
