package io.trtllm.model.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Downloads a model repository's snapshot from the Hugging Face Hub into the Hugging Face cache,
 * in {@code huggingface_hub}'s layout, and returns the snapshot directory:
 *
 * <pre>
 * $HF_HUB_CACHE/models--org--name/
 *   blobs/&lt;etag&gt;                     file contents, named by their ETag (SHA-256 for LFS files,
 *                                      the git blob SHA-1 for small ones)
 *   snapshots/&lt;commit&gt;/&lt;file&gt;       symbolic links to ../../blobs/&lt;etag&gt;
 *   refs/&lt;revision&gt;                  the commit a branch or tag pointed to
 * </pre>
 *
 * <p>Only what a model needs is fetched: top-level {@code *.json}, {@code *.safetensors}, {@code tokenizer.model},
 * {@code *.txt} and {@code *.jinja} files (no PyTorch pickles, GGUF or ONNX). The file list and commit come from
 * {@code /api/models/{id}/revision/{rev}}; each file's ETag and size from a {@code HEAD} of
 * {@code /{id}/resolve/{commit}/{file}} ({@code X-Linked-Etag}/{@code X-Linked-Size} for LFS files,
 * else {@code ETag}/{@code Content-Length}). A file downloads into {@code blobs/<etag>.incomplete},
 * resumes with {@code Range} after a cut connection, is checked against its ETag (SHA-256 or git
 * SHA-1) and only then renamed to its blob; the snapshot's links are made after every blob is in
 * place, so a failed download leaves no half-written file where a loader could see it.
 *
 * <p>{@code HF_TOKEN} is sent as a bearer token to the endpoint's host only (not to the CDN a file
 * may redirect to). With {@code HF_HUB_OFFLINE=1}, or when the Hub cannot be reached, a complete
 * cached snapshot is used.
 */
