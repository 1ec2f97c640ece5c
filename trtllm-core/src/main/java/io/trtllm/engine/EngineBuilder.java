package io.trtllm.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Quantization;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.CheckpointValidator;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Parallelism;
import io.trtllm.model.RankShard;
import io.trtllm.model.ShardedTensors;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorSource;
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
import java.util.ArrayList;
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
 *   rank0/model.safetensors, rank1/...   instead, for an engine split over ranks ({@link #parallelism}): each
 *                        rank's shard, laid out as above for its own rows (config.json's {@code mapping})
 *   tokenizer.json ...   the checkpoint's tokenizer and generation files, copied
 *   kernels/             CUDA engines for an SM architecture: the kernels NVRTC compiled for it and the
 *                        model ({@link EngineKernels}); none for {@link Device#ANY_ARCH} or the CPU
 *   checksums.json       size + CRC-32C of every file above, written last
 * </pre>
 *
 * <p>Nothing is written before the checkpoint has been checked against its config
 * ({@link CheckpointValidator}) and the output's file system has room for the whole engine. The
 * directory appears complete or not at all: everything is written into a temporary sibling
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
    private Parallelism parallelism = Parallelism.NONE;
    private BuildProgress progress = BuildProgress.NONE;
    private SpaceProbe spaceProbe = SpaceProbe.FILE_STORE;

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

    /** Why an FP8 engine is not built for the CPU. */
    static final String FP8_ON_CPU = "quantization fp8 runs on the cuda backend only (FP8 weights need a GPU of sm_89 or "
            + "newer); for the cpu backend build with quantization int8 or int4";

    private static void checkSupported(BuildConfig config, Device device) {
        if (config.quantization() == Quantization.FP8 && !device.backend().equals("cuda")) {
            throw new UnsupportedOperationException(FP8_ON_CPU);
        }
        if (device.backend().equals("cuda")) {
            CudaBackend.weightType(DType.of(config.dtype()));
            if (config.quantization() == Quantization.FP8 && !device.arch().equals(Device.ANY_ARCH)) {
                CudaBackend.checkFp8(device.arch());
            }
        }
    }

    /**
     * The weight transform for a build config and model: for the CPU, its panel layout (float panels
     * in the build's dtype, or weight-only INT8 / INT4) with every other tensor converted to the dtype;
     * for CUDA, the dtype conversion, or weight-only INT8 / INT4 in {@link CudaQuantizedTransform}'s layout.
     *
     * @throws UnsupportedOperationException for a quantization the device's backend cannot run
     */
    public static WeightTransform defaultTransform(BuildConfig config, Device device, ModelConfig model) {
        checkSupported(config, device);
        if (device.backend().equals("cpu")) {
            return new CpuLayoutTransform(config.dtype(), config.quantization(), model, device.panelRows());
        }
        if (config.quantization() != Quantization.NONE) {
            return new CudaQuantizedTransform(config.dtype(), config.quantization(), model);
        }
        return new DTypeConversion(config.dtype());
    }

    /** Replaces the weight transform chosen from the build config (e.g. a quantizer under test). */
    public EngineBuilder transform(WeightTransform transform) {
        this.transform = transform;
        return this;
    }

    /**
     * Builds one weights file per rank of {@code parallelism} (TensorRT-LLM's {@code rank0.engine}, ...): rank r's
     * {@link RankShard} in the backend's layout under {@code rank<r>/}. The default, {@link Parallelism#NONE}, writes
     * one {@code model.safetensors}.
     */
    public EngineBuilder parallelism(Parallelism parallelism) {
        this.parallelism = parallelism;
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
     * @throws ModelFormatException     when the checkpoint is invalid or does not fit its config
     *                                  ({@link CheckpointValidator}); checked before anything is written
     * @throws NotEnoughSpaceException  when the output's file system has too little free space, before anything is
     *                                  written, or when it fills up while the engine is written (nothing is left behind)
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
        Parallelism split = this.parallelism;
        if (!split.single()) {
            split.check(model); // before anything is read: names the size and the model's value
        }
        Path work = null;
        long need = 0;
        long free = -1;
        List<ShardedTensors> views = new ArrayList<>();
        try (Checkpoint checkpoint = Checkpoint.open(modelDir)) {
            // Before anything is written or compiled: a checkpoint that cannot run fails here, naming the
            // file, tensor and expected shape, and never reaches the engine cache.
            CheckpointValidator.validate(model, checkpoint, config);
            List<WeightsFile> files = new ArrayList<>();
            if (split.single()) {
                WeightTransform t = this.transform != null ? this.transform : defaultTransform(this.config, device, model);
                files.add(new WeightsFile(EngineConfig.WEIGHTS_FILE, checkpoint, t, plan(checkpoint, t)));
            } else {
                // One file per rank, each its shard in the backend's layout: the CPU's panels are laid out over the
                // shard's own rows, so a rank maps its file and runs it as it is (nothing is sliced at load).
                for (RankShard shard : split.shards(model)) {
                    ShardedTensors view = shard.view(checkpoint);
                    views.add(view);
                    WeightTransform t = this.transform != null ? this.transform
                            : defaultTransform(this.config, device, shard.localConfig());
                    files.add(new WeightsFile(EngineConfig.rankDirectory(shard.rank()) + "/" + EngineConfig.WEIGHTS_FILE,
                            view, t, plan(view, t)));
                }
            }
            WeightTransform transform = files.getFirst().transform();
            // First, so that a machine without NVRTC fails before anything is written. A split engine's kernels are
            // compiled at load (no CUDA rank runner reads them yet).
            CompiledKernels kernels = device.hasCudaKernels() && split.single() ? compileKernels(model) : null;
            Path parent = out.getParent();
            Files.createDirectories(parent);
            long weightBytes = 0;
            int tensors = 0;
            for (WeightsFile f : files) {
                weightBytes += f.plan().fileBytes();
                tensors += f.plan().sources();
            }
            need = weightBytes + sideFileBytes(modelDir) + (kernels == null ? 0 : kernels.cubin().length) + CONFIG_ALLOWANCE;
            free = spaceProbe.usableBytes(parent);
            if (free < need) {
                throw new NotEnoughSpaceException(parent, need, free);
            }
            work = Files.createTempDirectory(parent, "." + out.getFileName() + ".tmp-");
            LOG.info("Building engine of {} ({}, {}, max_seq_len {}{}) into {}", modelDir, transform.describe(), device,
                    this.config.maxSeqLen(), split.single() ? "" : ", " + split + ": a weights file per rank", out);
            for (WeightsFile f : files) {
                Path file = work.resolve(f.path());
                Files.createDirectories(file.getParent());
                writeWeights(f.source(), f.transform(), f.plan(), file, need, free);
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
                    transform.describe(), split).write(work);
            long bytes = EngineManifest.write(work);
            Files.move(work, out, StandardCopyOption.ATOMIC_MOVE);
            work = null;
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            LOG.info("Built engine {} in {} s: {} tensors, {} MiB", out, String.format(Locale.ROOT, "%.2f", took.toMillis() / 1e3),
                    tensors, String.format(Locale.ROOT, "%.1f", bytes / 1048576.0));
            return new Result(out, bytes, tensors, took);
        } catch (IOException e) {
            if (free >= 0 && isOutOfSpace(e)) {
                throw new NotEnoughSpaceException(out.getParent(), need, free, " when the build started; the disk filled "
                        + "up while the engine was written (" + e.getMessage() + ")", e);
            }
            throw new UncheckedIOException("building engine " + out + " from " + modelDir + ": " + e, e);
        } finally {
            views.forEach(ShardedTensors::close);
            if (work != null) {
                deleteTree(work);
            }
        }
    }

    /** One weights file of the engine: its path in the engine, the tensors it is written from, how, and its layout. */
    private record WeightsFile(String path, TensorSource source, WeightTransform transform, WeightsPlan plan) {
    }

    /** Bytes an engine's config.json and checksums.json take at most, beyond the weights and copied files. */
    private static final long CONFIG_ALLOWANCE = 1 << 20;

    /** Replaces how free space is measured (tests of a full disk). */
    EngineBuilder spaceProbe(SpaceProbe probe) {
        this.spaceProbe = probe;
        return this;
    }

    private static long sideFileBytes(Path modelDir) throws IOException {
        long total = 0;
        for (String name : ModelIdentity.SIDE_FILES) {
            Path f = modelDir.resolve(name);
            if (!name.equals(EngineConfig.FILE) && Files.isRegularFile(f)) {
                total += Files.size(f);
            }
        }
        return total;
    }

    /** Whether {@code e} says the file system is full (ENOSPC, or EDQUOT: a quota). */
    static boolean isOutOfSpace(IOException e) {
        String m = String.valueOf(e.getMessage());
        return m.contains("No space left on device") || m.contains("Disk quota exceeded");
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
        CompiledKernels k = CudaBackend.compileKernels(model, CudaBackend.weightType(DType.of(config.dtype())), device.arch());
        LOG.info("Compiled the CUDA kernels for {} with {} in {} ms ({} bytes of cubin)", k.arch(), k.compiler(),
                (System.nanoTime() - start) / 1_000_000, k.cubin().length);
        return k;
    }

    /**
     * The layout of the engine's weights file: its header (64-byte aligned data), every source tensor's
     * planned engine tensors, and the file's total size.
     */
    private record WeightsPlan(List<String> names, Map<String, List<EngineTensor>> plans, byte[] json, int padded,
                               long dataStart, long fileBytes, long sourceBytes) {
        int sources() {
            return names.size();
        }
    }

    /** Plans every tensor and lays out one safetensors file; reads only headers. */
    private static WeightsPlan plan(TensorSource checkpoint, WeightTransform transform) throws IOException {
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
        return new WeightsPlan(names, plans, json, padded, dataStart, dataStart + offset, sourceBytes);
    }

    /**
     * Writes the planned file: the header through the channel, the tensors through a mapping that the
     * transform fills slice by slice. Writing through a mapping on a full disk faults (SIGBUS, which the
     * JVM raises as an {@link InternalError}); the caller checked the free space before, and a disk that
     * fills up meanwhile is reported as a {@link NotEnoughSpaceException}.
     */
    private void writeWeights(TensorSource checkpoint, WeightTransform transform, WeightsPlan plan, Path file, long need,
                              long free) throws IOException {
        List<String> names = plan.names();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofConfined()) {
            ByteBuffer head = ByteBuffer.allocate((int) plan.dataStart()).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(plan.padded()).put(plan.json());
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            while (head.hasRemaining()) {
                ch.write(head);
            }
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_WRITE, 0, plan.fileBytes(), arena);
            long at = plan.dataStart();
            long bytesDone = 0;
            int done = 0;
            long lastLog = System.nanoTime();
            try {
                for (String name : names) {
                    Tensor t = checkpoint.tensor(name);
                    for (EngineTensor e : plan.plans().get(name)) {
                        transform.write(t, e, mapped.asSlice(at, e.byteSize()));
                        at += e.byteSize();
                    }
                    bytesDone += t.data().byteSize();
                    done++;
                    progress.update(done, names.size(), bytesDone, plan.sourceBytes());
                    if (System.nanoTime() - lastLog >= LOG_INTERVAL.toNanos()) {
                        lastLog = System.nanoTime();
                        LOG.info("Building engine: {}/{} tensors, {}/{} MiB ({}%)", done, names.size(),
                                bytesDone >> 20, plan.sourceBytes() >> 20,
                                plan.sourceBytes() == 0 ? 100 : bytesDone * 100 / plan.sourceBytes());
                    }
                }
                mapped.force();
            } catch (InternalError fault) {
                // The JVM's translation of SIGBUS on a mapped page: here, the engine file could not be backed by
                // disk blocks (or a mapped checkpoint file was truncated under us). Report which, never the raw error.
                long nowFree = freeOrZero(file.getParent());
                if (nowFree < plan.fileBytes() - (at - plan.dataStart())) {
                    throw new NotEnoughSpaceException(file.getParent().getParent(), need, free, " when the build started; "
                            + "the disk filled up while the engine was written", new IOException(fault.getMessage(), fault));
                }
                throw new UncheckedIOException("building engine " + file.getParent() + ": a mapped file could not be "
                        + "read or written at tensor offset " + at + " (was the checkpoint truncated while it was read?)",
                        new IOException(fault.getMessage(), fault));
            }
        }
    }

    private long freeOrZero(Path dir) {
        try {
            return spaceProbe.usableBytes(dir);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
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
