package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.SafeTensors;
import io.trtllm.model.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine cache on a tiny checkpoint: keys, build/hit, verification and rebuild, eviction, sharing. */
class EngineCacheIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Device CPU = new Device("cpu", "amd64", 512, 32);

    @TempDir
    Path tmp;
    Path model;
    Path root;
    /** A clock the test moves, so that last-used order does not depend on timing. */
    final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));

    @BeforeEach
    void setUp() {
        model = TinyModels.llama(tmp.resolve("model"));
        root = tmp.resolve("cache");
    }

    private EngineCache cache(int maxRecords, long maxBytes) {
        Clock clock = new Clock() {
            @Override
            public ZoneOffset getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return now.get();
            }
        };
        return new EngineCache(root, new BuildCacheConfig(root, maxRecords, maxBytes), clock);
    }

    private EngineCache cache() {
        return cache(10, Long.MAX_VALUE);
    }

    private static BuildConfig config(int maxSeqLen) {
        return BuildConfig.builder(maxSeqLen).build();
    }

    private void tick() {
        now.set(now.get().plusSeconds(60));
    }

    private static String key(Path model, BuildConfig c, Device d) {
        return EngineCache.key(EngineCache.keyInputs(model, c, d));
    }

    @Test
    void sameInputsGiveTheSameKeyAndEveryInputChangesIt() throws IOException {
        BuildConfig base = config(128);
        String k = key(model, base, CPU);
        assertThat(key(model, config(128), CPU)).isEqualTo(k).hasSize(64);
        assertThat(key(model, config(64), CPU)).isNotEqualTo(k);
        assertThat(key(model, base.toBuilder().dtype(Dtype.BFLOAT16).build(), CPU)).isNotEqualTo(k);
        assertThat(key(model, base.toBuilder().dtype(Dtype.FLOAT32).build(), CPU)).as("auto is not float32").isNotEqualTo(k);
        String int8 = key(model, base.toBuilder().quantization(Quantization.INT8).build(), CPU);
        assertThat(int8).isNotEqualTo(k);
        assertThat(key(model, base.toBuilder().quantization(Quantization.INT4).build(), CPU)).isNotEqualTo(k).isNotEqualTo(int8);
        // Runtime limits are not the engine's: they leave the key alone (issue #18: --best-of 4 raised
        // max_batch_size and rebuilt identical weights).
        assertThat(key(model, base.toBuilder().maxBatchSize(8).build(), CPU)).isEqualTo(k);
        assertThat(key(model, base.toBuilder().maxNumTokens(64).maxBeamWidth(4).gatherContextLogits(true)
                .gatherGenerationLogits(true).build(), CPU)).isEqualTo(k);
        assertThat(key(model, base.toBuilder().maxInputLen(100).build(), CPU)).as("max_input_len is the engine's limit")
                .isNotEqualTo(k);
        assertThat(key(model, base, new Device("cpu", "amd64", 256, 16))).isNotEqualTo(k);
        assertThat(key(model, base, new Device("cpu", "aarch64", 512, 32))).isNotEqualTo(k);
        assertThat(key(model, base, new Device("cpu", "amd64", 512, 16))).as("scalar kernels' panels").isNotEqualTo(k);

        // Touching a weight file (same bytes, new modification time) rebuilds: the checkpoint may have changed.
        Path weights = model.resolve("model.safetensors");
        Files.setLastModifiedTime(weights, FileTime.from(Files.getLastModifiedTime(weights).toInstant().plusSeconds(5)));
        String touched = key(model, base, CPU);
        assertThat(touched).isNotEqualTo(k);
        assertThat(key(model, base, CPU)).isEqualTo(touched);

        // A changed config or tokenizer file changes it too; so does another directory with the same files.
        Files.writeString(model.resolve("generation_config.json"), "{}");
        assertThat(key(model, base, CPU)).isNotEqualTo(touched);
        Path copy = TinyModels.llama(tmp.resolve("copy"));
        assertThat(key(copy, base, CPU)).isNotEqualTo(key(model, base, CPU));
    }

    @Test
    void firstAcquireBuildsThenLoadsFromCacheWithMetadata() throws IOException {
        EngineCache cache = cache();
        List<String> progress = new ArrayList<>();
        EngineLoad first;
        try (EngineLease lease = cache.acquire(model, config(128), CPU, false,
                (t, tt, b, bt) -> progress.add(t + "/" + tt + ":" + b + "/" + bt))) {
            first = lease.load();
            assertThat(first.kind()).isEqualTo(EngineLoad.Kind.BUILT);
            assertThat(lease.directory()).isEqualTo(root.resolve("engines").resolve(first.key()));
            assertThat(lease.config().buildConfig()).isEqualTo(config(128));
            assertThat(lease.config().modelConfig().hiddenSize()).isEqualTo(64);
            assertThat(lease.weights().names()).contains("model.norm.weight", "model.embed_tokens.panels",
                    "model.layers.1.self_attn.q_proj.panels");
        }
        assertThat(progress).isNotEmpty();
        assertThat(progress.getLast()).matches("(\\d+)/\\1:(\\d+)/\\2");

        Path entry = first.engineDir();
        assertThat(entry.resolve(EngineConfig.FILE)).isRegularFile();
        assertThat(entry.resolve(EngineConfig.WEIGHTS_FILE)).isRegularFile();
        assertThat(entry.resolve(EngineManifest.FILE)).isRegularFile();
        assertThat(entry.resolve("generation_config.json")).isRegularFile();
        JsonNode meta = JSON.readTree(entry.resolve(EngineCache.METADATA).toFile());
        assertThat(meta.path("key").asText()).isEqualTo(first.key());
        assertThat(meta.path("created").asText()).isEqualTo("2026-01-01T00:00:00Z");
        assertThat(meta.path("last_used").asText()).isEqualTo("2026-01-01T00:00:00Z");
        assertThat(meta.path("size_bytes").asLong()).isGreaterThan(Files.size(entry.resolve(EngineConfig.WEIGHTS_FILE)));
        assertThat(meta.path("key_inputs").path("model").path("path").asText()).isEqualTo(model.toRealPath().toString());
        assertThat(meta.path("key_inputs").path("build_config").path("max_seq_len").asInt()).isEqualTo(128);
        assertThat(meta.path("key_inputs").path("device").path("vector_bits").asInt()).isEqualTo(512);
        assertThat(EngineCache.key(meta.path("key_inputs"))).isEqualTo(first.key());
        // Nothing but entries and lock files: no staging or temporary directories left.
        try (Stream<Path> s = Files.list(root.resolve("engines"))) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder(first.key(), ".locks");
        }

        tick();
        try (EngineLease again = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            assertThat(again.load().kind()).isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
            assertThat(again.directory()).isEqualTo(entry);
        }
        meta = JSON.readTree(entry.resolve(EngineCache.METADATA).toFile());
        assertThat(meta.path("created").asText()).isEqualTo("2026-01-01T00:00:00Z");
        assertThat(meta.path("last_used").asText()).isEqualTo("2026-01-01T00:01:00Z");
    }

    @Test
    void twoLeasesInOneProcessShareTheMappedWeights() {
        EngineCache cache = cache();
        try (EngineLease a = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE);
             EngineLease b = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            assertThat(b.load().kind()).isEqualTo(EngineLoad.Kind.SHARED);
            assertThat(b.weights()).isSameAs(a.weights());
            assertThat(a.sharedBy()).isEqualTo(2);
            a.close();
            assertThat(b.sharedBy()).isEqualTo(1);
            assertThat(b.weights().tensor("model.norm.weight").numel()).isEqualTo(64); // still mapped
        }
        try (EngineLease c = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            assertThat(c.load().kind()).as("the last close unloaded it").isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
        }
    }

    @Test
    void dtypeConversionWritesTheRequestedTypeWithLinearWeightsInPanels() {
        EngineCache cache = cache();
        try (EngineLease lease = cache.acquire(model, config(64).toBuilder().dtype(Dtype.BFLOAT16).build(), CPU, false,
                BuildProgress.NONE);
             SafeTensors source = SafeTensors.open(model.resolve("model.safetensors"))) {
            var packed = lease.weights().tensor("model.layers.0.mlp.up_proj.panels");
            var original = source.tensor("model.layers.0.mlp.up_proj.weight");
            assertThat(lease.weights().contains("model.layers.0.mlp.up_proj.weight")).isFalse();
            assertThat(packed.dtype()).isEqualTo(DType.BF16);
            assertThat(packed.shape()).containsExactly(4, 64, 32); // 128 rows in panels of 32, 64 columns
            var f32 = java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
            var u16 = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < original.numel(); i += 97) {
                long r = i / 64, c = i % 64;
                float want = original.data().get(f32, i * 4);
                long at = (r / 32 * 64 + c) * 32 + r % 32;
                float got = Float.intBitsToFloat((packed.data().get(u16, at * 2) & 0xffff) << 16);
                assertThat(got).isCloseTo(want, org.assertj.core.data.Offset.offset(Math.abs(want) / 128 + 1e-30f));
            }
            assertThat(lease.weights().tensor("model.norm.weight").dtype()).isEqualTo(DType.BF16);
            // The tied head: one copy in panels serves the embedding lookups too.
            assertThat(lease.weights().contains("model.embed_tokens.panels")).isTrue();
            assertThat(lease.weights().contains("model.embed_tokens.weight")).isFalse();
            assertThat(lease.config().weights()).isEqualTo("cpu panels of 32 rows, dtype bfloat16");
        }
    }

    @Test
    void quantizedBuildsStoreValuesAndScalesAndKeepTheEmbedding() {
        EngineCache cache = cache();
        try (EngineLease int8 = cache.acquire(model, config(64).toBuilder().quantization(Quantization.INT8).build(), CPU,
                false, BuildProgress.NONE);
             EngineLease int4 = cache.acquire(model, config(64).toBuilder().quantization(Quantization.INT4).build(), CPU,
                     false, BuildProgress.NONE)) {
            var w = int8.weights();
            assertThat(w.tensor("model.layers.1.self_attn.o_proj.qweight").dtype()).isEqualTo(DType.I8);
            assertThat(w.tensor("model.layers.1.self_attn.o_proj.qweight").shape()).containsExactly(2, 64, 32);
            assertThat(w.tensor("model.layers.1.self_attn.o_proj.scales").shape()).containsExactly(2, 32);
            assertThat(w.tensor("lm_head.qweight").shape()).containsExactly(8, 64, 32);
            assertThat(w.tensor("model.embed_tokens.weight").dtype()).isEqualTo(DType.F32);
            assertThat(int8.config().weights()).isEqualTo("cpu panels of 32 rows, dtype auto, weight-only int8");

            w = int4.weights();
            assertThat(w.tensor("model.layers.0.mlp.down_proj.qweight").dtype()).isEqualTo(DType.U8);
            assertThat(w.tensor("model.layers.0.mlp.down_proj.qweight").shape()).containsExactly(2, 128, 16);
            assertThat(w.tensor("model.layers.0.mlp.down_proj.scales").shape()).as("one group of 128 columns")
                    .containsExactly(2, 1, 32);
            assertThat(w.tensor("model.layers.0.mlp.up_proj.scales").shape()).as("64 columns: one group of 64")
                    .containsExactly(4, 1, 32);
            assertThat(int4.load().key()).isNotEqualTo(int8.load().key());
        }
    }

    @Test
    void quantizationOfAShapeWithoutAGroupSizeIsRefusedNamingTheTensor() {
        var config = ModelConfig.load(model);
        var transform = new CpuLayoutTransform(Dtype.AUTO, Quantization.INT4, config, 32);
        var odd = new Tensor("model.layers.0.mlp.down_proj.weight", DType.F32, new long[] {64, 100},
                Arena.ofAuto().allocate(64 * 100 * 4));
        assertThatThrownBy(() -> transform.plan(odd)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'model.layers.0.mlp.down_proj.weight'").hasMessageContaining("input dimension 100");
        var vector = new Tensor("model.layers.0.mlp.down_proj.weight", DType.F32, new long[] {64},
                Arena.ofAuto().allocate(64 * 4));
        assertThatThrownBy(() -> transform.plan(vector)).hasMessageContaining("has shape [64], expected a matrix");
        var ints = new Tensor("model.layers.0.mlp.down_proj.weight", DType.I8, new long[] {8, 8},
                Arena.ofAuto().allocate(64));
        assertThatThrownBy(() -> transform.plan(ints)).hasMessageContaining("has dtype I8");
        assertThatThrownBy(() -> new CpuLayoutTransform(Dtype.AUTO, Quantization.NONE, config, 0).plan(odd))
                .hasMessageContaining("panel rows");
        // CUDA engines quantize too (CudaQuantizedEngineIT), with the same group-size rule.
        assertThatThrownBy(() -> EngineBuilder.defaultTransform(config(64).toBuilder().quantization(Quantization.INT4).build(),
                Device.cuda("sm_90"), config).plan(odd)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'model.layers.0.mlp.down_proj.weight'").hasMessageContaining("input dimension 100");
        // Integer weights come from quantization: a dtype names floating-point types only.
        assertThatThrownBy(() -> config(64).toBuilder().dtype("int8").build())
                .hasMessageContaining("dtype 'int8' is not one of [auto, float32, float16, bfloat16, fp8]");
    }

    @Test
    void maxSeqLenBeyondTheModelIsRefusedBeforeBuilding() {
        assertThatThrownBy(() -> cache().acquire(model, config(512), CPU, false, BuildProgress.NONE))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max_seq_len 512").hasMessageContaining("max_position_embeddings 256");
        assertThat(entries()).isEmpty();
    }

    /** Corruptions of a published entry: each is detected on the next load, removed and rebuilt with a reason. */
    @Test
    void corruptEntriesAreDetectedAndRebuilt() throws IOException {
        EngineCache cache = cache();
        Path entry;
        try (EngineLease lease = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            entry = lease.directory();
        }
        byte[] good = Files.readAllBytes(entry.resolve(EngineConfig.WEIGHTS_FILE));

        flipByte(entry.resolve(EngineConfig.WEIGHTS_FILE), good.length - 100);
        assertRebuilt(cache, entry, "model.safetensors: crc32c");
        assertThat(Files.readAllBytes(entry.resolve(EngineConfig.WEIGHTS_FILE))).isEqualTo(good);

        try (RandomAccessFile f = new RandomAccessFile(entry.resolve(EngineConfig.WEIGHTS_FILE).toFile(), "rw")) {
            f.setLength(good.length / 2);
        }
        assertRebuilt(cache, entry, "bytes, expected " + good.length);

        flipByte(entry.resolve(EngineConfig.FILE), 10);
        assertRebuilt(cache, entry, "config.json: crc32c");

        Files.delete(entry.resolve(EngineManifest.FILE));
        assertRebuilt(cache, entry, "checksums.json");

        Files.delete(entry.resolve(EngineCache.METADATA));
        assertRebuilt(cache, entry, "metadata.json");

        try (EngineLease lease = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
        }
    }

    private void assertRebuilt(EngineCache cache, Path entry, String reason) {
        try (EngineLease lease = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.REBUILT);
            assertThat(lease.load().reason()).contains(reason);
            assertThat(lease.directory()).isEqualTo(entry);
        }
        EngineManifest.verify(entry);
    }

    private static void flipByte(Path file, long at) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ 0x5a);
        }
    }

    @Test
    void skipBuildCacheRebuildsAndReplaces() {
        EngineCache cache = cache();
        try (EngineLease lease = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.BUILT);
        }
        try (EngineLease lease = cache.acquire(model, config(128), CPU, true, BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.REBUILT);
            assertThat(lease.load().reason()).contains("skip_build_cache");
        }
        assertThat(entries()).hasSize(1);
    }

    @Test
    void skipBuildCacheUnderAHolderReplacesTheEntryWhileTheHolderKeepsItsWeights() {
        EngineCache cache = cache();
        try (EngineLease held = cache.acquire(model, config(128), CPU, false, BuildProgress.NONE)) {
            try (EngineLease fresh = cache.acquire(model, config(128), CPU, true, BuildProgress.NONE)) {
                assertThat(fresh.load().kind()).isEqualTo(EngineLoad.Kind.REBUILT);
                assertThat(fresh.weights()).isNotSameAs(held.weights());
                assertThat(held.weights().tensor("model.norm.weight").numel()).isEqualTo(64); // old mapping still valid
            }
            assertThat(cache.list()).singleElement().satisfies(e -> assertThat(e.inUse()).isTrue());
            assertThat(cache.clear()).isEmpty();
        }
        assertThat(cache.clear()).hasSize(1);
    }

    @Test
    void evictsLeastRecentlyUsedBeyondMaxRecords() {
        EngineCache cache = cache(2, Long.MAX_VALUE);
        String k64 = build(cache, 64);
        tick();
        String k96 = build(cache, 96);
        tick();
        touch(cache, 64); // 64 is now more recent than 96
        tick();
        String k128 = build(cache, 128);
        assertThat(entries()).containsExactlyInAnyOrder(k64, k128);
        assertThat(cache.list()).extracting(EngineCache.Entry::key).containsExactly(k64, k128); // LRU first
        assertThat(k96).isNotIn(entries());
    }

    @Test
    void evictsBeyondMaxSizeButNeverAnEntryInUse() {
        long one = entrySize(cache(), 64);
        EngineCache cache = cache(10, one + one / 2); // room for one entry
        EngineLease held = cache.acquire(model, config(64), CPU, false, BuildProgress.NONE); // built above, in use now
        String k64 = held.load().key();
        tick();
        String k96 = build(cache, 96);
        // 64 is older but in use: 96 is the only one that could go, and it is the one just built: both stay, over the limit.
        assertThat(entries()).containsExactlyInAnyOrder(k64, k96);
        assertThat(cache.list()).filteredOn(EngineCache.Entry::inUse).extracting(EngineCache.Entry::key).containsExactly(k64);
        tick();
        String k128 = build(cache, 128);
        assertThat(entries()).containsExactlyInAnyOrder(k64, k128);
        assertThat(cache.clear()).containsExactly(k128);
        assertThat(entries()).containsExactly(k64);
        held.close();
        assertThat(cache.clear()).containsExactly(k64);
        assertThat(entries()).isEmpty();
    }

    private long entrySize(EngineCache cache, int maxSeqLen) {
        build(cache, maxSeqLen);
        return cache.list().getFirst().sizeBytes();
    }

    private String build(EngineCache cache, int maxSeqLen) {
        try (EngineLease lease = cache.acquire(model, config(maxSeqLen), CPU, false, BuildProgress.NONE)) {
            return lease.load().key();
        }
    }

    private void touch(EngineCache cache, int maxSeqLen) {
        try (EngineLease lease = cache.acquire(model, config(maxSeqLen), CPU, false, BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
        }
    }

    private List<String> entries() {
        Path engines = root.resolve("engines");
        if (!Files.isDirectory(engines)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(engines)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void builderRefusesAnExistingOutputAndLeavesNothingOnFailure() throws IOException {
        Path out = tmp.resolve("engine");
        new EngineBuilder(config(64), CPU).build(model, out);
        assertThat(EngineConfig.isEngineDirectory(out)).isTrue();
        EngineManifest.verify(out);
        assertThatThrownBy(() -> new EngineBuilder(config(64), CPU).build(model, out))
                .hasMessageContaining(out.toString()).hasMessageContaining("exists already");

        Path failed = tmp.resolve("failed");
        var copy = new DTypeConversion(Dtype.AUTO);
        var failing = new EngineBuilder(config(64), CPU).transform(new WeightTransform() {
            @Override
            public List<EngineTensor> plan(io.trtllm.model.Tensor source) {
                return copy.plan(source);
            }

            @Override
            public void write(io.trtllm.model.Tensor source, EngineTensor planned, java.lang.foreign.MemorySegment target) {
                throw new IllegalStateException("boom at " + source.name());
            }

            @Override
            public String describe() {
                return "failing";
            }
        });
        assertThatThrownBy(() -> failing.build(model, failed)).hasMessageContaining("boom");
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("model", "engine");
        }
    }
}
