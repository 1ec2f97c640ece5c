package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * The checksum manifest of an engine directory ({@value #FILE}, written last): size and CRC-32C
 * of every other file, those in subdirectories included (named by their relative path with
 * {@code /}, e.g. {@code kernels/sm_90.cubin}). {@link #verify} re-checks them all, so a truncated
 * file, a flipped byte or a missing file is caught before anything is loaded.
 *
 * <p>CRC-32C, not SHA-256: the manifest guards against accidental damage (a crash, a full disk, a
 * bad copy), which a 32-bit CRC detects (every burst of up to 32 bits, all but 2<sup>-32</sup> of
 * the rest), and it is what every warm start pays. The JVM computes it with the CPU's CRC
 * instruction from the first call (an interpreter intrinsic), about 10 GB/s; SHA-256 runs
 * interpreted until the JIT compiles it, so its first 60 MB took about 340 ms of a 450 ms warm load
 * of stories15M (45 ms once compiled). Cache keys and downloads keep SHA-256.
 */
public final class EngineManifest {
    /** The manifest's file name. */
    public static final String FILE = "checksums.json";
    private static final String ALGORITHM = "crc32c";

    private static final ObjectMapper JSON = new ObjectMapper();

    private EngineManifest() {
    }

    /** Hashes every regular file under {@code dir} and writes the manifest; returns their total size. */
    static long write(Path dir) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("algorithm", ALGORITHM);
        ObjectNode files = root.putObject("files");
        long total = 0;
        for (Path f : listFiles(dir)) {
            ObjectNode entry = files.putObject(name(dir, f));
            long size = Files.size(f);
            entry.put("size", size);
            entry.put(ALGORITHM, crc32c(f));
            total += size;
        }
        Files.write(dir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
        return total + Files.size(dir.resolve(FILE));
    }

    /** Regular files under {@code dir}, the manifest itself excepted, in the order of their names. */
    private static List<Path> listFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).filter(p -> !p.equals(dir.resolve(FILE)))
                    .sorted(Comparator.comparing(p -> name(dir, p))).toList();
        }
    }

    /** A file's name in the manifest: its path relative to {@code dir}, {@code /}-separated. */
    private static String name(Path dir, Path file) {
        Path relative = dir.relativize(file);
        StringBuilder b = new StringBuilder();
        for (Path part : relative) {
            if (!b.isEmpty()) {
                b.append('/');
            }
            b.append(part);
        }
        return b.toString();
    }

    /** CRC-32C of the whole file's content, 8 hex digits (read through a mapping, so any size). */
    static String crc32c(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        Sha256.readMapped(file, crc::update);
        return String.format(Locale.ROOT, "%08x", crc.getValue());
    }

    /**
     * Checks every file the manifest lists: present, same size, same CRC-32C.
     *
     * @throws CorruptEngineException naming the file and what differs
     */
    public static void verify(Path dir) {
        Path manifest = dir.resolve(FILE);
        JsonNode root;
        try {
            root = JSON.readTree(manifest.toFile());
        } catch (IOException e) {
            throw new CorruptEngineException(manifest + ": missing or unreadable (" + e.getMessage() + ")", e);
        }
        JsonNode files = root.path("files");
        if (!root.path("algorithm").asText("").equals(ALGORITHM)) {
            throw new CorruptEngineException(manifest + ": algorithm " + root.path("algorithm") + ", expected \"" + ALGORITHM
                    + "\"");
        }
        if (!files.isObject() || files.isEmpty()) {
            throw new CorruptEngineException(manifest + ": lists no files");
        }
        Path base = dir.toAbsolutePath().normalize();
        for (Map.Entry<String, JsonNode> e : files.properties()) {
            Path f = base.resolve(e.getKey()).normalize();
            if (e.getKey().isEmpty() || e.getKey().startsWith("/") || e.getKey().contains("\\") || !f.startsWith(base)
                    || f.equals(base)) {
                throw new CorruptEngineException(manifest + ": file name '" + e.getKey() + "' leaves the directory");
            }
            long expectedSize = e.getValue().path("size").asLong(-1);
            String expectedCrc = e.getValue().path(ALGORITHM).asText("");
            try {
                if (!Files.isRegularFile(f)) {
                    throw new CorruptEngineException(f + ": missing (listed in " + FILE + ")");
                }
                long size = Files.size(f);
                if (size != expectedSize) {
                    throw new CorruptEngineException(f + ": " + size + " bytes, expected " + expectedSize + " (truncated or replaced)");
                }
                String crc = crc32c(f);
                if (!crc.equals(expectedCrc)) {
                    throw new CorruptEngineException(f + ": crc32c " + crc + ", expected " + expectedCrc + " (content changed)");
                }
            } catch (IOException ex) {
                throw new CorruptEngineException(f + ": unreadable (" + ex + ")", ex);
            }
        }
    }
}