public final class HubClient {
    private static final Logger LOG = LoggerFactory.getLogger(HubClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Duration LOG_INTERVAL = Duration.ofSeconds(3);
    private static final int MAX_REDIRECTS = 5;
    private static final String USER_AGENT = "trtllm-java/0.1.0; java/" + Runtime.version().feature();

    /** In-process locks of the blob lock files (a JVM holds a file lock once; its threads take turns here). */
    private static final Map<Path, ReentrantLock> BLOB_LOCKS = new ConcurrentHashMap<>();

    private final HubSettings settings;
    private final HttpClient http;

    public HubClient(HubSettings settings) {
        this.settings = settings;
        this.http = HttpClient.newBuilder().connectTimeout(settings.connectTimeout())
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    /** One file of the snapshot: its path in the repository and, once known, its blob's ETag and size. */
    private record RemoteFile(String name, String etag, long size, @Nullable String lfsSha256) {
    }

    /**
     * The local snapshot directory of {@code repoId} at {@code revision}, downloading what is missing.
     *
     * @throws HubException         when the repository cannot be fetched (the message says why and what to do)
     * @throws ModelFormatException when the repository holds no safetensors weights
     */
    public Path snapshot(String repoId, String revision) {
        Path repoDir = repoDirectory(repoId);
        if (settings.offline()) {
            return cachedSnapshot(repoId, revision, repoDir)
                    .orElseThrow(() -> new HubException("HF_HUB_OFFLINE is set and there is no complete cached snapshot of "
                            + repoId + "@" + revision + " in " + repoDir + "; run once online or unset HF_HUB_OFFLINE"));
        }
        JsonNode info;
        try {
            info = getJson(apiUrl(repoId, revision), repoId, revision);
        } catch (IOException e) {
            Optional<Path> cached = cachedSnapshot(repoId, revision, repoDir);
            if (cached.isPresent()) {
                LOG.warn("Hugging Face Hub {} unreachable ({}); using the cached snapshot {}", settings.endpoint(), e.toString(),
                        cached.get());
                return cached.get();
            }
            throw new HubException("cannot reach the Hugging Face Hub at " + settings.endpoint() + " for " + repoId + "@"
                    + revision + ": " + e + " (no cached snapshot in " + repoDir + "; set HF_ENDPOINT or HF_HUB_OFFLINE)", 0, e);
        }
        String commit = info.path("sha").asText("");
        if (!COMMIT.matcher(commit).matches()) {
            throw new HubException(apiUrl(repoId, revision) + ": response has no commit sha (got '" + commit + "')");
        }
        List<String> names = wantedFiles(repoId, commit, info);
        Path snapshot = repoDir.resolve("snapshots").resolve(commit);
        try {
            List<RemoteFile> missing = new ArrayList<>();
            for (String name : names) {
                if (!Files.isRegularFile(snapshot.resolve(name))) {
                    missing.add(describe(repoId, commit, name, lfsSha256(info, name)));
                }
            }
            if (missing.isEmpty()) {
                LOG.info("Using cached snapshot {} of {}@{}", snapshot, repoId, revision);
            } else {
                long total = missing.stream().mapToLong(RemoteFile::size).sum();
                LOG.info("Downloading {} file(s), {} MiB, of {}@{} (commit {}) into {}", missing.size(), total >> 20, repoId,
                        revision, commit, repoDir);
                Path blobs = Files.createDirectories(repoDir.resolve("blobs"));
                for (RemoteFile f : missing) {
                    fetchBlob(repoId, commit, f, blobs);
                }
                for (RemoteFile f : missing) {
                    link(snapshot, f, blobs.resolve(f.etag()));
                }
            }
            if (!revision.equals(commit)) {
                Path ref = repoDir.resolve("refs").resolve(revision);
                Files.createDirectories(ref.getParent());
                writeAtomically(ref, commit);
            }
            return snapshot;
        } catch (IOException e) {
            throw new UncheckedIOException("writing the Hugging Face cache " + repoDir + " for " + repoId + "@" + revision + ": "
                    + e, e);
        }
    }

    /** {@code <hubCache>/models--org--name}. */
    public Path repoDirectory(String repoId) {
        return settings.hubCache().resolve("models--" + repoId.replace("/", "--"));
    }

    /** A cached snapshot with config.json and all its weight files, for a revision resolved through refs/. */
    private Optional<Path> cachedSnapshot(String repoId, String revision, Path repoDir) {
        String commit = revision;
        if (!COMMIT.matcher(revision).matches()) {
            Path ref = repoDir.resolve("refs").resolve(revision);
            try {
                commit = Files.isRegularFile(ref) ? Files.readString(ref).strip() : "";
            } catch (IOException e) {
                commit = "";
            }
            if (!COMMIT.matcher(commit).matches()) {
                return Optional.empty();
            }
        }
        Path snapshot = repoDir.resolve("snapshots").resolve(commit);
        try {
            if (!Files.isRegularFile(snapshot.resolve("config.json"))) {
                return Optional.empty();
            }
            for (Path f : Checkpoint.weightFiles(snapshot)) {
                if (!Files.isRegularFile(f)) {
                    return Optional.empty();
                }
            }
            LOG.debug("Complete cached snapshot of {}@{}: {}", repoId, revision, snapshot);
            return Optional.of(snapshot);
        } catch (ModelFormatException e) {
            return Optional.empty();
        }
    }

    /** The repository's files that a model needs; refuses a repository without safetensors weights. */
    private List<String> wantedFiles(String repoId, String commit, JsonNode info) {
        List<String> all = new ArrayList<>();
        for (JsonNode s : info.path("siblings")) {
            String name = s.path("rfilename").asText("");
            if (!name.isEmpty()) {
                all.add(name);
            }
        }
        List<String> wanted = new ArrayList<>();
        for (String name : all) {
            checkRelative(repoId, name);
            String lower = name.toLowerCase(Locale.ROOT);
            boolean topLevel = !name.contains("/");
            if (topLevel && (lower.endsWith(".json") || lower.endsWith(".safetensors") || lower.equals("tokenizer.model")
                    || lower.endsWith(".txt") || lower.endsWith(".jinja"))) {
                wanted.add(name);
            }
        }
        if (!wanted.contains("config.json")) {
            throw new ModelFormatException(repoId + "@" + commit + " has no config.json: not a transformers model repository"
                    + " (files: " + all + ")");
        }
        if (!wanted.contains(Checkpoint.SINGLE_FILE) && !wanted.contains(Checkpoint.INDEX_FILE)) {
            throw new ModelFormatException(repoId + "@" + commit + " has no " + Checkpoint.SINGLE_FILE + " or "
                    + Checkpoint.INDEX_FILE + "; only safetensors weights are supported (files: " + all + ")");
        }
        return wanted;
    }

    private static void checkRelative(String repoId, String name) {
        for (String part : name.split("/")) {
            if (part.isEmpty() || part.equals("..") || part.equals(".")) {
                throw new HubException(repoId + ": file name '" + name + "' from the Hub is not a plain relative path");
            }
        }
    }

    private static @Nullable String lfsSha256(JsonNode info, String name) {
        for (JsonNode s : info.path("siblings")) {
            if (name.equals(s.path("rfilename").asText()) && s.path("lfs").path("sha256").isTextual()) {
                return s.path("lfs").path("sha256").asText();
            }
        }
        return null;
    }

    /** HEAD of the file: its ETag (the blob's name and checksum) and size. */
    private RemoteFile describe(String repoId, String commit, String name, @Nullable String lfsSha256) throws IOException {
        URI uri = resolveUrl(repoId, commit, name);
        for (int redirects = 0; ; redirects++) {
            HttpResponse<Void> r = send(request(uri).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.discarding(), repoId, commit);
            Optional<String> linked = r.headers().firstValue("X-Linked-Etag");
            Optional<String> etag = linked.isPresent() ? linked : r.headers().firstValue("ETag");
            if (etag.isPresent()) {
                String size = r.headers().firstValue("X-Linked-Size")
                        .orElse(r.headers().firstValue("Content-Length").orElse("-1"));
                String tag = normalizeEtag(etag.get());
                if (!tag.matches("[0-9A-Za-z._-]+")) {
                    throw new HubException(uri + ": ETag '" + etag.get() + "' cannot name a blob file");
                }
                return new RemoteFile(name, tag, Long.parseLong(size.strip()), lfsSha256);
            }
            if (isRedirect(r.statusCode()) && redirects < MAX_REDIRECTS) {
                URI from = uri;
                uri = from.resolve(r.headers().firstValue("Location")
                        .orElseThrow(() -> new HubException(from + ": redirect without Location")));
                continue;
            }
            throw new HubException(uri + ": HTTP " + r.statusCode() + " response has no ETag; cannot verify " + name);
        }
    }

    private static String normalizeEtag(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
            e = e.substring(1, e.length() - 1);
        }
        return e;
    }

    /**
     * Downloads one blob (resuming a previous .incomplete), verifies it and renames it into place. Processes that
     * share the cache (replicas on one volume) and threads of this one take turns per blob, under a file lock
     * plus an in-process lock (a JVM holds a file lock once): the first downloads, the others then find the blob.
     */
    private void fetchBlob(String repoId, String commit, RemoteFile f, Path blobs) throws IOException {
        Path blob = blobs.resolve(f.etag());
        if (isCached(blob, f)) {
            LOG.debug("Blob {} of {} is cached", f.etag(), f.name());
            return;
        }
        Path locks = Files.createDirectories(blobs.resolveSibling(".trtllm-locks"));
        Path lockFile = locks.resolve(f.etag() + ".lock").toAbsolutePath().normalize();
        ReentrantLock local = BLOB_LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
        local.lock();
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = channel.lock()) {
            if (isCached(blob, f)) {
                LOG.debug("Blob {} of {} was downloaded by another process while this one waited", f.etag(), f.name());
                return;
            }
            downloadBlob(repoId, commit, f, blob);
        } finally {
            local.unlock();
        }
    }

