package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The checksum manifest of an engine directory ({@value #FILE}, written last): size and SHA-256
 * of every other file. {@link #verify} re-hashes them all, so a truncated file, a flipped byte or
 * a missing file is caught before anything is loaded.
 */
public final class EngineManifest {
    /** The manifest's file name. */
    public static final String FILE = "checksums.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    private EngineManifest() {
    }

    /** Hashes every regular file in {@code dir} (not recursive) and writes the manifest; returns their total size. */
    static long write(Path dir) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("algorithm", "sha256");
        ObjectNode files = root.putObject("files");
        long total = 0;
        for (Path f : listFiles(dir)) {
            ObjectNode entry = files.putObject(f.getFileName().toString());
            long size = Files.size(f);
            entry.put("size", size);
            entry.put("sha256", Sha256.ofFile(f));
            total += size;
        }
        Files.write(dir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
        return total + Files.size(dir.resolve(FILE));
    }

    private static List<Path> listFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().equals(FILE)).sorted().toList();
        }
    }

    /**
     * Checks every file the manifest lists: present, same size, same SHA-256.
     *
     * @throws CorruptEngineException naming the file and what differs
     */
    public static void verify(Path dir) {
        Path manifest = dir.resolve(FILE);
        JsonNode files;
        try {
            files = JSON.readTree(manifest.toFile()).path("files");
        } catch (IOException e) {
            throw new CorruptEngineException(manifest + ": missing or unreadable (" + e.getMessage() + ")", e);
        }
        if (!files.isObject() || files.isEmpty()) {
            throw new CorruptEngineException(manifest + ": lists no files");
        }
        for (Map.Entry<String, JsonNode> e : files.properties()) {
            Path f = dir.resolve(e.getKey());
            if (!f.normalize().getParent().equals(dir.normalize())) {
                throw new CorruptEngineException(manifest + ": file name '" + e.getKey() + "' leaves the directory");
            }
            long expectedSize = e.getValue().path("size").asLong(-1);
            String expectedSha = e.getValue().path("sha256").asText("");
            try {
                if (!Files.isRegularFile(f)) {
                    throw new CorruptEngineException(f + ": missing (listed in " + FILE + ")");
                }
                long size = Files.size(f);
                if (size != expectedSize) {
                    throw new CorruptEngineException(f + ": " + size + " bytes, expected " + expectedSize + " (truncated or replaced)");
                }
                String sha = Sha256.ofFile(f);
                if (!sha.equals(expectedSha)) {
                    throw new CorruptEngineException(f + ": sha256 " + sha + ", expected " + expectedSha + " (content changed)");
                }
            } catch (IOException ex) {
                throw new CorruptEngineException(f + ": unreadable (" + ex + ")", ex);
            }
        }
    }
}
