package io.trtllm.model.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.source.ModelSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link HubClient} against a local server that serves the Hub's layout (revision API, resolve URLs
 * with ETag headers, ranges) for a tiny generated checkpoint.
 */
class HubClientTests {
    private static final String REPO = "tiny-org/tiny-llama";
    private static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    private static final String TOKEN = "hf_secret";

    @TempDir
    Path tmp;
    HttpServer server;
    String endpoint;
    /** File name → content; model.safetensors is an LFS file, the rest are plain git files. */
    final Map<String, byte[]> files = new LinkedHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();
    volatile boolean requireToken;
    /** Bytes after which the next GET of model.safetensors is cut (then reset), or -1. */
    volatile long cutAfter = -1;
    /** Whether model.safetensors is served with a flipped byte. */
    volatile boolean corrupt;
    /** Pause in the middle of each GET of model.safetensors, in milliseconds. */
    volatile long pauseMillis;

    @BeforeEach
    void start() throws IOException {
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors")) {
            try (InputStream in = getClass().getResourceAsStream("/parity/llama3/" + f)) {
                files.put(f, in.readAllBytes());
            }
        }
        files.put("pytorch_model.bin", new byte[] {1, 2, 3}); // listed by the Hub, never fetched
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
        endpoint = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private static boolean lfs(String name) {
        return name.endsWith(".safetensors") || name.endsWith(".bin");
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String range = ex.getRequestHeaders().getFirst("Range");
        requests.add(ex.getRequestMethod() + " " + path + (range != null ? " " + range : ""));
        try (ex) {
            if (requireToken && !("Bearer " + TOKEN).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                ex.sendResponseHeaders(401, -1);
                return;
            }
            if (path.equals("/api/models/" + REPO + "/revision/main")) {
                StringBuilder json = new StringBuilder("{\"id\":\"" + REPO + "\",\"sha\":\"" + COMMIT + "\",\"siblings\":[");
                boolean first = true;
                for (var e : files.entrySet()) {
                    json.append(first ? "" : ",").append("{\"rfilename\":\"").append(e.getKey()).append('"');
                    if (lfs(e.getKey())) {
                        json.append(",\"lfs\":{\"sha256\":\"").append(sha256(e.getValue())).append("\",\"size\":")
                                .append(e.getValue().length).append('}');
                    }
                    json.append('}');
                    first = false;
                }
                byte[] body = json.append("]}").toString().getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(200, body.length);
                ex.getResponseBody().write(body);
                return;
            }
            String prefix = "/" + REPO + "/resolve/" + COMMIT + "/";
            if (!path.startsWith(prefix) || !files.containsKey(path.substring(prefix.length()))) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            String name = path.substring(prefix.length());
            byte[] content = files.get(name);
            ex.getResponseHeaders().set("X-Repo-Commit", COMMIT);
            if (lfs(name)) {
                ex.getResponseHeaders().set("X-Linked-Etag", "\"" + sha256(content) + "\"");
                ex.getResponseHeaders().set("X-Linked-Size", Long.toString(content.length));
            } else {
                ex.getResponseHeaders().set("ETag", "\"" + gitSha1(content) + "\"");
                ex.getResponseHeaders().set("X-Linked-Size", Long.toString(content.length));
            }
            if (ex.getRequestMethod().equals("HEAD")) {
                ex.sendResponseHeaders(200, -1);
                return;
            }
            if (corrupt && lfs(name)) {
                content = content.clone();
                content[content.length / 3] ^= 1;
            }
            int from = 0;
            if (range != null) {
                from = Integer.parseInt(range.replaceAll("bytes=(\\d+)-", "$1"));
                ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
            }
            ex.sendResponseHeaders(range != null ? 206 : 200, content.length - from);
            OutputStream out = ex.getResponseBody();
            long cut = cutAfter;
            if (cut >= 0 && lfs(name)) {
                cutAfter = -1;
                out.write(content, from, (int) cut - from);
                out.flush();
                throw new IOException("test server cuts the connection after " + cut + " bytes");
            }
            if (pauseMillis > 0 && lfs(name)) {
                int half = from + (content.length - from) / 2;
                out.write(content, from, half - from);
                out.flush();
                sleep(pauseMillis);
                from = half;
            }
            out.write(content, from, content.length - from);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private HubSettings settings(String token, boolean offline, int retries) {
        return new HubSettings(endpoint, token, tmp.resolve("hf/hub"), offline, java.time.Duration.ofSeconds(5), retries);
    }

    private Path repoDir() {
        return tmp.resolve("hf/hub/models--tiny-org--tiny-llama");
    }

    @Test
    void downloadsASnapshotIntoTheHuggingFaceCacheLayout() throws Exception {
        Path snapshot = new HubClient(settings(null, false, 0)).snapshot(REPO, "main");

        assertThat(snapshot).isEqualTo(repoDir().resolve("snapshots").resolve(COMMIT));
        assertThat(Files.readString(repoDir().resolve("refs/main"))).isEqualTo(COMMIT);
        Path weights = snapshot.resolve("model.safetensors");
        assertThat(Files.isSymbolicLink(weights)).isTrue();
        assertThat(Files.readSymbolicLink(weights).toString())
                .isEqualTo("../../blobs/" + sha256(files.get("model.safetensors")));
        assertThat(Files.readSymbolicLink(snapshot.resolve("config.json")).toString())
                .isEqualTo("../../blobs/" + gitSha1(files.get("config.json")));
        assertThat(Files.readAllBytes(weights)).isEqualTo(files.get("model.safetensors"));
        assertThat(snapshot.resolve("pytorch_model.bin")).doesNotExist();
        assertThat(incompleteFiles()).isEmpty();
        try (Checkpoint c = Checkpoint.open(snapshot)) {
            assertThat(c.names()).contains("model.embed_tokens.weight");
        }

        // Again: everything is there, so only the revision is asked for.
        requests.clear();
        assertThat(new HubClient(settings(null, false, 0)).snapshot(REPO, "main")).isEqualTo(snapshot);
        assertThat(requests).containsExactly("GET /api/models/" + REPO + "/revision/main");
    }

    @Test
    void clientsSharingTheCacheDownloadEachBlobOnce() throws Exception {
        // Two replicas on one cache volume start together: the second waits for the first's download of the
        // weights (held up mid-file here) and uses its blob instead of writing into the same .incomplete file.
        pauseMillis = 500;
        var start = new CountDownLatch(1);
        List<Path> snapshots = new CopyOnWriteArrayList<>();
        List<Thread> replicas = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            replicas.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                    snapshots.add(new HubClient(settings(null, false, 0)).snapshot(REPO, "main"));
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }));
        }
        start.countDown();
        for (Thread t : replicas) {
            t.join(Duration.ofSeconds(30));
        }

        assertThat(snapshots).hasSize(2).containsOnly(repoDir().resolve("snapshots").resolve(COMMIT));
        assertThat(requests.stream().filter(r -> r.startsWith("GET ") && r.endsWith("/model.safetensors")))
                .hasSize(1);
        assertThat(Files.readAllBytes(snapshots.getFirst().resolve("model.safetensors")))
                .isEqualTo(files.get("model.safetensors"));
        assertThat(incompleteFiles()).isEmpty();
        try (Stream<Path> left = Files.walk(repoDir().resolve("snapshots"))) {
            assertThat(left.filter(p -> p.getFileName().toString().contains(".tmp-"))).isEmpty();
        }
    }

    @Test
    void resumesACutDownloadWithARangeRequest() throws IOException {
        int size = files.get("model.safetensors").length;
        cutAfter = size / 2;
        Path snapshot = new HubClient(settings(null, false, 2)).snapshot(REPO, "main");
        assertThat(Files.readAllBytes(snapshot.resolve("model.safetensors"))).isEqualTo(files.get("model.safetensors"));
        // The resumed request starts where the received bytes end (at most where the server cut: bytes in
        // flight when a connection is reset may be lost).
        String get = "GET /" + REPO + "/resolve/" + COMMIT + "/model.safetensors";
        assertThat(requests).contains(get);
        assertThat(requests).filteredOn(r -> r.startsWith(get + " bytes=")).singleElement()
                .satisfies(r -> assertThat(Long.parseLong(r.replaceAll(".* bytes=(\\d+)-", "$1"))).isBetween(1L, size / 2L));
    }

    @Test
    void aCutDownloadWithoutRetriesKeepsItsBytesAndTheNextRunResumes() throws IOException {
        int size = files.get("model.safetensors").length;
        cutAfter = size / 3;
        assertThatThrownBy(() -> new HubClient(settings(null, false, 0)).snapshot(REPO, "main"))
                .isInstanceOf(HubException.class)
                .hasMessageContaining("download of model.safetensors")
                .hasMessageContaining("kept in").hasMessageContaining("to resume next time");
        Path partial = incompleteFiles().getFirst();
        long kept = Files.size(partial);
        assertThat(kept).isBetween(1L, size / 3L); // bytes in flight when the connection is reset may be lost
        assertThat(repoDir().resolve("snapshots")).doesNotExist();

        requests.clear();
        Path snapshot = new HubClient(settings(null, false, 0)).snapshot(REPO, "main");
        assertThat(Files.readAllBytes(snapshot.resolve("model.safetensors"))).isEqualTo(files.get("model.safetensors"));
        assertThat(requests).contains("GET /" + REPO + "/resolve/" + COMMIT + "/model.safetensors bytes=" + kept + "-");
        assertThat(incompleteFiles()).isEmpty();
    }

    @Test
    void aChecksumMismatchIsAClearErrorAndLeavesNothingHalfWritten() throws IOException {
        corrupt = true;
        assertThatThrownBy(() -> new HubClient(settings(null, false, 2)).snapshot(REPO, "main"))
                .isInstanceOf(HubException.class)
                .hasMessageContaining("checksum mismatch for model.safetensors")
                .hasMessageContaining("expected " + sha256(files.get("model.safetensors")))
                .hasMessageContaining("nothing was saved");
        assertThat(incompleteFiles()).isEmpty();
        assertThat(repoDir().resolve("blobs").resolve(sha256(files.get("model.safetensors")))).doesNotExist();
        assertThat(repoDir().resolve("snapshots")).doesNotExist();
    }

    @Test
    void unauthorizedWithoutATokenSaysToSetHfToken() {
        requireToken = true;
        assertThatThrownBy(() -> new HubClient(settings(null, false, 0)).snapshot(REPO, "main"))
                .isInstanceOf(HubException.class)
                .hasMessageContaining("HTTP 401").hasMessageContaining(REPO).hasMessageContaining("set HF_TOKEN")
                .satisfies(e -> assertThat(((HubException) e).status()).isEqualTo(401));
        assertThatThrownBy(() -> new HubClient(settings("hf_wrong", false, 0)).snapshot(REPO, "main"))
                .hasMessageContaining("token in HF_TOKEN was rejected");
        assertThat(new HubClient(settings(TOKEN, false, 0)).snapshot(REPO, "main").resolve("config.json")).isRegularFile();
    }

    @Test
    void offlineReusesACompleteSnapshotAndRefusesWithoutOne() {
        assertThatThrownBy(() -> new HubClient(settings(null, true, 0)).snapshot(REPO, "main"))
                .isInstanceOf(HubException.class).hasMessageContaining("HF_HUB_OFFLINE")
                .hasMessageContaining(REPO + "@main");
        Path snapshot = new HubClient(settings(null, false, 0)).snapshot(REPO, "main");
        server.stop(0);
        requests.clear();
        assertThat(new HubClient(settings(null, true, 0)).snapshot(REPO, "main")).isEqualTo(snapshot);
        assertThat(new HubClient(settings(null, true, 0)).snapshot(REPO, COMMIT)).isEqualTo(snapshot);
        // Online but unreachable: the complete cached snapshot is used, as huggingface_hub does.
        assertThat(new HubClient(settings(null, false, 0)).snapshot(REPO, "main")).isEqualTo(snapshot);
        assertThat(requests).isEmpty();
    }

    @Test
    void settingsComeFromTheEnvironmentAndModelSourcesParse() {
        HubSettings s = HubSettings.fromEnvironment(Map.of("HF_HOME", tmp.toString(), "HF_ENDPOINT", "http://hub.local/",
                "HF_TOKEN", "hf_abc123", "HF_HUB_OFFLINE", "1"));
        assertThat(s.endpoint()).isEqualTo("http://hub.local");
        assertThat(s.hubCache()).isEqualTo(tmp.resolve("hub").toAbsolutePath());
        assertThat(s.token()).isEqualTo("hf_abc123");
        assertThat(s.offline()).isTrue();
        assertThat(s.toString()).doesNotContain("hf_abc123").contains("token=set");

        assertThat(ModelSource.parse("tiny-org/tiny-llama")).isEqualTo(new ModelSource.Hub(REPO, "main"));
        assertThat(ModelSource.parse("tiny-org/tiny-llama@v1.0")).isEqualTo(new ModelSource.Hub(REPO, "v1.0"));
        assertThat(ModelSource.parse("stories15M")).isEqualTo(new ModelSource.Builtin("stories15M"));
        assertThat(ModelSource.parse(tmp.toString())).isEqualTo(new ModelSource.Local(tmp.toAbsolutePath()));
        assertThatThrownBy(() -> ModelSource.parse("no/such/dir"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'no/such/dir'");
    }

    private List<Path> incompleteFiles() throws IOException {
        Path blobs = repoDir().resolve("blobs");
        if (!Files.isDirectory(blobs)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(blobs)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".incomplete")).toList();
        }
    }

    private static String sha256(byte[] b) {
        return digest("SHA-256", new byte[0], b);
    }

    private static String gitSha1(byte[] b) {
        return digest("SHA-1", ("blob " + b.length + "\0").getBytes(StandardCharsets.US_ASCII), b);
    }

    private static String digest(String algorithm, byte[] prefix, byte[] b) {
        try {
            MessageDigest d = MessageDigest.getInstance(algorithm);
            d.update(prefix);
            return HexFormat.of().formatHex(d.digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