    private static boolean isCached(Path blob, RemoteFile f) throws IOException {
        return Files.isRegularFile(blob) && (f.size() < 0 || Files.size(blob) == f.size());
    }

    private void downloadBlob(String repoId, String commit, RemoteFile f, Path blob) throws IOException {
        Path partial = blob.resolveSibling(f.etag() + ".incomplete");
        URI uri = resolveUrl(repoId, commit, f.name());
        IOException last = null;
        for (int attempt = 0; attempt <= settings.retries(); attempt++) {
            try {
                if (download(uri, partial, f, repoId, commit)) {
                    break;
                }
            } catch (IOException e) {
                last = e;
                long have = Files.exists(partial) ? Files.size(partial) : 0;
                if (attempt < settings.retries()) {
                    LOG.warn("Download of {} from {} interrupted after {} bytes ({}); resuming (attempt {} of {})", f.name(),
                            uri, have, e.toString(), attempt + 1, settings.retries());
                    continue;
                }
                throw new HubException("download of " + f.name() + " from " + uri + " failed after " + (attempt + 1)
                        + " attempt(s), " + have + " of " + f.size() + " bytes kept in " + partial
                        + " to resume next time: " + e, 0, e);
            }
        }
        if (!Files.exists(partial) || (f.size() >= 0 && Files.size(partial) != f.size())) {
            throw new HubException("download of " + f.name() + " from " + uri + " did not complete", 0, last);
        }
        verify(uri, f, partial);
        Files.move(partial, blob, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** One GET from where {@code partial} ends; true when the file is complete. */
    private boolean download(URI uri, Path partial, RemoteFile f, String repoId, String commit) throws IOException {
        long have = Files.exists(partial) ? Files.size(partial) : 0;
        if (f.size() >= 0 && have > f.size()) {
            Files.delete(partial);
            have = 0;
        }
        if (f.size() >= 0 && have == f.size()) {
            return true;
        }
        URI current = uri;
        HttpResponse<InputStream> r;
        for (int redirects = 0; ; redirects++) {
            HttpRequest.Builder req = request(current).GET();
            if (!current.getHost().equalsIgnoreCase(URI.create(settings.endpoint()).getHost())) {
                req = HttpRequest.newBuilder(current).header("User-Agent", USER_AGENT); // no token to other hosts
            }
            if (have > 0) {
                req.header("Range", "bytes=" + have + "-");
            }
            r = send(req.build(), HttpResponse.BodyHandlers.ofInputStream(), repoId, commit);
            if (isRedirect(r.statusCode()) && redirects < MAX_REDIRECTS) {
                r.body().close();
                String location = r.headers().firstValue("Location")
                        .orElseThrow(() -> new HubException(uri + ": redirect without Location"));
                current = current.resolve(location);
                continue;
            }
            break;
        }
        int status = r.statusCode();
        if (status == 416) { // our range starts at or past the end: start over
            r.body().close();
            Files.deleteIfExists(partial);
            throw new IOException("HTTP 416 for range from byte " + have + "; restarting the file");
        }
        if (status != 200 && status != 206) {
            r.body().close();
            throw new HubException(current + ": HTTP " + status + " downloading " + f.name(), status, null);
        }
        boolean append = status == 206;
        if (have > 0 && !append) {
            LOG.info("{} ignored the range request; downloading {} from the start", current, f.name());
        }
        long total = f.size();
        long written = append ? have : 0;
        long lastLog = System.nanoTime();
        try (InputStream in = r.body();
             FileChannel out = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) >= 0) {
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) {
                    out.write(bb);
                }
                written += n;
                if (System.nanoTime() - lastLog >= LOG_INTERVAL.toNanos()) {
                    lastLog = System.nanoTime();
                    LOG.info("Downloading {}: {} / {} MiB", f.name(), written >> 20, total >> 20);
                }
            }
            out.force(true);
        }
        if (total >= 0 && written < total) {
            throw new IOException("connection closed after " + written + " of " + total + " bytes");
        }
        return true;
    }

    /** Checks the finished file against its ETag (SHA-256, or git blob SHA-1) and the API's LFS SHA-256. */
    private static void verify(URI uri, RemoteFile f, Path partial) throws IOException {
        long size = Files.size(partial);
        if (f.size() >= 0 && size != f.size()) {
            Files.deleteIfExists(partial);
            throw new HubException("download of " + f.name() + " from " + uri + " has " + size + " bytes, expected "
                    + f.size() + "; nothing was saved, try again");
        }
        String expected = f.lfsSha256() != null ? f.lfsSha256() : f.etag();
        String actual;
        String algorithm;
        if (SHA256.matcher(expected).matches()) {
            algorithm = "sha256";
            actual = hash("SHA-256", null, partial);
        } else if (COMMIT.matcher(expected).matches()) {
            algorithm = "git blob sha1";
            actual = hash("SHA-1", ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII), partial);
        } else {
            LOG.debug("{}: ETag {} is neither a SHA-256 nor a git SHA-1; checked the size only", f.name(), f.etag());
            return;
        }
        if (!actual.equals(expected)) {
            Files.deleteIfExists(partial);
            throw new HubException("checksum mismatch for " + f.name() + " from " + uri + ": " + algorithm + " is " + actual
                    + ", expected " + expected + "; the download was discarded and nothing was saved, try again");
        }
    }

    private static String hash(String algorithm, byte @Nullable [] prefix, Path file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no " + algorithm, e);
        }
        if (prefix != null) {
            digest.update(prefix);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) >= 0) {
                digest.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** {@code snapshots/<commit>/<name>} → {@code ../../blobs/<etag>}, made under a temporary name and renamed. */
    private static void link(Path snapshot, RemoteFile f, Path blob) throws IOException {
        Path target = snapshot.resolve(f.name());
        Files.createDirectories(target.getParent());
        Path tmp = tempSibling(target);
        Files.deleteIfExists(tmp);
        try {
            Files.createSymbolicLink(tmp, tmp.getParent().relativize(blob));
        } catch (UnsupportedOperationException | FileSystemException e) {
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING); // no symbolic links here (as huggingface_hub on Windows)
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * A temporary name beside {@code file}, unique among processes sharing the cache: the process id alone is not
     * (in containers every server is PID 1).
     */
    private static Path tempSibling(Path file) {
        return file.resolveSibling("." + file.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    }

    private static void writeAtomically(Path file, String content) throws IOException {
        Path tmp = tempSibling(file);
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private JsonNode getJson(URI uri, String repoId, String revision) throws IOException {
        HttpResponse<byte[]> r = send(request(uri).GET().build(), HttpResponse.BodyHandlers.ofByteArray(), repoId, revision);
        if (r.statusCode() != 200) {
            throw new HubException(uri + ": HTTP " + r.statusCode(), r.statusCode(), null);
        }
        return JSON.readTree(r.body());
    }

    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).header("User-Agent", USER_AGENT);
        if (settings.token() != null) {
            b.header("Authorization", "Bearer " + settings.token());
        }
        return b;
    }

    /** Sends; turns 401/403/404 into errors that say what to do. */
    private <T> HttpResponse<T> send(HttpRequest req, HttpResponse.BodyHandler<T> handler, String repoId, String revision)
            throws IOException {
        HttpResponse<T> r;
        try {
            r = http.send(req, handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while talking to " + req.uri(), e);
        }
        int s = r.statusCode();
        if (s == 401 || s == 403 || s == 404) {
            if (r.body() instanceof InputStream in) {
                in.close();
            }
            String what = repoId + "@" + revision + " (" + req.uri() + ")";
            throw switch (s) {
                case 401 -> new HubException("HTTP 401 Unauthorized for " + what + ": "
                        + (settings.token() == null
                        ? "the repository is private or gated; set HF_TOKEN to a token with read access"
                        : "the token in HF_TOKEN was rejected; check it is valid and has read access"), s, null);
                case 403 -> new HubException("HTTP 403 Forbidden for " + what + ": the token has no access; for a gated "
                        + "model, accept its terms on the Hub first", s, null);
                default -> new HubException("HTTP 404 Not Found for " + what + ": no such repository, revision or file"
                        + (settings.token() == null ? " (or it is private: set HF_TOKEN)" : ""), s, null);
            };
        }
        return r;
    }

    private static boolean isRedirect(int status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    }

    private URI apiUrl(String repoId, String revision) {
        return URI.create(settings.endpoint() + "/api/models/" + repoId + "/revision/" + encode(revision) + "?blobs=true");
    }

    private URI resolveUrl(String repoId, String revision, String file) {
        StringBuilder path = new StringBuilder();
        for (String part : file.split("/")) {
            if (!path.isEmpty()) {
                path.append('/');
            }
            path.append(encode(part));
        }
        return URI.create(settings.endpoint() + "/" + repoId + "/resolve/" + encode(revision) + "/" + path);
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
