package io.trtllm.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;

/**
 * Copies an engine directory where a caller wants it, as TensorRT-LLM's {@code LLM.save}: the files an
 * engine is (weights, config, tokenizer files, the checksum manifest), without the cache's own
 * bookkeeping, so that the copy loads later as a prebuilt engine.
 */
public final class EngineExport {
    /** The cache's bookkeeping, not part of the engine. */
    private static final String CACHE_METADATA = EngineCache.METADATA;

    private EngineExport() {
    }

    /**
     * Writes a copy of {@code engineDir} to {@code target}, which must not exist or be an empty directory.
     * The copy is made beside it and renamed into place once verified against its manifest, so that
     * {@code target} never holds half an engine. Nothing happens when {@code target} is {@code engineDir}.
     *
     * @throws IllegalArgumentException when {@code target} exists and is not an empty directory
     * @throws UncheckedIOException     when copying fails (what was written is removed)
     */
    public static void save(Path engineDir, Path target) {
        Path from = engineDir.toAbsolutePath().normalize();
        Path to = target.toAbsolutePath().normalize();
        if (from.equals(to)) {
            return;
        }
        try {
            if (Files.exists(to) && !isEmptyDirectory(to)) {
                throw new IllegalArgumentException("cannot save the engine to " + target + ": it exists and is not an empty "
                        + "directory");
            }
            Path parent = to.getParent();
            Files.createDirectories(parent);
            Path staging = Files.createTempDirectory(parent, "." + to.getFileName() + ".saving-");
            try {
                // Subdirectories too: a split engine's rank<r>/ weights, a CUDA engine's kernels/.
                try (Stream<Path> files = Files.walk(from)) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        Path relative = from.relativize(f);
                        String top = relative.getName(0).toString();
                        if (!relative.toString().equals(CACHE_METADATA) && !top.startsWith(".")) {
                            Path copy = staging.resolve(relative.toString());
                            Files.createDirectories(copy.getParent());
                            Files.copy(f, copy);
                        }
                    }
                }
                EngineManifest.verify(staging);
                Files.deleteIfExists(to); // an empty directory, checked above
                Files.move(staging, to, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                if (Files.exists(staging)) {
                    EngineBuilder.deleteTree(staging);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("saving the engine to " + target + ": " + e.getMessage(), e);
        }
    }

    private static boolean isEmptyDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        }
    }
}
