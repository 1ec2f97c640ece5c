package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarInputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Test;

/**
 * The repackaged jar as a user runs it: {@code java --add-modules jdk.incubator.vector -jar
 * sample-app/target/trtllm-sample-app-*.jar} starts, serves a completion, and needs no
 * {@code --enable-native-access} (the manifest carries it). Started with the flag {@code spring-boot:run}
 * used to add ({@code -XX:TieredStopAtLevel=1}), it says at WARN why it is slow and how to fix it.
 */
class SampleJarIT {
    private static final Pattern PORT = Pattern.compile("started on port (\\d+)");
    private static final Pattern NATIVE = Pattern.compile("native/lib/([^/]+)/.+\\.(so|dylib|dll)");

    @Test
    void theRepackagedJarCarriesNativeAccessAndNoCommandLine() throws Exception {
        try (JarFile jar = new JarFile(jar().toFile())) {
            Manifest manifest = jar.getManifest();
            assertThat(manifest.getMainAttributes().getValue("Enable-Native-Access")).isEqualTo("ALL-UNNAMED");
            assertThat(manifest.getMainAttributes().getValue("Main-Class")).endsWith("JarLauncher");
            assertThat(manifest.getMainAttributes().getValue("Start-Class")).isEqualTo(SampleApplication.class.getName());
            // What a server needs, not the command line (issue 17.9).
            assertThat(jar.stream().map(e -> e.getName()).filter(n -> n.startsWith("BOOT-INF/lib/")))
                    .isNotEmpty().noneMatch(n -> n.contains("picocli") || n.contains("slf4j-simple"));
        }
    }

    /**
     * DJL's tokenizers jar inside keeps the native libraries of the platforms the build asked for (the pom's
     * trtllm.natives: linux-x86_64 when built on Linux x86-64, unless -Dtrtllm.all-natives), still stored as
     * Spring Boot's loader needs it; the jar serving a completion below shows the tokenizer still loads.
     */
    @Test
    void theTokenizerJarKeepsTheNativesOfThePlatformsAskedFor() throws Exception {
        String asked = System.getProperty("trtllm.natives", "all");
        Set<String> platforms = new TreeSet<>();
        try (JarFile jar = new JarFile(jar().toFile())) {
            JarEntry nested = jar.stream().filter(e -> e.getName().matches("BOOT-INF/lib/tokenizers-[0-9.]+\\.jar"))
                    .findFirst().orElseThrow(() -> new AssertionError("no tokenizers jar in BOOT-INF/lib"));
            assertThat(nested.getMethod()).as("the nested jar is stored").isEqualTo(ZipEntry.STORED);
            try (var in = new JarInputStream(jar.getInputStream(nested))) {
                for (JarEntry e; (e = in.getNextJarEntry()) != null; ) {
                    Matcher m = NATIVE.matcher(e.getName());
                    if (m.matches()) {
                        platforms.add(m.group(1));
                    }
                }
            }
        }
        if (asked.equals("all")) {
            assertThat(platforms).containsExactly("linux-aarch64", "linux-x86_64", "osx-aarch64", "win-x86_64");
        } else {
            assertThat(platforms).containsExactly(asked);
        }
    }

    @Test
    void javaDashJarServesACompletionWithoutNativeAccessWarnings() throws Exception {
        List<String> log = new ArrayList<>();
        Process app = start(log);
        try {
            int port = awaitPort(app, log);
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}"))
                    .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            assertThat(response.body()).contains("\"text\"");
        } finally {
            stop(app);
        }
        String all = String.join("\n", log);
        assertThat(all).doesNotContain("restricted method").doesNotContain("TieredStopAtLevel")
                .doesNotContain("jdk.incubator.vector is not enabled");
    }

    @Test
    void aC1OnlyLaunchWarnsNamingTheFix() throws Exception {
        List<String> log = new ArrayList<>();
        Process app = start(log, "-XX:TieredStopAtLevel=1");
        try {
            awaitPort(app, log);
        } finally {
            stop(app);
        }
        List<String> warnings = log.stream().filter(l -> l.contains("WARN") && l.contains("TieredStopAtLevel=1")).toList();
        assertThat(warnings).hasSize(1);
        assertThat(warnings.getFirst()).contains("<optimizedLaunch>false</optimizedLaunch>");
    }

    private static Path jar() throws Exception {
        try (Stream<Path> files = Files.list(Path.of("target"))) {
            return files.filter(p -> p.getFileName().toString().matches("trtllm-sample-app-.*\\.jar"))
                    .filter(p -> !p.getFileName().toString().endsWith("-sources.jar"))
                    .findFirst().orElseThrow(() -> new AssertionError("no repackaged jar in target/: run mvn package"));
        }
    }

    private static Process start(List<String> log, String... flags) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Xmx1g"));
        cmd.addAll(List.of(flags));
        cmd.addAll(List.of("-jar", jar().toString(), "--server.port=0", "--server.address=127.0.0.1",
                "--trtllm.threads=1", "--trtllm.max-seq-len=64"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        CompletableFuture.runAsync(() -> {
            try (var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    synchronized (log) {
                        log.add(line);
                        log.notifyAll();
                    }
                }
            } catch (java.io.IOException e) {
                // the process ended
            }
        });
        return p;
    }

    private static int awaitPort(Process app, List<String> log) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        synchronized (log) {
            while (System.nanoTime() < deadline) {
                for (String line : log) {
                    Matcher m = PORT.matcher(line);
                    if (m.find()) {
                        return Integer.parseInt(m.group(1));
                    }
                }
                if (!app.isAlive()) {
                    throw new AssertionError("the jar exited with " + app.exitValue() + ":\n" + String.join("\n", log));
                }
                log.wait(1000);
            }
            throw new AssertionError("the jar did not start in 3 minutes:\n" + String.join("\n", log));
        }
    }

    private static void stop(Process app) throws InterruptedException {
        app.destroy();
        if (!app.waitFor(30, TimeUnit.SECONDS)) {
            app.destroyForcibly();
        }
    }
}
