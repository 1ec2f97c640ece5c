package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.Parallelism;
import io.trtllm.runtime.cuda.CudaBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
 *
 * <p><b>Leftovers</b>: a process killed while it builds, replaces or removes an entry leaves a
 * staging, temporary or trash directory ({@code ..<key>.staging.tmp-*}, {@code .<key>.staging},
 * {@code .trash-<key>-*}, {@code .uncached-*}). Each has an owner lock that its writer holds for as
 * long as it writes (the key lock; a private engine's own lock), so a leftover whose lock nobody
 * holds is dead: {@link #sweep()} removes those, at every {@link #acquire} and {@link #clear()}, and
 * reports the ones it must keep.
 *
 * <p><b>Read-only caches</b>: when the cache directory cannot be written (a read-only mount, an
 * immutable directory), a valid entry is still loaded, verified against its manifest, without
 * locks and without updating its last use (logged once as a warning); a missing or corrupt one is
 * an error, as nothing can be built there.
 */
public final class EngineCache {
    private static final Logger LOG = LoggerFactory.getLogger(EngineCache.class);
    /** Per-entry metadata: key inputs, created, last used, size. Not covered by the manifest (it changes). */
    public static final String METADATA = "metadata.json";
    /** Folder of the cache root that holds engines. */
    public static final String ENGINES = "engines";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);
    private static final Map<Path, ReentrantLock> LOCAL_LOCKS = new ConcurrentHashMap<>();

    /** Names of the directories a writer of {@code <key>} leaves when killed: its owner lock is the key lock. */
    private static final Pattern KEYED_LEFTOVER = Pattern.compile(
            "\\.\\.?(?<key>[0-9a-f]{64})\\.staging(\\.tmp-.*)?|\\.trash-(?<trashed>[0-9a-f]{64})-\\d+");
    /** Names of a private (uncached) engine's directory and its builder's temporary one. */
    private static final Pattern UNCACHED = Pattern.compile("\\.\\.?(?<id>uncached-\\d+-\\d+)(\\.tmp-.*)?");
    private static final String LOCKS = ".locks";

    private final Path engines;
    private final BuildCacheConfig limits;
    private final Clock clock;
    private SpaceProbe spaceProbe = SpaceProbe.FILE_STORE;
    private final AtomicBoolean readOnlyWarned = new AtomicBoolean();

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

    /** Replaces how free space is measured before a build (tests of a full disk). */
    EngineCache spaceProbe(SpaceProbe probe) {
        this.spaceProbe = probe;
        return this;
    }

    // ---- key ----

    /** The inputs of the key of {@code modelDir} built with {@code config} for {@code device}, on one rank. */
    public static ObjectNode keyInputs(Path modelDir, BuildConfig config, Device device) {
        return keyInputs(modelDir, config, device, Parallelism.NONE);
    }

    /**
     * The inputs of the key of {@code modelDir} built with {@code config} for {@code device}, split as {@code mapping}
     * says: a split engine (its tp_size, pp_size and rank count) is another entry; one rank adds nothing, so the keys
     * of engines built before splits existed stay valid.
     */
    public static ObjectNode keyInputs(Path modelDir, BuildConfig config, Device device, Parallelism mapping) {
        ObjectNode o = JSON.createObjectNode();
        o.put("engine_format_version", EngineConfig.FORMAT_VERSION);
        o.set("model", ModelIdentity.of(modelDir));
        // Only what the engine's files depend on: runtime limits would rebuild identical weights (issue #18).
        o.set("build_config", BuildConfigJson.writeKey(config));
        if (config.quantization() == Quantization.FP8) {
            // What an FP8 engine holds changed with its recipe: an entry of another recipe is another key, rebuilt.
            o.put("fp8_recipe", CudaQuantizedTransform.FP8_RECIPE);
        }
        o.set("device", device.toJson());
        if (device.hasCudaKernels()) {
            o.put("cuda_kernels_sha256", CudaBackend.kernelsSourceSha256());
        }
        if (!mapping.single()) {
            ObjectNode m = o.putObject("mapping");
            m.put("world_size", mapping.worldSize());
            m.put("tp_size", mapping.tensorParallelSize());
            m.put("pp_size", mapping.pipelineParallelSize());
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
        return acquire(modelDir, config, device, Parallelism.NONE, skipBuildCache, progress);
    }

    /** {@link #acquire(Path, BuildConfig, Device, boolean, BuildProgress)} of the engine split as {@code mapping}. */
    public EngineLease acquire(Path modelDir, BuildConfig config, Device device, Parallelism mapping,
                               boolean skipBuildCache, BuildProgress progress) {
        long start = System.nanoTime();
        ObjectNode inputs = keyInputs(modelDir, config, device, mapping);
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
        if (isReadOnly()) {
            return acquireReadOnly(entry, key, skipBuildCache, start);
        }
        try {
            Files.createDirectories(engines.resolve(LOCKS));
        } catch (IOException e) {
            throw diskError(e);
        }
        sweep();
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
                publish(modelDir, config, device, mapping, inputs, key, entry, progress);
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
     * Whether the cache directory exists but cannot be written (checked with {@code access(2)}, which
     * also says no to root on a read-only mount or an immutable directory).
     */
    private boolean isReadOnly() {
        Path locks = engines.resolve(LOCKS);
        return Files.isDirectory(engines)
                && (!Files.isWritable(engines) || Files.isDirectory(locks) && !Files.isWritable(locks));
    }

    /**
     * A valid entry of a read-only cache, loaded without locks: nothing here can build, evict or replace
     * it, and a writer elsewhere only ever renames entries away, which leaves this mapping intact.
     */
    private EngineLease acquireReadOnly(Path entry, String key, boolean skipBuildCache, long start) {
        String advice = "; make it writable, or point " + CacheDirectory.ENV + " (trtllm.cache.dir) at a writable "
                + "directory";
        if (skipBuildCache) {
            throw new UncheckedIOException(new AccessDeniedException(engines.toString(), null, "engine cache is read-only: "
                    + "skip_build_cache cannot rebuild engine " + key + advice));
        }
        if (!Files.isDirectory(entry)) {
            throw new UncheckedIOException(new AccessDeniedException(engines.toString(), null, "engine cache is read-only "
                    + "and holds no engine " + key + " for this model and build config, which cannot be built there"
                    + advice));
        }
        try {
            EngineManifest.verify(entry);
            readMetadata(entry);
        } catch (CorruptEngineException | IOException e) {
            throw new UncheckedIOException(new AccessDeniedException(entry.toString(), null, "engine cache is read-only "
                    + "and this entry is corrupt or incomplete (" + e.getMessage() + "); it cannot be rebuilt there"
                    + advice));
        }
        if (readOnlyWarned.compareAndSet(false, true)) {
            LOG.warn("Engine cache {} is read-only: loading its engines without locks (a process that can write there "
                    + "may evict them meanwhile; this one keeps its mapping) and without updating their last use",
                    engines);
        }
        LoadedEngine engine = LoadedEngine.open(entry, null, false);
        EngineLoad load = new EngineLoad(EngineLoad.Kind.LOADED_FROM_CACHE, entry, key, null, since(start));
        LOG.info("Engine cache hit {} ({} ms): verified and loaded from a read-only cache", key, load.duration().toMillis());
        return new EngineLease(engine, load);
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
        return buildUncached(modelDir, config, device, Parallelism.NONE, progress);
    }

    /** {@link #buildUncached(Path, BuildConfig, Device, BuildProgress)} of the engine split as {@code mapping}. */
    public EngineLease buildUncached(Path modelDir, BuildConfig config, Device device, Parallelism mapping,
                                     BuildProgress progress) {
        long start = System.nanoTime();
        progress.beforeBuild();
        String id = "uncached-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        Path dir = engines.resolve("." + id);
        Path ownerLock = engines.resolve(LOCKS).resolve(id + ".lock");
        KeyLock owner;
        try {
            Files.createDirectories(ownerLock.getParent());
            sweep();
            // Held from before the build until the lease closes: a sweep removes the directory only once it is free.
            owner = KeyLock.acquire(ownerLock, true);
        } catch (IOException e) {
            throw diskError(e);
        }
        Runnable release = () -> {
            try {
                Files.deleteIfExists(ownerLock); // a unique name, which no other process ever locks
                owner.close();
            } catch (IOException e) {
                LOG.debug("releasing {}: {}", ownerLock, e.toString());
            }
        };
        try {
            new EngineBuilder(config, device).parallelism(mapping).progress(progress).spaceProbe(spaceProbe)
                    .build(modelDir, dir);
            LoadedEngine engine = LoadedEngine.open(dir, null, true);
            return new EngineLease(engine, new EngineLoad(EngineLoad.Kind.BUILT_UNCACHED, dir, null, null, since(start)),
                    release);
        } catch (RuntimeException | Error e) {
            EngineBuilder.deleteTree(dir);
            release.run();
            throw e;
        }
    }

    /** Build into {@code .<key>.staging}, add the metadata, rename to the entry. Caller holds the key lock. */
    private void publish(Path modelDir, BuildConfig config, Device device, Parallelism mapping, ObjectNode inputs,
                         String key, Path entry, BuildProgress progress) throws IOException {
        progress.beforeBuild();
        Path staging = engines.resolve("." + key + ".staging");
        EngineBuilder.Result built = new EngineBuilder(config, device).parallelism(mapping).progress(progress)
                .spaceProbe(spaceProbe)
                .build(modelDir, staging, inputs.with("model"));
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

    private void writeJson(Path file, JsonNode node) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-"
                + Thread.currentThread().threadId());
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
        try {
            Files.write(tmp, bytes);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            if (EngineBuilder.isOutOfSpace(e)) {
                throw new NotEnoughSpaceException(file.getParent(), bytes.length, freeOrZero(file.getParent()), "", e);
            }
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private long freeOrZero(Path dir) {
        try {
            return spaceProbe.usableBytes(dir);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    // ---- listing and eviction ----

    /**
     * One cache entry as listed.
     *
     * @param key       its key (the directory name)
     * @param directory the entry
     * @param model     the checkpoint it was built from (resolved path), or "?" when the metadata is unreadable
     * @param buildConfig its build config JSON (the key's part: limits, dtype, quantization), or null when unreadable
     * @param device    the device JSON it was built for (backend, arch, vector width), or null when unreadable
     * @param created   when it was built
     * @param lastUsed  when it was last loaded
     * @param sizeBytes bytes on disk
     * @param inUse     whether a process has it loaded
     */
    public record Entry(String key, Path directory, String model, @Nullable JsonNode buildConfig, Instant created,
                        Instant lastUsed, long sizeBytes, boolean inUse, @Nullable JsonNode device) {
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
                    Instant.parse(m.path("last_used").asText()), size, inUse, m.path("key_inputs").path("device"));
        } catch (IOException | RuntimeException e) {
            // No readable metadata (interrupted by a crash, or edited): oldest of all, evicted first.
            Instant mtime = Files.getLastModifiedTime(dir).toInstant();
            return new Entry(key, dir, "?", null, mtime, Instant.EPOCH, size, inUse, null);
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
        sweep();
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

    /**
     * Staging, temporary and trash directories that a killed process left for {@code key}: dead for
     * sure, as the caller holds the key lock that their writer held.
     */
    private void removeLeftovers(String key) throws IOException {
        try (DirectoryStream<Path> stale = Files.newDirectoryStream(engines, p -> key.equals(ownerKey(p)))) {
            for (Path p : stale) {
                LOG.info("Removing {} left by an interrupted build", p);
                EngineBuilder.deleteTree(p);
            }
        }
    }

    /** The key whose lock guards the leftover {@code p}, or null when it is not a keyed leftover. */
    private static @Nullable String ownerKey(Path p) {
        Matcher m = KEYED_LEFTOVER.matcher(p.getFileName().toString());
        if (!m.matches()) {
            return null;
        }
        return m.group("key") != null ? m.group("key") : m.group("trashed");
    }

    /**
     * Something in the cache directory that is not an entry: what a killed build, removal or private
     * engine left, or a file the cache did not make.
     *
     * @param path        where it is
     * @param sizeBytes   bytes on disk
     * @param keptBecause why it is still there, or null when it was removed
     */
    public record Leftover(Path path, long sizeBytes, @Nullable String keptBecause) {
    }

    /**
     * What a {@link #sweep()} found.
     *
     * @param removed leftovers of dead writers, removed
     * @param kept    leftovers still there, each with why: a live process holds its lock, it could not be
     *                removed (a read-only directory), or the cache did not make it
     */
    public record Sweep(List<Leftover> removed, List<Leftover> kept) {
        /** Bytes freed. */
        public long removedBytes() {
            return removed.stream().mapToLong(Leftover::sizeBytes).sum();
        }
    }

    /**
     * Removes the leftovers of dead writers: every staging, temporary, trash or private-engine
     * directory whose owner lock nobody holds (a live builder holds it for as long as it writes;
     * the kernel releases it when the process dies, also on {@code kill -9}).
     */
    public Sweep sweep() {
        List<Leftover> removed = new ArrayList<>();
        List<Leftover> kept = new ArrayList<>();
        if (!Files.isDirectory(engines)) {
            return new Sweep(removed, kept);
        }
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(engines,
                p -> p.getFileName().toString().startsWith(".") && !p.getFileName().toString().equals(LOCKS))) {
            dirs.forEach(candidates::add);
        } catch (IOException e) {
            throw diskError(e);
        }
        for (Path p : candidates) {
            long size = sizeOf(p);
            String why = removeIfDead(p);
            if (why == null) {
                removed.add(new Leftover(p, size, null));
            } else if (!why.isEmpty()) {
                kept.add(new Leftover(p, size, why));
            }
        }
        if (!removed.isEmpty()) {
            LOG.info("Engine cache {}: removed {} leftover(s) of interrupted builds ({} MiB): {}", engines, removed.size(),
                    removed.stream().mapToLong(Leftover::sizeBytes).sum() >> 20,
                    removed.stream().map(l -> l.path().getFileName().toString()).toList());
        }
        for (Leftover l : kept) {
            LOG.debug("Engine cache leftover {} kept: {}", l.path(), l.keptBecause());
        }
        return new Sweep(removed, kept);
    }

    /** Removes {@code p} if its owner is dead: null when removed, "" when it vanished meanwhile, else why it stays. */
    private @Nullable String removeIfDead(Path p) {
        String name = p.getFileName().toString();
        String key = ownerKey(p);
        Matcher uncached = UNCACHED.matcher(name);
        Path lock;
        @Nullable Path inUse = null;
        if (key != null) {
            lock = lockFile(key);
        } else if (uncached.matches()) {
            lock = engines.resolve(LOCKS).resolve(uncached.group("id") + ".lock");
        } else {
            return "not made by the engine cache; left alone";
        }
        try (KeyLock owner = KeyLock.acquire(lock, false)) {
            if (owner == null) {
                return "a live process holds its lock " + engines.relativize(lock) + " (building or using it)";
            }
            if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                return "";
            }
            EngineBuilder.deleteTree(p);
            if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                return "could not remove it (see the log)";
            }
            if (key == null) {
                Files.deleteIfExists(lock); // a private engine's lock: its name is never used again
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return "could not remove it: " + e.getMessage();
        }
    }

    /** Bytes of the regular files under {@code dir}; files that vanish meanwhile count as nothing. */
    private static long sizeOf(Path dir) {
        long[] total = {0};
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    if (attrs.isRegularFile()) {
                        total[0] += attrs.size();
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.debug("sizing {}: {}", dir, e.toString());
        }
        return total[0];
    }

    private Path lockFile(String key) {
        return engines.resolve(LOCKS).resolve(key + ".lock");
    }

    private Path inUseFile(String key) {
        return engines.resolve(LOCKS).resolve(key + ".inuse");
    }

    private static Duration since(long startNanos) {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    private UncheckedIOException diskError(IOException e) {
        if (EngineBuilder.isOutOfSpace(e)) {
            return new NotEnoughSpaceException(engines, 1, freeOrZero(engines), " (" + e.getMessage() + ")", e);
        }
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
            } else if (local.isHeldByCurrentThread() || !local.tryLock()) {
                // Held by this very thread (a sweep while it builds): busy, as for anyone else.
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
            if (LoadedEngine.marksInUse(file)) {
                // Held here: opening and closing a second channel would release this process's shared lock.
                return null;
            }
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
