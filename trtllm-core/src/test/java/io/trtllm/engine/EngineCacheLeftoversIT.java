package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the engine cache leaves on disk: leftovers of dead writers are swept, those of live ones kept
 * and reported, a full disk is reported by the cache before anything is written. (Real crashes,
 * full and read-only file systems: {@code EngineCacheCrashIT}, {@code EngineCacheFileSystemIT}.)
 */
class EngineCacheLeftoversIT {
    private static final Device CPU = new Device("cpu", "amd64", 512, 32);
    private static final String KEY = "ab".repeat(32);

    @TempDir
    Path tmp;
    Path model;
    Path root;
    Path engines;
    EngineCache cache;

    @BeforeEach
    void setUp() {
        model = TinyModels.llama(tmp.resolve("model"));
        root = tmp.resolve("cache");
        engines = root.resolve("engines");
        cache = new EngineCache(root, new BuildCacheConfig(root, 10, Long.MAX_VALUE), Clock.systemUTC());
    }

    private static BuildConfig config(int maxSeqLen) {
        return BuildConfig.builder(maxSeqLen).build();
    }

    /** A directory with one file of {@code bytes} bytes, as a killed writer leaves it. */
    private Path leftover(String name, int bytes) throws IOException {
        Path dir = Files.createDirectories(engines.resolve(name));
        Files.write(dir.resolve("model.safetensors"), new byte[bytes]);
        return dir;
    }

