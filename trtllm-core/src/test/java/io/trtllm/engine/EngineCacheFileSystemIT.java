package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.fail;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.EngineLoad;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine cache on real file systems that a test mounts: a tmpfs too small for the engine (a
 * full disk), and a tmpfs remounted read-only (root ignores permission bits, not a read-only
 * mount). Mounting needs root with CAP_SYS_ADMIN; without it these tests are skipped, unless
 * {@code TRTLLM_REQUIRE_MOUNT=true} (CI sets it), where they fail instead.
 */
class EngineCacheFileSystemIT {
    private static final Device CPU = new Device("cpu", "amd64", 512, 32);

    @TempDir
    Path tmp;
    final List<Path> mounts = new ArrayList<>();

    @AfterEach
    void unmount() throws Exception {
        for (Path m : mounts.reversed()) {
            run("umount", "-l", m.toString());
        }
    }

    /** Mounts a tmpfs of {@code size} at a new directory, or skips (fails in CI) when this machine cannot. */
    private Path tmpfs(String name, String size) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        String out = run("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString());
        if (out != null) {
            String why = "cannot mount a tmpfs here (" + out.strip() + ")";
            if ("true".equals(System.getenv("TRTLLM_REQUIRE_MOUNT"))) {
                fail(why + "; TRTLLM_REQUIRE_MOUNT=true requires these tests to run");
            }
            Assumptions.abort(why);
        }
        mounts.add(dir);
        return dir;
    }

    /** Runs a command; null when it succeeded, else its output. */
    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return "timed out";
        }
        return p.exitValue() == 0 ? null : "exit " + p.exitValue() + ": " + out;
    }

    private static List<String> names(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static EngineCache cache(Path root) {
        return new EngineCache(root, new BuildCacheConfig(root, 10, Long.MAX_VALUE), Clock.systemUTC());
    }

    @Test
    void aFullDiskIsTheCachesOwnErrorBeforeAndWhileWriting() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("model"));
        Path small = tmpfs("small", "256k"); // the engine's weights alone are 355 KiB
        Path engines = small.resolve("engines");

        assertThatThrownBy(() -> cache(small).acquire(model, BuildConfig.builder(64).build(), CPU, false,
                BuildProgress.NONE)).isInstanceOf(NotEnoughSpaceException.class)
                .hasMessageStartingWith("not enough space in " + engines + ": need ")
                .hasMessageNotContaining("filled up");
        assertThat(names(engines)).containsExactly(".locks");

        // The disk fills up after the check (another writer): the mapped writes fault with SIGBUS, which the
        // JVM raises as an InternalError; the cache reports it as its own error and leaves nothing behind.
        AtomicInteger probes = new AtomicInteger();
        EngineCache racing = cache(small).spaceProbe(dir -> probes.getAndIncrement() == 0 ? Long.MAX_VALUE / 2
                : SpaceProbe.FILE_STORE.usableBytes(dir));
        assertThatThrownBy(() -> racing.acquire(model, BuildConfig.builder(64).build(), CPU, false, BuildProgress.NONE))
                .isInstanceOf(NotEnoughSpaceException.class)
                .hasMessageStartingWith("not enough space in " + engines + ": need ")
                .hasMessageContaining("the disk filled up while the engine was written")
                .hasRootCauseInstanceOf(InternalError.class);
        assertThat(names(engines)).containsExactly(".locks");
        assertThat(Files.getFileStore(small).getUsableSpace()).as("nothing left on the small disk").isGreaterThan(200_000);
    }

    @Test
    void aValidEngineInAReadOnlyCacheIsLoadedWithoutLocks() throws Exception {
        Path model = TinyModels.llama(tmp.resolve("model"));
        Path ro = tmpfs("ro", "16m");
        Path entry;
        try (EngineLease lease = cache(ro).acquire(model, BuildConfig.builder(64).build(), CPU, false, BuildProgress.NONE)) {
            entry = lease.directory();
        }
        // What a build killed just before the file system went read-only left: it can be shown, not removed.
        String stale = ".." + "cd".repeat(32) + ".staging.tmp-1";
        Files.write(Files.createDirectories(ro.resolve("engines").resolve(stale)).resolve("model.safetensors"),
                new byte[300_000]);
        String remount = run("mount", "-o", "remount,ro", ro.toString());
        assertThat(remount).as("remount read-only").isNull();
        assertThatThrownBy(() -> Files.createFile(ro.resolve("probe"))).hasMessageContaining("Read-only file system");

        try (EngineLease lease = cache(ro).acquire(model, BuildConfig.builder(64).build(), CPU, false, BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.LOADED_FROM_CACHE);
            assertThat(lease.directory()).isEqualTo(entry);
            assertThat(lease.weights().tensor("model.norm.weight").numel()).isEqualTo(64);
        }
        assertThatThrownBy(() -> cache(ro).acquire(model, BuildConfig.builder(32).build(), CPU, false, BuildProgress.NONE))
                .isInstanceOf(UncheckedIOException.class)
                .hasMessageContaining("engine cache is read-only and holds no engine")
                .hasMessageContaining("TRTLLM_CACHE_DIR");

        // What trtllm cache list shows: the engine, and the leftover kept with why.
        EngineCache readOnly = cache(ro);
        EngineCache.Sweep sweep = readOnly.sweep();
        assertThat(readOnly.list()).extracting(EngineCache.Entry::directory).containsExactly(entry);
        assertThat(sweep.removed()).isEmpty();
        assertThat(sweep.kept()).singleElement().satisfies(l -> {
            assertThat(l.path().getFileName()).hasToString(stale);
            assertThat(l.sizeBytes()).isGreaterThanOrEqualTo(300_000);
            assertThat(l.keptBecause()).startsWith("could not remove it: ").contains("Read-only file system");
        });
    }
}
