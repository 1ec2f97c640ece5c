package io.trtllm.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards listed in
 * {@code model.safetensors.index.json}. Owns the mapped files; closing it unmaps them.
 *
 * <p>Like transformers, a single {@code model.safetensors} wins over an index when both are present.
 * Shards are mapped once each, and every tensor name must live in exactly one shard: a name in two
 * shards would make the loaded weights depend on read order.
 *
 * <p>Shard names in the index are untrusted: they must be relative paths that stay inside the
 * directory (checked lexically, not by resolving links, because the Hugging Face hub cache stores
 * every file as a symlink into a {@code blobs/} folder outside the snapshot directory).
 */
public final class Checkpoint implements TensorSource, AutoCloseable {

    /** Single-file checkpoint name. */
    public static final String SINGLE_FILE = "model.safetensors";

    /** Sharded checkpoint index name: {@code {"weight_map": {tensorName: shardFile}}}. */
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static final Logger log = LoggerFactory.getLogger(Checkpoint.class);

    private final Path directory;
    private final List<SafeTensors> shards;
    private final Map<String, SafeTensors> byName;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Checkpoint(Path directory, List<SafeTensors> shards, Map<String, SafeTensors> byName) {
        this.directory = directory;
        this.shards = shards;
        this.byName = byName;
    }

    /** Opens the weights of {@code modelDir}; errors name the directory, file and tensor. */
    public static Checkpoint open(Path modelDir) {
        if (!Files.isDirectory(modelDir)) {
            throw new ModelFormatException(modelDir + ": not a directory (expected a Hugging Face model directory)");
        }
        Path single = modelDir.resolve(SINGLE_FILE);
        Path index = modelDir.resolve(INDEX_FILE);
        if (Files.exists(single)) {
            if (Files.exists(index)) {
                log.info("{}: both {} and {} present; using {} as transformers does", modelDir, SINGLE_FILE,
                        INDEX_FILE, SINGLE_FILE);
            }
            return fromShards(modelDir, List.of(single), null);
        }
        if (Files.exists(index)) {
            Map<String, Path> weightMap = readIndex(modelDir, index);
            List<Path> shardFiles = weightMap.values().stream().distinct().toList();
            return fromShards(modelDir, shardFiles, weightMap);
        }
        throw noWeights(modelDir);
    }

    /**
     * The files that hold the weights of {@code modelDir}, chosen as {@link #open} chooses them:
     * {@code model.safetensors}, else the index followed by the distinct shards it lists (each
     * checked to stay inside the directory). Nothing is mapped.
     *
     * @throws ModelFormatException when there are no weights or the index is invalid
     */
    public static List<Path> weightFiles(Path modelDir) {
        Path single = modelDir.resolve(SINGLE_FILE);
        if (Files.exists(single)) {
            return List.of(single);
        }
        Path index = modelDir.resolve(INDEX_FILE);
        if (Files.exists(index)) {
            List<Path> files = new ArrayList<>();
            files.add(index);
            readIndex(modelDir, index).values().stream().distinct().forEach(files::add);
            return List.copyOf(files);
        }
        throw noWeights(modelDir);
    }

    private static ModelFormatException noWeights(Path modelDir) {
        StringBuilder msg = new StringBuilder(modelDir + ": no weights found; expected " + SINGLE_FILE + " or "
                + INDEX_FILE + " with the shards it lists");
        for (String bin : List.of("pytorch_model.bin", "pytorch_model.bin.index.json")) {
            if (Files.exists(modelDir.resolve(bin))) {
                msg.append("; found ").append(bin).append(", but .bin (PyTorch pickle) checkpoints are not supported: "
                        + "convert to safetensors (e.g. load with transformers and save_pretrained(dir, "
                        + "safe_serialization=True))");
                break;
            }
        }
        return new ModelFormatException(msg.toString());
    }

