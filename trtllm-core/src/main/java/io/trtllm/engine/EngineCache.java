package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.CacheDirectory;
import io.trtllm.runtime.cuda.CudaBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine cache: engines keyed by what they are built from and for, under
 * {@code <cache root>/engines/<key>/} (the engine's files plus {@value #METADATA}).
 *
 * <p><b>Key</b>: SHA-256 of the engine format version, the {@link ModelIdentity} of the checkpoint
 * (resolved path; size, modification time and header hash of every weight file; hashes of its
 * config and tokenizer files), the {@link BuildConfig}, the {@link Device} (backend and
 * architecture: the CPU's, or the GPU's SM that a CUDA engine's kernels are compiled for) and, for a
 * CUDA engine with kernels, the SHA-256 of the kernel source. The same inputs give the same key in
 * every run; any change gives another.
 *
 * <p><b>Safety</b>: a per-key file lock (plus an in-process lock, as a JVM holds a file lock once)
 * serializes building, verifying and removing an entry, so two processes that miss together build
 * once and the second reuses the result. Entries are built in a temporary directory and published
 * with an atomic rename. Every load re-checks the entry's {@link EngineManifest}; a corrupt or
 * partial entry is removed with a warning and rebuilt, never loaded. While loaded, an entry's
 * in-use file ({@code .locks/<key>.inuse}) is held with a shared lock.
 *
 * <p><b>Eviction</b>: after each build, the least recently used entries beyond {@code max_records}
 * or {@code max_size_bytes} are removed, skipping any that is in use or locked by a builder.
 */
public final class EngineCache {
    private static final Logger LOG = LoggerFactory.getLogger(EngineCache.class);
    /** Per-entry metadata: key inputs, created, last used, size. Not covered by the manifest (it changes). */
    public static final String METADATA = "metadata.json";
    /** Folder of the cache root that holds engines. */
    public static final String ENGINES = "engines";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
    private static final Map<Path, ReentrantLock> LOCAL_LOCKS = new ConcurrentHashMap<>();

    private final Path engines;
    private final BuildCacheConfig limits;
    private final Clock clock;

    /** A cache at {@code <limits.cacheRoot or CacheDirectory.resolve(cacheDir)>/engines}. */
    public static EngineCache of(BuildCacheConfig limits, @Nullable Path cacheDir) {
        Path root = limits.cacheRoot() != null ? limits.cacheRoot().toAbsolutePath() : CacheDirectory.resolve(cacheDir);
        return new EngineCache(root, limits, Clock.systemUTC());
    }

    /**
     * A cache under {@code cacheRoot}.
     *
     * @param clock the time of "created" and "last used" (tests pass a fixed one)
     */
    public EngineCache(Path cacheRoot, BuildCacheConfig limits, Clock clock) {
        this.engines = cacheRoot.toAbsolutePath().normalize().resolve(ENGINES);
        this.limits = limits;
        this.clock = clock;
    }

    /** {@code <cache root>/engines}. */
    public Path directory() {
        return engines;
    }

    // ---- key ----

    /** The inputs of the key of {@code modelDir} built with {@code config} for {@code device}. */
    public static ObjectNode keyInputs(Path modelDir, BuildConfig config, Device device) {
        ObjectNode o = JSON.createObjectNode();
        o.put("engine_format_version", EngineConfig.FORMAT_VERSION);
        o.set("model", ModelIdentity.of(modelDir));
        o.set("build_config", config.toJson());
        o.set("device", device.toJson());
        if (device.hasCudaKernels()) {
            o.put("cuda_kernels_sha256", CudaBackend.kernelsSourceSha256());
        }
        return o;
    }

    /** SHA-256 (hex) of the canonical JSON of {@code keyInputs}. */
    public static String key(JsonNode keyInputs) {
        try {
            // Round-trip through a map so that every object's keys are sorted: one spelling per input.
            Object canonical = JSON.treeToValue(keyInputs, Object.class);
            return Sha256.hex(JSON.writeValueAsString(canonical));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- acquire ----

    /**
     * The engine of {@code modelDir} for {@code config}: shared if this process has it loaded, else
     * loaded from the cache after verification, else built (also when the entry is corrupt, or
     * {@code skipBuildCache} asks to replace it).
     */
    public EngineLease acquire(Path modelDir, BuildConfig config, Device device, boolean skipBuildCache,
                               BuildProgress progress) {
        long start = System.nanoTime();
        ObjectNode inputs = keyInputs(modelDir, config, device);
        String key = key(inputs);
        Path entry = engines.resolve(key);
        if (!skipBuildCache) {
            LoadedEngine shared = LoadedEngine.retain(entry);
            if (shared != null) {
                touch(entry);
                LOG.info("Engine cache hit {} (already loaded in this process, weights shared)", key);
                return new EngineLease(shared, new EngineLoad(EngineLoad.Kind.SHARED, entry, key, null, since(start)));
            }
        }
        try {
            Files.createDirectories(engines.resolve(".locks"));
        } catch (IOException e) {
            throw diskError(e);
        }
        try (KeyLock ignored = KeyLock.acquire(lockFile(key), true)) {
            removeLeftovers(key);
            String reason = null;
            if (Files.exists(entry)) {
                if (skipBuildCache) {
                    reason = "skip_build_cache is set";
                    LOG.info("Engine cache entry {}: {}; rebuilding it", entry, reason);
                    remove(entry);
                } else {
                    LoadedEngine shared = LoadedEngine.retain(entry); // built by another thread while we waited
                    if (shared != null) {
                        touch(entry);
                        return new EngineLease(shared, new EngineLoad(EngineLoad.Kind.SHARED, entry, key, null, since(start)));
                    }
                    try {
                        EngineManifest.verify(entry);
                        readMetadata(entry);
                    } catch (CorruptEngineException | IOException e) {
                        reason = e.getMessage();
                        LOG.warn("Engine cache entry {} is corrupt or incomplete ({}); deleting and rebuilding it", entry,
                                reason);
                        remove(entry);
                    }
                }
            }
            EngineLoad.Kind kind;
            if (Files.exists(entry)) {
                kind = EngineLoad.Kind.LOADED_FROM_CACHE;
            } else {
                publish(modelDir, config, device, inputs, key, entry, progress);
                kind = reason == null ? EngineLoad.Kind.BUILT : EngineLoad.Kind.REBUILT;
            }
            touch(entry);
            LoadedEngine engine = LoadedEngine.open(entry, inUseFile(key), false);
            EngineLoad load = new EngineLoad(kind, entry, key, reason, since(start));
            LOG.info("Engine cache {} {} ({} ms): {}", kind == EngineLoad.Kind.LOADED_FROM_CACHE ? "hit" : "miss", key,
                    load.duration().toMillis(), kind == EngineLoad.Kind.LOADED_FROM_CACHE ? "verified and loaded" : "built");
            if (kind.built()) {
                evict(key);
            }
            return new EngineLease(engine, load);
        } catch (IOException e) {
            throw diskError(e);
        }
    }

    /**
     * Loads a prebuilt engine directory as it is, after checking it against its manifest.
     *
     * @throws CorruptEngineException when a file does not match (a prebuilt engine is never rebuilt)
     */
    public static EngineLease openPrebuilt(Path engineDir) {
        long start = System.nanoTime();
        Path dir = engineDir.toAbsolutePath().normalize();
        LoadedEngine shared = LoadedEngine.retain(dir);
        if (shared != null) {
            return new EngineLease(shared, new EngineLoad(EngineLoad.Kind.SHARED, dir, null, null, since(start)));
        }
        EngineManifest.verify(dir);
        LoadedEngine engine = LoadedEngine.open(dir, null, false);
        return new EngineLease(engine, new EngineLoad(EngineLoad.Kind.PREBUILT, dir, null, null, since(start)));
    }

    /** Builds {@code modelDir} into a private directory under the cache root, deleted when the lease closes. */
    public EngineLease buildUncached(Path modelDir, BuildConfig config, Device device, BuildProgress progress) {
        long start = System.nanoTime();
        Path dir = engines.resolve(".uncached-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        new EngineBuilder(config, device).progress(progress).build(modelDir, dir);
        try {
            LoadedEngine engine = LoadedEngine.open(dir, null, true);
            return new EngineLease(engine, new EngineLoad(EngineLoad.Kind.BUILT_UNCACHED, dir, null, null, since(start)));
        } catch (RuntimeException e) {
            EngineBuilder.deleteTree(dir);
            throw e;
        }
    }

    /** Build into {@code .<key>.staging}, add the metadata, rename to the entry. Caller holds the key lock. */
    private void publish(Path modelDir, BuildConfig config, Device device, ObjectNode inputs, String key, Path entry,
                         BuildProgress progress) throws IOException {
        Path staging = engines.resolve("." + key + ".staging");
        EngineBuilder.Result built = new EngineBuilder(config, device).progress(progress).build(modelDir, staging, inputs.with("model"));
        try {
            ObjectNode meta = JSON.createObjectNode();
            meta.put("key", key);
            meta.set("key_inputs", inputs);
            Instant now = clock.instant();
            meta.put("created", now.toString());
            meta.put("last_used", now.toString());
            meta.put("size_bytes", built.bytes());
            meta.put("build_seconds", built.duration().toMillis() / 1e3);
            writeJson(staging.resolve(METADATA), meta);
            Files.move(staging, entry, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            EngineBuilder.deleteTree(staging);
        }
    }

    // ---- metadata ----

    private static JsonNode readMetadata(Path entry) throws IOException {
        JsonNode m = JSON.readTree(entry.resolve(METADATA).toFile());
        if (m == null || !m.path("last_used").isTextual() || !m.path("key").isTextual()) {
            throw new IOException(entry.resolve(METADATA) + ": missing key or last_used");
        }
        return m;
    }

    /** Sets last_used to now (best effort: a failure is logged, the engine still loads). */
    private void touch(Path entry) {
        try {
            ObjectNode m = (ObjectNode) readMetadata(entry);
            m.put("last_used", clock.instant().toString());
            writeJson(entry.resolve(METADATA), m);
        } catch (IOException | RuntimeException e) {
            LOG.debug("Could not update last_used of {}: {}", entry, e.toString());
        }
    }

    private static void writeJson(Path file, JsonNode node) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-"
                + Thread.currentThread().threadId());
        Files.write(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node));
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    // ---- listing and eviction ----

    /**
     * One cache entry as listed.
     *
     * @param key       its key (the directory name)
     * @param directory the entry
     * @param model     the checkpoint it was built from (resolved path), or "?" when the metadata is unreadable
     * @param buildConfig its build config JSON, or null when unreadable
     * @param created   when it was built
     * @param lastUsed  when it was last loaded
     * @param sizeBytes bytes on disk
     * @param inUse     whether a process has it loaded
     */
    public record Entry(String key, Path directory, String model, @Nullable JsonNode buildConfig, Instant created,
                        Instant lastUsed, long sizeBytes, boolean inUse) {
    }

    /** The entries, least recently used first. */
    public List<Entry> list() {
        List<Entry> out = new ArrayList<>();
        if (!Files.isDirectory(engines)) {
            return out;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(engines, p -> !p.getFileName().toString().startsWith("."))) {
            for (Path dir : dirs) {
                if (Files.isDirectory(dir)) {
                    out.add(describe(dir));
                }
            }
        } catch (IOException e) {
            throw diskError(e);
        }
        out.sort(Comparator.comparing(Entry::lastUsed).thenComparing(Entry::key));
        return out;
    }

    private Entry describe(Path dir) throws IOException {
        String key = dir.getFileName().toString();
        long size = sizeOf(dir);
        boolean inUse = isInUse(key);
        try {
            JsonNode m = readMetadata(dir);
            return new Entry(key, dir, m.path("key_inputs").path("model").path("path").asText("?"),
                    m.path("key_inputs").path("build_config"), Instant.parse(m.path("created").asText()),
                    Instant.parse(m.path("last_used").asText()), size, inUse);
        } catch (IOException | RuntimeException e) {
            // No readable metadata (interrupted by a crash, or edited): oldest of all, evicted first.
            Instant mtime = Files.getLastModifiedTime(dir).toInstant();
            return new Entry(key, dir, "?", null, mtime, Instant.EPOCH, size, inUse);
        }
    }

    /**
     * Removes the least recently used entries until at most {@code max_records} and
     * {@code max_size_bytes} remain, never {@code keep}, an entry in use, or one being built.
     *
     * @return the keys removed
     */
    public List<String> evict(@Nullable String keep) {
        List<Entry> entries = list();
        long count = entries.size();
        long size = entries.stream().mapToLong(Entry::sizeBytes).sum();
        List<String> removed = new ArrayList<>();
        for (Entry e : entries) {
            if (count <= limits.maxRecords() && size <= limits.maxSizeBytes()) {
                break;
            }
            if (e.key().equals(keep)) {
                continue;
            }
            if (removeIfIdle(e, "evicted (least recently used; cache over " + limits.maxRecords() + " records or "
                    + limits.maxSizeBytes() + " bytes)")) {
                removed.add(e.key());
                count--;
                size -= e.sizeBytes();
            }
        }
        if (count > limits.maxRecords() || size > limits.maxSizeBytes()) {
            LOG.info("Engine cache {} holds {} entries, {} bytes, over its limits, but the rest is in use", engines, count,
                    size);
        }
        return removed;
    }

    /**
     * Removes every entry that is not in use.
     *
     * @return the keys removed
     */
    public List<String> clear() {
        List<String> removed = new ArrayList<>();
        for (Entry e : list()) {
            if (removeIfIdle(e, "cleared")) {
                removed.add(e.key());
            }
        }
        return removed;
    }

    /** Removes an entry unless it is in use or locked; true when removed. */
    private boolean removeIfIdle(Entry e, String why) {
        try {
            Files.createDirectories(engines.resolve(".locks"));
            try (KeyLock lock = KeyLock.acquire(lockFile(e.key()), false)) {
                if (lock == null) {
                    LOG.debug("Engine cache entry {} is being built or loaded; kept", e.key());
                    return false;
                }
                try (KeyLock idle = KeyLock.tryExclusive(inUseFile(e.key()))) {
                    if (idle == null || LoadedEngine.isLoaded(e.directory())) {
                        LOG.debug("Engine cache entry {} is in use; kept", e.key());
                        return false;
                    }
                    remove(e.directory());
                    LOG.info("Engine cache entry {} {} ({} MiB, last used {})", e.key(), why, e.sizeBytes() >> 20,
                            e.lastUsed());
                    return true;
                }
            }
        } catch (IOException ex) {
            LOG.warn("Could not remove engine cache entry {}: {}", e.directory(), ex.toString());
            return false;
        }
    }

    private boolean isInUse(String key) {
        if (LoadedEngine.isLoaded(engines.resolve(key))) {
            return true;
        }
        Path file = inUseFile(key);
        if (!Files.exists(file)) {
            return false;
        }
        try (KeyLock idle = KeyLock.tryExclusive(file)) {
            return idle == null;
        } catch (IOException e) {
            return true;
        }
    }

    /** Renames the entry out of the way (so nobody sees it half-deleted), then deletes it. Caller holds the key lock. */
    private void remove(Path entry) throws IOException {
        LoadedEngine.detach(entry); // holders keep their mapping; new loads map the replacement
        Path trash = engines.resolve(".trash-" + entry.getFileName() + "-" + System.nanoTime());
        Files.move(entry, trash, StandardCopyOption.ATOMIC_MOVE);
        EngineBuilder.deleteTree(trash);
    }

    /** Temporary and trash directories that a crashed process left for {@code key}. Caller holds the key lock. */
    private void removeLeftovers(String key) throws IOException {
        try (DirectoryStream<Path> stale = Files.newDirectoryStream(engines,
                p -> p.getFileName().toString().startsWith("." + key + ".")
                        || p.getFileName().toString().startsWith(".trash-" + key + "-"))) {
            for (Path p : stale) {
                LOG.info("Removing {} left by an interrupted build", p);
                EngineBuilder.deleteTree(p);
            }
        }
    }

    private static long sizeOf(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            long total = 0;
            for (Path p : files.filter(Files::isRegularFile).toList()) {
                total += Files.size(p);
            }
            return total;
        }
    }

    private Path lockFile(String key) {
        return engines.resolve(".locks").resolve(key + ".lock");
    }

    private Path inUseFile(String key) {
        return engines.resolve(".locks").resolve(key + ".inuse");
    }

    private static Duration since(long startNanos) {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    private UncheckedIOException diskError(IOException e) {
        return new UncheckedIOException("engine cache " + engines + ": " + e + ". Check free disk space and write permission"
                + " there, or set " + CacheDirectory.ENV + " to another directory.", e);
    }

    /** An exclusive file lock plus its in-process lock (a JVM holds a file lock once); closing releases both. */
    private static final class KeyLock implements AutoCloseable {
        private final @Nullable ReentrantLock local;
        private final FileChannel channel;

        private KeyLock(@Nullable ReentrantLock local, FileChannel channel) {
            this.local = local;
            this.channel = channel;
        }

        /** Locks {@code file}; when {@code wait} is false, returns null if someone holds it. */
        static @Nullable KeyLock acquire(Path file, boolean wait) throws IOException {
            ReentrantLock local = LOCAL_LOCKS.computeIfAbsent(file, k -> new ReentrantLock());
            if (wait) {
                local.lock();
            } else if (!local.tryLock()) {
                return null;
            }
            FileChannel channel = null;
            try {
                channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
                FileLock lock = channel.tryLock();
                if (lock == null && wait) {
                    LOG.info("Waiting for another process that is building or loading the same engine (lock {})", file);
                    lock = channel.lock();
                }
                if (lock == null) {
                    channel.close();
                    local.unlock();
                    return null;
                }
                return new KeyLock(local, channel);
            } catch (ClosedByInterruptException e) {
                Thread.currentThread().interrupt();
                local.unlock();
                throw e;
            } catch (IOException | RuntimeException e) {
                if (channel != null) {
                    channel.close();
                }
                local.unlock();
                throw e;
            }
        }

        /** An exclusive lock on an in-use file, or null when anyone (this process included) holds it shared. */
        static @Nullable KeyLock tryExclusive(Path file) throws IOException {
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            try {
                FileLock lock = channel.tryLock();
                if (lock == null) {
                    channel.close();
                    return null;
                }
                return new KeyLock(null, channel);
            } catch (OverlappingFileLockException e) {
                channel.close();
                return null;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                channel.close();
            } finally {
                if (local != null) {
                    local.unlock();
                }
            }
        }
    }
}
