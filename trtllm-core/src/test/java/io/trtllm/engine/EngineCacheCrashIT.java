package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.EngineLoad;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real {@code kill -9} of a child JVM in the middle of an engine build ({@link EngineBuildChild}
 * stops after its first tensor): what it leaves is kept, with why, by a sweep (what {@code trtllm cache list}
 * shows) while the builder lives (its lock is held), and removed at the next start once it is dead.
 */
class EngineCacheCrashIT {
    @TempDir
    Path tmp;
    Path model;
    Path root;
    Path engines;
    final List<Process> children = new ArrayList<>();

    @BeforeEach
    void setUp() {
        model = TinyModels.llama(tmp.resolve("model"));
        root = tmp.resolve("cache");
        engines = root.resolve("engines");
    }

    @AfterEach
    void killChildren() {
        children.forEach(Process::destroyForcibly);
    }

    /** Starts a child that builds and stalls mid-build; returns once it printed that it is building. */
    private Process buildingChild(String mode) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-cp", classpath, EngineBuildChild.class.getName(), root.toString(), model.toString(), mode)
                .redirectError(tmp.resolve("child-" + mode + ".err").toFile())
                .start();
        children.add(p);
        var reader = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = CompletableFuture.supplyAsync(() -> {
            try {
                return reader.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).get(120, TimeUnit.SECONDS);
        assertThat(line).as("child stderr: %s", stderr(mode)).startsWith("building 1/");
        return p;
    }

    private String stderr(String mode) {
        try {
            return Files.readString(tmp.resolve("child-" + mode + ".err"));
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** {@code kill -9 <pid>}, as an operator or the OOM killer would; waits for the exit (128 + 9). */
    private static void kill9(Process p) throws Exception {
        Process kill = new ProcessBuilder("kill", "-9", Long.toString(p.pid())).inheritIO().start();
        assertThat(kill.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(kill.exitValue()).isZero();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(137);
    }

    private List<String> names() {
        try (Stream<Path> s = Files.list(engines)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The cache as {@code trtllm cache list|clear --cache-dir root} opens it. */
    private EngineCache cache() {
        return new EngineCache(root, BuildCacheConfig.defaults(), Clock.systemUTC());
    }

    private static List<String> names(List<EngineCache.Leftover> leftovers) {
        return leftovers.stream().map(l -> l.path().getFileName().toString()).toList();
    }

    @Test
    void cacheListShowsALiveBuildAndRemovesItOnceItsBuilderWasKilled() throws Exception {
        Process child = buildingChild("cached");
        List<String> during = names();
        assertThat(during).hasSize(2).contains(".locks");
        String staging = during.stream().filter(n -> !n.equals(".locks")).findFirst().orElseThrow();
        assertThat(staging).matches("\\.\\.[0-9a-f]{64}\\.staging\\.tmp-\\d+");
        assertThat(engines.resolve(staging).resolve(EngineConfig.WEIGHTS_FILE)).isRegularFile();

        EngineCache.Sweep sweep = cache().sweep();
        assertThat(cache().list()).isEmpty();
        assertThat(sweep.removed()).isEmpty();
        assertThat(sweep.kept()).singleElement().satisfies(l -> {
            assertThat(l.path().getFileName()).hasToString(staging);
            assertThat(l.sizeBytes()).isPositive();
            assertThat(l.keptBecause())
                    .matches("a live process holds its lock \\.locks/[0-9a-f]{64}\\.lock \\(building or using it\\)");
        });
        assertThat(names()).contains(staging);

        kill9(child);
        assertThat(engines.resolve(staging)).as("kill -9 leaves the staging directory").isDirectory();

        sweep = cache().sweep();
        assertThat(cache().list()).isEmpty();
        assertThat(names(sweep.removed())).containsExactly(staging);
        assertThat(sweep.removedBytes()).isPositive();
        assertThat(sweep.kept()).isEmpty();
        assertThat(names()).containsExactly(".locks");
    }

    @Test
    void leftoversOfKilledBuildersAreRemovedAtTheNextStart() throws Exception {
        kill9(buildingChild("cached"));
        assertThat(names()).hasSize(2).anyMatch(n -> n.matches("\\.\\.[0-9a-f]{64}\\.staging\\.tmp-\\d+"));
        // The next start (a private build) removes the dead build's staging directory, then dies mid-build too.
        kill9(buildingChild("uncached"));
        assertThat(names()).hasSize(2).anyMatch(n -> n.matches("\\.\\.uncached-\\d+-\\d+\\.tmp-\\d+"));
        assertThat(engines.resolve(".locks")).isDirectoryContaining(p -> p.getFileName().toString().startsWith("uncached"));

        var cache = new EngineCache(root, new BuildCacheConfig(root, 10, Long.MAX_VALUE), Clock.systemUTC());
        String key;
        try (EngineLease lease = cache.acquire(model, BuildConfig.builder(64).build(), Device.cpu(), false,
                BuildProgress.NONE)) {
            assertThat(lease.load().kind()).isEqualTo(EngineLoad.Kind.BUILT);
            key = lease.load().key();
            assertThat(names()).containsExactlyInAnyOrder(".locks", key);
        }
        assertThat(engines.resolve(".locks")).isDirectoryNotContaining(p -> p.getFileName().toString().startsWith("uncached"));
        EngineCache.Sweep sweep = cache().sweep();
        assertThat(sweep.removed()).isEmpty();
        assertThat(sweep.kept()).isEmpty();
        assertThat(cache().clear()).containsExactly(key);
        assertThat(names()).containsExactly(".locks");
    }
}