    /** Reads the index's weight map (tensor name to shard path), checking that each shard stays in the directory. */
    private static Map<String, Path> readIndex(Path modelDir, Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(index + ": not valid JSON: " + e.getMessage(), e);
        }
        @Nullable JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new ModelFormatException(index + ": expected an object with a 'weight_map' object "
                    + "{tensorName: shardFile}");
        }
        if (weightMap.isEmpty()) {
            throw new ModelFormatException(index + ": 'weight_map' lists no tensors");
        }
        Map<String, Path> out = new LinkedHashMap<>();
        Map<String, Path> checkedShards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(index + ": tensor '" + e.getKey() + "': shard must be a file name, got "
                        + e.getValue());
            }
            String shard = e.getValue().asText();
            Path path = checkedShards.get(shard);
            if (path == null) {
                path = shardPath(modelDir, index, shard);
                checkedShards.put(shard, path);
            }
            out.put(e.getKey(), path);
        }
        return out;
    }

    private static Path shardPath(Path modelDir, Path index, String shard) {
        Path rel;
        try {
            rel = Path.of(shard);
        } catch (InvalidPathException e) {
            throw new ModelFormatException(index + ": shard '" + shard + "' is not a valid file name", e);
        }
        boolean escapes = shard.isEmpty() || rel.isAbsolute() || rel.getRoot() != null;
        for (Path part : rel) {
            escapes |= part.toString().equals("..");
        }
        if (escapes) {
            throw new ModelFormatException(index + ": shard '" + shard + "' must be a relative path inside "
                    + modelDir + " (no '..', not absolute)");
        }
        Path path = modelDir.resolve(rel);
        if (!Files.exists(path)) {
            throw new ModelFormatException(index + ": shard '" + shard + "' is missing (expected " + path + ")");
        }
        return path;
    }

    /**
     * Maps every shard and builds the name table. {@code weightMap} (null for a single file) must
     * agree with the shards' headers. On any error the shards mapped so far are closed.
     */
    private static Checkpoint fromShards(Path modelDir, List<Path> files,
            @Nullable Map<String, Path> weightMap) {
        List<SafeTensors> opened = new ArrayList<>();
        try {
            Map<String, SafeTensors> byName = new LinkedHashMap<>();
            Map<Path, SafeTensors> byFile = new LinkedHashMap<>();
            for (Path f : files) {
                SafeTensors st = SafeTensors.open(f);
                opened.add(st);
                byFile.put(f, st);
                for (String name : st.names()) {
                    SafeTensors other = byName.putIfAbsent(name, st);
                    if (other != null) {
                        throw new ModelFormatException(modelDir + ": tensor '" + name + "' is in two shards, "
                                + other.file().getFileName() + " and " + f.getFileName());
                    }
                }
            }
            if (weightMap != null) {
                for (Map.Entry<String, Path> e : weightMap.entrySet()) {
                    if (!byFile.get(e.getValue()).contains(e.getKey())) {
                        throw new ModelFormatException(modelDir.resolve(INDEX_FILE) + ": tensor '" + e.getKey()
                                + "' is listed in shard " + e.getValue().getFileName() + " but absent from it");
                    }
                }
                int unlisted = byName.size() - weightMap.size();
                if (unlisted > 0) {
                    log.warn("{}: {} tensors in the shards are not listed in {}; loading them anyway, as "
                            + "transformers does", modelDir, unlisted, INDEX_FILE);
                }
            }
            log.debug("opened checkpoint {}: {} tensors in {} file(s)", modelDir, byName.size(), opened.size());
            return new Checkpoint(modelDir, List.copyOf(opened), Collections.unmodifiableMap(byName));
        } catch (RuntimeException | Error e) {
            for (SafeTensors st : opened) {
                try {
                    st.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    public Path directory() {
        return directory;
    }

    @Override
    public String location() {
        return directory.toString();
    }

    /** Tensor names, shard by shard in index order, each in its file order. */
    @Override
    public Set<String> names() {
        return byName.keySet();
    }

    @Override
    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** The safetensors file that holds tensor {@code name} (header data: still known after {@link #close()}). */
    public Path fileOf(String name) {
        SafeTensors st = byName.get(name);
        if (st == null) {
            throw new ModelFormatException("tensor '" + name + "' not found in checkpoint " + directory);
        }
        return st.file();
    }

    /** The weight files, in the order they were opened. */
    public List<Path> files() {
        return shards.stream().map(SafeTensors::file).toList();
    }

    /**
     * A tensor by name; missing is a {@link ModelFormatException} naming the directory and tensor.
     *
     * @throws IllegalStateException after {@link #close()}
     */
    @Override
    public Tensor tensor(String name) {
        if (closed.get()) {
            throw new IllegalStateException("checkpoint " + directory + " is closed; tensor '" + name
                    + "' is no longer mapped");
        }
        SafeTensors st = byName.get(name);
        if (st == null) {
            throw new ModelFormatException("tensor '" + name + "' not found in checkpoint " + directory);
        }
        return st.tensor(name);
    }

    /** Unmaps every shard; idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        @Nullable RuntimeException first = null;
        for (SafeTensors st : shards) {
            try {
                st.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    @Override
    public String toString() {
        return "Checkpoint[" + directory + ", " + byName.size() + " tensors in " + shards.size() + " file(s)]";
    }
}