    private List<String> names() {
        try (Stream<Path> s = Files.list(engines)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void sweepRemovesEveryKindOfLeftoverWhoseLockNobodyHolds() throws IOException {
        Files.createDirectories(engines.resolve(".locks"));
        leftover(".." + KEY + ".staging.tmp-123", 1000);  // killed while writing the weights
        leftover("." + KEY + ".staging", 2000);            // killed between the two renames
        leftover(".trash-" + KEY + "-99", 3000);           // killed while deleting a replaced entry
        leftover(".uncached-4242-77", 4000);               // a private engine whose process died
        leftover("..uncached-4242-78.tmp-5", 5000);        // ... or died while building it
        leftover(".something-else", 6000);                 // not the cache's: left alone, but shown

        EngineCache.Sweep sweep = cache.sweep();
        assertThat(sweep.removed()).extracting(l -> l.path().getFileName().toString()).containsExactlyInAnyOrder(
                ".." + KEY + ".staging.tmp-123", "." + KEY + ".staging", ".trash-" + KEY + "-99", ".uncached-4242-77",
                "..uncached-4242-78.tmp-5");
        assertThat(sweep.removedBytes()).isEqualTo(15_000);
        assertThat(sweep.kept()).singleElement().satisfies(l -> {
            assertThat(l.path().getFileName().toString()).isEqualTo(".something-else");
            assertThat(l.sizeBytes()).isEqualTo(6000);
            assertThat(l.keptBecause()).isEqualTo("not made by the engine cache; left alone");
        });
        assertThat(names()).containsExactly(".locks", ".something-else");
        assertThat(engines.resolve(".locks")).isDirectoryNotContaining(p -> p.getFileName().toString().startsWith("uncached"));
    }

    @Test
    void acquireSweepsLeftoversOfOtherKeysToo() throws IOException {
        leftover(".." + KEY + ".staging.tmp-1", 1000);
        try (EngineLease lease = cache.acquire(model, config(64), CPU, false, BuildProgress.NONE)) {
            assertThat(names()).containsExactlyInAnyOrder(".locks", lease.load().key());
        }
    }

    /** A build in progress (another thread here; another process holds the same file lock) is never swept. */
    @Test
    void aLiveBuildIsKeptAndReportedWhileItRunsAndLeavesNothingAfter() throws Exception {
        CountDownLatch building = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        CompletableFuture<String> built = CompletableFuture.supplyAsync(() -> {
            try (EngineLease lease = cache.acquire(model, config(64), CPU, false, (t, tt, b, bt) -> {
                building.countDown();
                try {
                    finish.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            })) {
                return lease.load().key();
            }
        });
        assertThat(building.await(30, TimeUnit.SECONDS)).isTrue();
        EngineCache.Sweep sweep = cache.sweep();
        assertThat(sweep.removed()).isEmpty();
        assertThat(sweep.kept()).singleElement().satisfies(l -> {
            assertThat(l.path().getFileName().toString()).matches("\\.\\.[0-9a-f]{64}\\.staging\\.tmp-\\d+");
            assertThat(l.keptBecause()).startsWith("a live process holds its lock .locks/").endsWith(".lock (building or using it)");
            assertThat(l.sizeBytes()).isPositive();
        });
        finish.countDown();
        String key = built.get(30, TimeUnit.SECONDS);
        assertThat(names()).containsExactlyInAnyOrder(".locks", key);
        assertThat(cache.sweep().kept()).isEmpty();
    }

    @Test
    void aPrivateEngineIsKeptWhileInUseAndLeavesNothingWhenClosed() {
        Path dir;
        try (EngineLease lease = cache.buildUncached(model, config(64), CPU, BuildProgress.NONE)) {
            dir = lease.directory();
            assertThat(dir.getFileName().toString()).matches("\\.uncached-\\d+-\\d+");
            EngineCache.Sweep sweep = cache.sweep();
            assertThat(sweep.removed()).isEmpty();
            assertThat(sweep.kept()).singleElement().satisfies(l -> assertThat(l.keptBecause()).contains("live process"));
            assertThat(dir.resolve(EngineConfig.WEIGHTS_FILE)).isRegularFile();
        }
        assertThat(dir).doesNotExist();
        assertThat(names()).containsExactly(".locks");
        assertThat(engines.resolve(".locks")).isEmptyDirectory();
    }

    /**
     * Probing an entry this process has loaded must not release its in-use lock: on Linux, closing any
     * channel of a file drops every lock the process holds on it (checked in /proc/locks by inode).
     */
    @Test
    void clearAndListKeepTheInUseLockOfAnEngineThisProcessHoldsLoaded() throws IOException {
        try (EngineLease held = cache.acquire(model, config(64), CPU, false, BuildProgress.NONE)) {
            Path inUse = engines.resolve(".locks").resolve(held.load().key() + ".inuse");
            long inode = (Long) Files.getAttribute(inUse, "unix:ino");
            assertThat(locksOn(inode)).isEqualTo(1);
            assertThat(cache.clear()).isEmpty();
            assertThat(cache.evict(null)).isEmpty();
            assertThat(cache.list()).singleElement().satisfies(e -> assertThat(e.inUse()).isTrue());
            assertThat(locksOn(inode)).as("the shared lock other processes' evictors see").isEqualTo(1);
        }
    }

    private static long locksOn(long inode) throws IOException {
        return Files.readAllLines(Path.of("/proc/locks")).stream().filter(l -> l.contains(":" + inode + " ")).count();
    }

    @Test
    void tooLittleFreeSpaceFailsWithTheCachesOwnErrorBeforeWriting() {
        String goodKey;
        try (EngineLease good = cache.acquire(model, config(64), CPU, false, BuildProgress.NONE)) {
            goodKey = good.load().key();
        }
        EngineCache full = new EngineCache(root, new BuildCacheConfig(root, 1, Long.MAX_VALUE), Clock.systemUTC())
                .spaceProbe(dir -> 4096);
        assertThatThrownBy(() -> full.acquire(model, config(128), CPU, false, BuildProgress.NONE))
                .isInstanceOf(NotEnoughSpaceException.class)
                .hasMessageStartingWith("not enough space in " + engines + ": need ")
                .hasMessageContaining(", free 4096 bytes (0.0 MiB)")
                .satisfies(e -> {
                    NotEnoughSpaceException n = (NotEnoughSpaceException) e;
                    assertThat(n.freeBytes()).isEqualTo(4096);
                    assertThat(n.needBytes()).isGreaterThan(Files.size(model.resolve("model.safetensors")));
                    assertThat(n.directory()).isEqualTo(engines);
                });
        assertThat(names()).as("nothing written, nothing evicted").containsExactlyInAnyOrder(".locks", goodKey);

        assertThatThrownBy(() -> full.buildUncached(model, config(128), CPU, BuildProgress.NONE))
                .isInstanceOf(NotEnoughSpaceException.class).hasMessageContaining("free 4096 bytes");
        assertThat(names()).containsExactlyInAnyOrder(".locks", goodKey);
        assertThat(engines.resolve(".locks")).isDirectoryNotContaining(p -> p.getFileName().toString().startsWith("uncached"));
    }
}
