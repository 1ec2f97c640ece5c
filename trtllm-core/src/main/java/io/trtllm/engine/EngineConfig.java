package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Parallelism;
import io.trtllm.model.source.ModelSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.jspecify.annotations.Nullable;

/**
 * An engine directory's {@code config.json}, in the shape of TensorRT-LLM's engine config: the
 * format version, the backend and device it was built for, the {@link BuildConfig}, the model's
 * own Hugging Face config ({@code pretrained_config}, verbatim), and the identity of the
 * checkpoint it was built from ({@code source}).
 *
 * @param formatVersion    {@link #FORMAT_VERSION} of the writer
 * @param device           backend and architecture the weights are laid out (CPU) or the kernels compiled (CUDA) for
 * @param buildConfig      what the engine was built for
 * @param pretrainedConfig the checkpoint's config.json
 * @param modelConfig      {@code pretrainedConfig} parsed
 * @param source           {@link ModelIdentity} of the checkpoint
 * @param weights          how the weights were written ({@link WeightTransform#describe()})
 * @param mapping          the split over ranks the engine was built for ({@code mapping}, as TensorRT-LLM's): one
 *                         weights file per rank, {@code rank<r>/model.safetensors} holding rank r's
 *                         {@link io.trtllm.model.RankShard} in the backend's layout; {@link Parallelism#NONE}: one
 *                         {@code model.safetensors}
 */
public record EngineConfig(int formatVersion, Device device, BuildConfig buildConfig, JsonNode pretrainedConfig,
                           ModelConfig modelConfig, JsonNode source, String weights, Parallelism mapping) {

    /** An engine of one rank. */
    public EngineConfig(int formatVersion, Device device, BuildConfig buildConfig, JsonNode pretrainedConfig,
                        ModelConfig modelConfig, JsonNode source, String weights) {
        this(formatVersion, device, buildConfig, pretrainedConfig, modelConfig, source, weights, Parallelism.NONE);
    }

    /**
     * Bumped whenever the engine layout changes; part of the cache key, so older engines are rebuilt.
     * 2: the CPU's linear weights stored in its panel layout (float or weight-only INT8 / INT4), the
     * device's {@code panel_rows}, CRC-32C checksums.
     */
    public static final int FORMAT_VERSION = 2;
    /** The engine's configuration file. */
    public static final String FILE = "config.json";
    /** The engine's weights (safetensors; names and dtypes as its {@link WeightTransform} planned them). */
    public static final String WEIGHTS_FILE = "model.safetensors";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The directory of rank {@code rank}'s weights in an engine split over ranks (TensorRT-LLM: rank0.engine). */
    public static String rankDirectory(int rank) {
        return "rank" + rank;
    }

    /** Whether {@code dir} holds an engine (a config.json with {@code engine_format_version}). */
    public static boolean isEngineDirectory(Path dir) {
        return ModelSource.isEngineDirectory(dir);
    }

    /**
     * Reads {@code dir/config.json}.
     *
     * @throws ModelFormatException naming the file and key when it is not an engine config this version reads
     */
    public static EngineConfig read(Path dir) {
        Path file = dir.resolve(FILE);
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new ModelFormatException(file + ": not found (an engine directory has a config.json)", e);
        } catch (IOException e) {
            throw new ModelFormatException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject() || !root.path(ModelSource.ENGINE_FORMAT_KEY).isInt()) {
            throw new ModelFormatException(file + ": not an engine config (no integer '" + ModelSource.ENGINE_FORMAT_KEY
                    + "'); build one with 'trtllm build'");
        }
        int version = root.get(ModelSource.ENGINE_FORMAT_KEY).intValue();
        if (version != FORMAT_VERSION) {
            throw new ModelFormatException(file + ": " + ModelSource.ENGINE_FORMAT_KEY + " " + version
                    + " is not supported by this version (it reads " + FORMAT_VERSION + "); rebuild the engine");
        }
        JsonNode device = root.path("device");
        JsonNode pretrained = root.get("pretrained_config");
        if (pretrained == null || !pretrained.isObject()) {
            throw new ModelFormatException(file + ": key 'pretrained_config' must be an object");
        }
        if (!root.path("build_config").isObject()) {
            throw new ModelFormatException(file + ": key 'build_config' must be an object");
        }
        if (!device.path("backend").isTextual() || !device.path("arch").isTextual() || !device.path("vector_bits").isInt()
                || !device.path("panel_rows").isInt()) {
            throw new ModelFormatException(file + ": key 'device' must hold backend, arch, vector_bits and panel_rows, got "
                    + device);
        }
        Device dev;
        try {
            dev = new Device(device.get("backend").asText(), device.get("arch").asText(), device.get("vector_bits").intValue(),
                    device.get("panel_rows").intValue());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": device: " + e.getMessage(), e);
        }
        return new EngineConfig(version, dev,
                BuildConfigJson.read(root.get("build_config"), file.toString()),
                pretrained,
                ModelConfig.parse(pretrained, file + " pretrained_config"),
                root.path("source"),
                root.path("weights").asText(""),
                mapping(root.get("mapping"), file));
    }

    /** {@code mapping}: absent for one rank; else tp_size and pp_size (and world_size, their product). */
    private static Parallelism mapping(@Nullable JsonNode node, Path file) {
        if (node == null) {
            return Parallelism.NONE;
        }
        JsonNode tp = node.path("tp_size");
        JsonNode pp = node.path("pp_size");
        JsonNode world = node.path("world_size");
        if (!tp.isInt() || !pp.isInt() || !world.isInt()) {
            throw new ModelFormatException(file + ": key 'mapping' must hold integers world_size, tp_size and pp_size, got "
                    + node);
        }
        try {
            Parallelism p = new Parallelism(tp.intValue(), pp.intValue());
            if (p.worldSize() != world.intValue()) {
                throw new IllegalArgumentException("world_size " + world.intValue() + " is not tp_size × pp_size");
            }
            return p;
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": mapping: " + e.getMessage(), e);
        }
    }

    /** The JSON written to {@link #FILE}. */
    ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put(ModelSource.ENGINE_FORMAT_KEY, formatVersion);
        o.set("device", device.toJson());
        o.set("build_config", BuildConfigJson.write(buildConfig));
        o.put("weights", weights);
        o.set("source", source);
        if (!mapping.single()) {
            ObjectNode m = o.putObject("mapping");
            m.put("world_size", mapping.worldSize());
            m.put("tp_size", mapping.tensorParallelSize());
            m.put("pp_size", mapping.pipelineParallelSize());
        }
        o.set("pretrained_config", pretrainedConfig);
        return o;
    }

    void write(Path dir) throws IOException {
        Files.write(dir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(toJson()));
    }
}
