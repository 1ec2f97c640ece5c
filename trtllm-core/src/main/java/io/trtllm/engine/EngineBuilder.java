package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.cuda.CompiledKernels;
import io.trtllm.runtime.cuda.CudaBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds an engine directory from a Hugging Face model directory:
 *
 * <pre>
 * engine/
 *   config.json          format version, device, build_config, pretrained_config, source identity
 *   model.safetensors    the weights as the {@link WeightTransform} wrote them: for the CPU the linear
 *                        weights in the runner's panel layout, float or weight-only quantized
 *                        ({@link CpuLayoutTransform}), the rest converted to the build's dtype
 *   tokenizer.json ...   the checkpoint's tokenizer and generation files, copied
 *   kernels/             CUDA engines for an SM architecture: the kernels NVRTC compiled for it and the
 *                        model ({@link EngineKernels}); none for {@link Device#ANY_ARCH} or the CPU
 *   checksums.json       size + CRC-32C of every file above, written last
 * </pre>
 *
 * <p>The directory appears complete or not at all: everything is written into a temporary sibling
 * that is renamed into place. Progress goes to a {@link BuildProgress} and to the log (a line at
 * least every {@link #LOG_INTERVAL}); the duration and engine size are logged at the end.
 */
public final class EngineBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(EngineBuilder.class);
    /** Longest silence of the build's progress log. */
    public static final Duration LOG_INTERVAL = Duration.ofSeconds(3);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final BuildConfig config;
    private final Device device;
    private @Nullable WeightTransform transform;
    private BuildProgress progress = BuildProgress.NONE;

    /**
     * A builder for {@code config} on {@code device}.
     *
     * @throws UnsupportedOperationException when the config asks for a quantization or dtype the device's backend
     *                                       cannot run (the cuda backend runs bfloat16 or float16 weights)
     */
    public EngineBuilder(BuildConfig config, Device device) {
        this.config = config;
        this.device = device;
        checkSupported(config, device);
    }

    private static void checkSupported(BuildConfig config, Device device) {
        if (config.quantization() != Quantization.NONE && !device.backend().equals("cpu")) {
            throw new UnsupportedOperationException("quantization " + config.quantization().id()
                    + " is built for the cpu backend only, not for " + device.backend()
                    + "; build with quantization none");
        }
        if (device.backend().equals("cuda")) {
            CudaBackend.weightType(config.dtype());
        }
    }

    /**
     * The weight transform for a build config and model: for the CPU, its panel layout (float panels
     * in the build's dtype, or weight-only INT8 / INT4) with every other tensor converted to the dtype.
     *
     * @throws UnsupportedOperationException for a quantization the device's backend cannot run
     */
    public static WeightTransform defaultTransform(BuildConfig config, Device device, ModelConfig model) {
        checkSupported(config, device);
        if (device.backend().equals("cpu")) {
            return new CpuLayoutTransform(config.dtype(), config.quantization(), model, device.panelRows());
        }
        return new DTypeConversion(config.dtype());
    }

    /** Replaces the weight transform chosen from the build config (e.g. a quantizer under test). */
    public EngineBuilder transform(WeightTransform transform) {
        this.transform = transform;
        return this;
    }

    /** Receives progress after each tensor. */
    public EngineBuilder progress(BuildProgress progress) {
        this.progress = progress;
        return this;
    }

    /**
     * What a build produced.
     *
     * @param engineDir where the engine is (the requested output)
     * @param bytes     total size of its files
     * @param tensors   tensors written
     * @param duration  wall time of the build
     */
    public record Result(Path engineDir, long bytes, int tensors, Duration duration) {
    }

    /**
     * Builds the engine of {@code modelDir} into {@code output}, which must not exist yet.
     *
     * @throws IllegalArgumentException when the build config does not fit the model (names both values)
     * @throws ModelFormatException     when the checkpoint is invalid
     * @throws UncheckedIOException     when the output cannot be written (nothing is left behind)
     */
    public Result build(Path modelDir, Path output) {
        return build(modelDir, output, ModelIdentity.of(modelDir));
    }

    Result build(Path modelDir, Path output, ObjectNode identity) {
        long start = System.nanoTime();
        Path config = modelDir.resolve("config.json");
        JsonNode pretrained;
        try {
            pretrained = JSON.readTree(config.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(config + ": not readable as JSON: " + e.getMessage(), e);
        }
        ModelConfig model = ModelConfig.parse(pretrained, config.toString());
        if (this.config.maxSeqLen() > model.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("max_seq_len " + this.config.maxSeqLen()
                    + " exceeds the model's max_position_embeddings " + model.maxPositionEmbeddings() + " (" + config + ")");
        }
        Path out = output.toAbsolutePath().normalize();
        if (Files.exists(out)) {
            throw new UncheckedIOException(new FileAlreadyExistsException(out.toString(), null,
                    "the engine output directory exists already; remove it or choose another"));
        }
        WeightTransform transform = this.transform != null ? this.transform : defaultTransform(this.config, device, model);
        // First, so that a machine without NVRTC fails before anything is written.
        CompiledKernels kernels = device.hasCudaKernels() ? compileKernels(model) : null;
        Path work = null;
        try {
            Files.createDirectories(out.getParent());
            work = Files.createTempDirectory(out.getParent(), "." + out.getFileName() + ".tmp-");
            LOG.info("Building engine of {} ({}, {}, max_seq_len {}) into {}", modelDir, transform.describe(), device,
                    this.config.maxSeqLen(), out);
            int tensors;
            try (Checkpoint checkpoint = Checkpoint.open(modelDir)) {
                tensors = writeWeights(checkpoint, transform, work.resolve(EngineConfig.WEIGHTS_FILE));
            }
            for (String name : ModelIdentity.SIDE_FILES) {
                Path f = modelDir.resolve(name);
                if (!name.equals(EngineConfig.FILE) && Files.isRegularFile(f)) {
                    Files.copy(f, work.resolve(name)); // follows links (HF cache snapshots are links into blobs/)
                }
            }
            if (kernels != null) {
                EngineKernels.write(work, kernels);
            }
            new EngineConfig(EngineConfig.FORMAT_VERSION, device, this.config, pretrained, model, identity,
                    transform.describe()).write(work);
            long bytes = EngineManifest.write(work);
            Files.move(work, out, StandardCopyOption.ATOMIC_MOVE);
            work = null;
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            LOG.info("Built engine {} in {} s: {} tensors, {} MiB", out, String.format(Locale.ROOT, "%.2f", took.toMillis() / 1e3),
                    tensors, String.format(Locale.ROOT, "%.1f", bytes / 1048576.0));
            return new Result(out, bytes, tensors, took);
        } catch (IOException e) {
            throw new UncheckedIOException("building engine " + out + " from " + modelDir + ": " + e, e);
        } finally {
            if (work != null) {
                deleteTree(work);
            }
        }
    }

    /**
     * The CUDA kernels for the device's arch, the model and the weight type the build's dtype runs
     * as ({@link CudaBackend#weightType}), compiled by NVRTC.
     *
     * @throws IllegalStateException when NVRTC cannot be loaded here (naming why, and the alternatives)
     */
    private CompiledKernels compileKernels(ModelConfig model) {
        long start = System.nanoTime();
        String reason = CudaBackend.nvrtcUnavailableReason();
        if (reason != null) {
            throw new IllegalStateException("a CUDA engine for " + device.arch() + " carries kernels compiled by NVRTC, "
                    + "which cannot run here: " + reason + ". Build it where NVRTC runs (a machine with the NVIDIA driver "
                    + "and the CUDA 13 runtime), or with cuda arch " + Device.ANY_ARCH + " (kernels compiled at load)");
        }
        CompiledKernels k = CudaBackend.compileKernels(model, CudaBackend.weightType(config.dtype()), device.arch());
        LOG.info("Compiled the CUDA kernels for {} with {} in {} ms ({} bytes of cubin)", k.arch(), k.compiler(),
                (System.nanoTime() - start) / 1_000_000, k.cubin().length);
        return k;
    }

    /** Plans every tensor, lays out one safetensors file, maps it and lets the transform fill each slice. */
    private int writeWeights(Checkpoint checkpoint, WeightTransform transform, Path file) throws IOException {
        List<String> names = List.copyOf(checkpoint.names());
        Map<String, List<EngineTensor>> plans = new LinkedHashMap<>();
        Set<String> outNames = new HashSet<>();
        long sourceBytes = 0;
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("__metadata__", Map.of("format", "pt"));
        long offset = 0;
        for (String name : names) {
            Tensor t = checkpoint.tensor(name);
            sourceBytes += t.data().byteSize();
            List<EngineTensor> plan = transform.plan(t);
            plans.put(name, plan);
            for (EngineTensor e : plan) {
                if (!outNames.add(e.name())) {
                    throw new IllegalStateException(transform.describe() + " planned engine tensor '" + e.name() + "' twice");
                }
                Map<String, Object> info = new LinkedHashMap<>();
                info.put("dtype", e.dtype());
                info.put("shape", e.shape());
                info.put("data_offsets", new long[] {offset, offset + e.byteSize()});
                header.put(e.name(), info);
                offset += e.byteSize();
            }
        }
        byte[] json = JSON.writeValueAsBytes(header);
        // Pad the header with spaces so that the data starts 64-byte aligned, as SafeTensorsWriter does.
        int padded = ((8 + json.length + 63) & ~63) - 8;
        long dataStart = 8L + padded;
        long total = dataStart + offset;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofConfined()) {
            ByteBuffer head = ByteBuffer.allocate((int) dataStart).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            while (head.hasRemaining()) {
                ch.write(head);
            }
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
            long at = dataStart;
            long bytesDone = 0;
            int done = 0;
            long lastLog = System.nanoTime();
            for (String name : names) {
                Tensor t = checkpoint.tensor(name);
                for (EngineTensor e : plans.get(name)) {
                    transform.write(t, e, mapped.asSlice(at, e.byteSize()));
                    at += e.byteSize();
                }
                bytesDone += t.data().byteSize();
                done++;
                progress.update(done, names.size(), bytesDone, sourceBytes);
                if (System.nanoTime() - lastLog >= LOG_INTERVAL.toNanos()) {
                    lastLog = System.nanoTime();
                    LOG.info("Building engine: {}/{} tensors, {}/{} MiB ({}%)", done, names.size(),
                            bytesDone >> 20, sourceBytes >> 20, sourceBytes == 0 ? 100 : bytesDone * 100 / sourceBytes);
                }
            }
            mapped.force();
        }
        return names.size();
    }

    /** Best-effort recursive delete (temporary build output, entries being removed). */
    public static void deleteTree(Path root) {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            LOG.warn("Could not remove {}: {}", root, e.toString());
        }
    }
}
