package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.ModelFormatException;
import io.trtllm.runtime.cuda.CompiledKernels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The precompiled CUDA kernels of an engine, in its {@value #DIR} folder:
 *
 * <pre>
 * kernels/
 *   kernels.json    arch, file, source_sha256 (of kernels.cu), options (NVRTC's, defines included), compiler
 *   sm_90.cubin     the module NVRTC compiled for that arch
 * </pre>
 *
 * Both are listed in the engine's {@link EngineManifest}, so a damaged cubin is caught like any other file.
 */
final class EngineKernels {
    /** The engine's folder of kernels. */
    static final String DIR = "kernels";
    /** Their description in {@link #DIR}. */
    static final String FILE = "kernels.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    private EngineKernels() {
    }

    /** Writes {@code kernels} into {@code engineDir/kernels/}. */
    static void write(Path engineDir, CompiledKernels kernels) throws IOException {
        Path dir = Files.createDirectories(engineDir.resolve(DIR));
        String cubin = kernels.arch() + ".cubin";
        Files.write(dir.resolve(cubin), kernels.cubin());
        ObjectNode o = JSON.createObjectNode();
        o.put("arch", kernels.arch());
        o.put("file", cubin);
        o.put("source_sha256", kernels.sourceSha256());
        ArrayNode options = o.putArray("options");
        kernels.options().forEach(options::add);
        o.put("compiler", kernels.compiler());
        Files.write(dir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o));
    }

    /**
     * The kernels of {@code engineDir}, or null when it has none (a CPU engine, or a CUDA one built for
     * {@value Device#ANY_ARCH}).
     *
     * @param device the device of the engine's config, whose arch the kernels must be for
     * @throws ModelFormatException naming the file when the description is invalid or does not fit the device
     */
    static @Nullable CompiledKernels read(Path engineDir, Device device) {
        Path file = engineDir.resolve(DIR).resolve(FILE);
        if (!Files.exists(file)) {
            if (device.hasCudaKernels()) {
                throw new ModelFormatException(engineDir + ": built for " + device + " but " + DIR + "/" + FILE
                        + " is missing; rebuild the engine");
            }
            return null;
        }
        try {
            JsonNode o = JSON.readTree(file.toFile());
            String arch = text(o, "arch", file);
            String name = text(o, "file", file);
            if (!name.equals(arch + ".cubin")) {
                throw new ModelFormatException(file + ": file '" + name + "' is not " + arch + ".cubin");
            }
            if (!device.hasCudaKernels() || !device.arch().equals(arch)) {
                throw new ModelFormatException(file + ": kernels for " + arch + " in an engine built for " + device);
            }
            JsonNode opts = o.path("options");
            if (!opts.isArray()) {
                throw new ModelFormatException(file + ": key 'options' must be an array of strings, got " + opts);
            }
            List<String> options = new ArrayList<>();
            for (JsonNode opt : opts) {
                if (!opt.isTextual()) {
                    throw new ModelFormatException(file + ": key 'options' must be an array of strings, got " + opts);
                }
                options.add(opt.asText());
            }
            byte[] cubin = Files.readAllBytes(file.resolveSibling(name));
            return new CompiledKernels(arch, text(o, "source_sha256", file), options, text(o, "compiler", file), cubin);
        } catch (IOException e) {
            throw new ModelFormatException(engineDir.resolve(DIR) + ": unreadable (" + e + ")", e);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode o, String key, Path file) {
        JsonNode v = o.get(key);
        if (v == null || !v.isTextual()) {
            throw new ModelFormatException(file + ": key '" + key + "' must be a string, got " + v);
        }
        return v.asText();
    }
}
