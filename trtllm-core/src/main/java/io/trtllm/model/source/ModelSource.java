package io.trtllm.model.source;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.model.builtin.BuiltinModels;
import io.trtllm.model.hub.HubClient;
import io.trtllm.model.hub.HubSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a model comes from, as given to {@code LlmArgs.model}:
 *
 * <ul>
 *   <li>{@link Builtin} — a builtin name ({@code stories15M}), converted once into the cache;</li>
 *   <li>{@link Engine} — a prebuilt engine directory (a {@code config.json} with
 *       {@value #ENGINE_FORMAT_KEY}), used as it is;</li>
 *   <li>{@link Local} — a Hugging Face model directory;</li>
 *   <li>{@link Hub} — a Hugging Face Hub id {@code org/name[@revision]}, downloaded into the Hugging
 *       Face cache ({@code HF_HOME}) unless a complete snapshot is there already.</li>
 * </ul>
 *
 * An existing directory always wins over a Hub id of the same spelling.
 */
public sealed interface ModelSource {

    /** The key of an engine's config.json that marks the directory as an engine (its value: the format version). */
    String ENGINE_FORMAT_KEY = "engine_format_version";

    /** {@code org/name} with an optional {@code @revision}, as the Hub spells repository ids. */
    Pattern HUB_ID = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)(?:@([^\\s@]+))?");

    /**
     * The directory to load: a Hugging Face checkpoint or an engine, fetched first where needed.
     *
     * @param cacheRoot trtllm's cache root (builtin models are converted under it)
     * @param hub       where and how the Hub is reached
     */
    Path resolve(Path cacheRoot, HubSettings hub);

    /** For logs and errors. */
    String describe();

    /** A builtin model. */
    record Builtin(String name) implements ModelSource {
        @Override
        public Path resolve(Path cacheRoot, HubSettings hub) {
            return BuiltinModels.resolve(name, cacheRoot);
        }

        @Override
        public String describe() {
            return "builtin " + name;
        }
    }

    /** A Hugging Face model directory on disk. */
    record Local(Path directory) implements ModelSource {
        @Override
        public Path resolve(Path cacheRoot, HubSettings hub) {
            return directory;
        }

        @Override
        public String describe() {
            return "directory " + directory;
        }
    }

    /** A prebuilt engine directory, loaded as it is. */
    record Engine(Path directory) implements ModelSource {
        @Override
        public Path resolve(Path cacheRoot, HubSettings hub) {
            return directory;
        }

        @Override
        public String describe() {
            return "engine " + directory;
        }
    }

    /**
     * A Hugging Face Hub repository.
     *
     * @param repoId   {@code org/name}
     * @param revision branch, tag or commit ({@code main} by default)
     */
    record Hub(String repoId, String revision) implements ModelSource {
        @Override
        public Path resolve(Path cacheRoot, HubSettings hub) {
            return new HubClient(hub).snapshot(repoId, revision);
        }

        @Override
        public String describe() {
            return "Hugging Face Hub " + repoId + "@" + revision;
        }
    }

    /**
     * Parses {@code LlmArgs.model}: a builtin name, an existing directory (engine or checkpoint), or a
     * Hub id.
     *
     * @throws IllegalArgumentException when it is none of these (the message names the value)
     */
    static ModelSource parse(String model) {
        if (BuiltinModels.isBuiltin(model)) {
            return new Builtin(model);
        }
        Path dir = null;
        try {
            dir = Path.of(model);
        } catch (InvalidPathException ignored) {
            // not a path: maybe a Hub id
        }
        if (dir != null && Files.isDirectory(dir)) {
            Path abs = dir.toAbsolutePath().normalize();
            return isEngineDirectory(abs) ? new Engine(abs) : new Local(abs);
        }
        Matcher m = HUB_ID.matcher(model);
        if (m.matches() && !model.startsWith(".") && !m.group(2).equals("..")) {
            return new Hub(m.group(1) + "/" + m.group(2), m.group(3) != null ? m.group(3) : "main");
        }
        throw new IllegalArgumentException("model '" + model + "' is neither a builtin model " + BuiltinModels.NAMES
                + ", nor a directory, nor a Hugging Face Hub id (org/name[@revision])");
    }

    /** Whether {@code dir} holds an engine: a config.json with an integer {@value #ENGINE_FORMAT_KEY}. */
    static boolean isEngineDirectory(Path dir) {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            return false;
        }
        try {
            JsonNode root = new ObjectMapper().readTree(config.toFile());
            return root != null && root.path(ENGINE_FORMAT_KEY).isInt();
        } catch (IOException e) {
            return false; // not JSON: ModelConfig.load reports it with the file name
        }
    }
}
