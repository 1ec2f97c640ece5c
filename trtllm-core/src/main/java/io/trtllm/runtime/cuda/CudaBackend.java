package io.trtllm.runtime.cuda;

import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;

import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.RankShard;
import io.trtllm.runtime.Communicator;
import io.trtllm.runtime.InProcessCommunicators;
import io.trtllm.runtime.KvCacheSizer;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.RankGroupRunner;
import io.trtllm.runtime.VocabParallelHead;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.Locale;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the CUDA backend can run here, and the way in to it. This class refers to no
 * {@code org.bytedeco} type, so that callers load it without the CUDA presets on the class path;
 * natives are loaded only once an NVIDIA driver is seen, and only on linux-x86_64.
 */
public final class CudaBackend {
    private static final Logger LOG = LoggerFactory.getLogger(CudaBackend.class);

    private static final Object LOCK = new Object();
    private static volatile @Nullable Probe probe;
    private static volatile @Nullable String nvrtcProbe;

    private record Probe(@Nullable String unavailableReason, @Nullable String device, @Nullable String arch) {
    }

    private CudaBackend() {
    }

    /**
     * Null when a usable CUDA device is present; otherwise why not, in words (for a log line or an
     * error). Probed once per JVM.
     */
    public static @Nullable String unavailableReason() {
        return probe().unavailableReason();
    }

    /** The device the backend would use (name, SM, memory), or null when none is usable. */
    public static @Nullable String deviceDescription() {
        return probe().device();
    }

    /** The SM architecture of the device the backend would use (e.g. {@code sm_90}), or null when none is usable. */
    public static @Nullable String deviceArch() {
        return probe().arch();
    }

    private static Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (LOCK) {
                p = probe;
                if (p == null) {
                    p = runProbe();
                    probe = p;
                }
            }
        }
        return p;
    }

    private static Probe runProbe() {
        String platform = platformProblem();
        if (platform != null) {
            return new Probe(platform, null, null);
        }
        if (!Files.exists(Path.of("/proc/driver/nvidia/version")) && !Files.exists(Path.of("/dev/nvidiactl"))) {
            return new Probe("no NVIDIA driver (neither /proc/driver/nvidia/version nor /dev/nvidiactl exists)", null, null);
        }
        String presets = presetsProblem();
        if (presets != null) {
            return new Probe(presets, null, null);
        }
        try {
            CudaDevice device = CudaDevice.query(0);
            if (device.major() < CudaDevice.MIN_MAJOR) {
                return new Probe(device + " is older than sm_80; the CUDA backend needs BF16 tensor cores", null, null);
            }
            return new Probe(null, device.toString(), device.smArch());
        } catch (CudaException e) {
            return new Probe(e.getMessage(), null, null);
        } catch (LinkageError e) {
            return new Probe("the CUDA 13 runtime could not be loaded (" + e + ")", null, null);
        }
    }

    /** Why the CUDA presets' natives cannot run on this platform, or null. */
    private static @Nullable String platformProblem() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return "the CUDA backend runs on linux-x86_64 only; this is " + os + "/" + arch;
        }
        return null;
    }

    /** Why the CUDA presets are missing from the class path, or null. */
    private static @Nullable String presetsProblem() {
        try {
            Class.forName("org.bytedeco.cuda.global.cudart", false, CudaBackend.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            return "org.bytedeco:cuda is not on the class path";
        }
        return null;
    }

    /**
     * Null when NVRTC can compile the kernels here (no GPU needed, but bytedeco's NVRTC binding loads
     * the CUDA runtime, which links the driver library {@code libcuda.so.1}); otherwise why not, in
     * words. Probed once per JVM.
     */
    public static @Nullable String nvrtcUnavailableReason() {
        String p = nvrtcProbe;
        if (p == null) {
            synchronized (LOCK) {
                p = nvrtcProbe;
                if (p == null) {
                    p = runNvrtcProbe();
                    nvrtcProbe = p;
                }
            }
        }
        return p.isEmpty() ? null : p;
    }

    /** "" when NVRTC loads, else the reason. */
    private static String runNvrtcProbe() {
        String platform = platformProblem();
        if (platform == null) {
            platform = presetsProblem();
        }
        if (platform != null) {
            return platform;
        }
        try {
            KernelModule.version();
            return "";
        } catch (CudaException e) {
            return e.getMessage();
        } catch (LinkageError e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            return "the NVRTC natives could not be loaded (" + e.getMessage()
                    + (root != e ? "; " + root.getMessage() : "") + ")";
        }
    }

    /**
     * The weight type a CUDA runner uses for an engine of {@code dtype}: {@code auto} (null) and
     * {@code bfloat16} run BF16, {@code float16} runs F16.
     *
     * @throws UnsupportedOperationException for float32 (or any other type), saying what to use
     */
    public static DType weightType(@Nullable DType dtype) {
        if (dtype == null || dtype == DType.BF16) {
            return DType.BF16;
        }
        if (dtype == DType.F16) {
            return DType.F16;
        }
        throw new UnsupportedOperationException("dtype " + (dtype == DType.F32 ? "float32" : dtype.toString()) + " is not supported by the cuda "
                + "backend, which runs bfloat16 or float16 weights (F32 accumulation): use dtype auto (= bfloat16), "
                + "bfloat16 or float16, or the cpu backend for float32");
    }

    /** SHA-256 (hex) of the kernel source this version compiles; part of a CUDA engine's cache key. */
    public static String kernelsSourceSha256() {
        return KernelSource.sha256();
    }

    /**
     * Checks that GPUs of {@code arch} run FP8 engines: FP8 (E4M3) needs sm_89 (Ada) or newer.
     *
     * @return {@code arch}
     * @throws UnsupportedOperationException naming the architecture and what to use instead
     */
    public static String checkFp8(String arch) {
        if (!KernelSource.supportsFp8(checkArch(arch))) {
            throw new UnsupportedOperationException("quantization fp8 needs a GPU of sm_89 or newer (FP8 tensor cores: Ada, "
                    + "Hopper, Blackwell); this one is " + arch + ": build with quantization int8, int4 or none");
        }
        return arch;
    }

    /**
     * Checks a GPU architecture name for kernel compilation: {@code sm_<major><minor>}, sm_80 or newer.
     *
     * @return {@code arch}
     * @throws IllegalArgumentException naming the value and the expected form
     */
    public static String checkArch(String arch) {
        return KernelSource.checkArch(arch);
    }

    /**
     * Compiles the kernels with NVRTC for {@code arch} and the model, as a runner of weight type
     * {@code weightType} ({@link #weightType}) will need them. Needs no GPU, only NVRTC.
     *
     * @throws IllegalStateException when NVRTC cannot be loaded here (with the reason)
     * @throws CudaException         when NVRTC fails (with its log)
     */
    public static CompiledKernels compileKernels(ModelConfig config, DType weightType, String arch) {
        checkArch(arch);
        String reason = nvrtcUnavailableReason();
        if (reason != null) {
            throw new IllegalStateException("compiling the CUDA kernels for " + arch + " needs NVRTC: " + reason);
        }
        return KernelModule.compile(arch, KernelSource.defines(config, weightType(weightType)));
    }

    /**
     * A CUDA runner on device 0 over an open checkpoint (weights are copied to the device; the
     * checkpoint may be closed afterwards).
     *
     * @param kvSizer sizes the KV cache from the device memory left after weights and workspace
     * @throws IllegalStateException if no usable CUDA device is present (with the reason)
     */
    public static ModelRunner open(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer) {
        return open(config, weights, kvSizer, DType.BF16, null);
    }

    /**
     * A CUDA runner on device 0 of weight type {@code weightType} ({@link #weightType}), with the
     * kernels an engine carries when they fit the device and model (else NVRTC compiles them and one
     * log line says why).
     *
     * @throws IllegalStateException if no usable CUDA device is present (with the reason)
     */
    public static ModelRunner open(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, DType weightType,
                                   @Nullable CompiledKernels kernels) {
        return open(config, weights, kvSizer, weightType, kernels, RuntimeConfig.fromSystemProperties());
    }

    /** As {@link #open(ModelConfig, Checkpoint, KvCacheSizer, DType, CompiledKernels)}, with the fast paths {@code runtime} allows. */
    public static ModelRunner open(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, DType weightType,
                                   @Nullable CompiledKernels kernels, RuntimeConfig runtime) {
        return open(config, weights, kvSizer, weightType, weightType(weightType), kernels, runtime);
    }

    /**
     * As above, with the KV cache's element type {@code kvType}: the weight type, or {@link DType#F8_E4M3} (FP8
     * E4M3 keys and values of scale 1, sm_89 or newer; see {@code kernels.cu}).
     */
    public static ModelRunner open(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer, DType weightType,
                                   DType kvType, @Nullable CompiledKernels kernels, RuntimeConfig runtime) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException("backend 'cuda' needs a usable CUDA device: " + reason);
        }
        return new CudaModelRunner(config, weights, kvSizer, 0, weightType(weightType), kvType, kernels, runtime);
    }

    /**
     * Checks that GPUs of {@code arch} take an FP8 KV cache ({@code kv_cache_config.dtype fp8}): sm_89 or newer.
     *
     * @throws UnsupportedOperationException naming the architecture and what to use instead
     */
    public static String checkFp8KvCache(String arch) {
        if (!KernelSource.supportsFp8(checkArch(arch))) {
            throw new UnsupportedOperationException("kv_cache_config.dtype fp8 needs a GPU of sm_89 or newer (FP8 E4M3: Ada, "
                    + "Hopper, Blackwell); this one is " + arch + ": use kv_cache_config.dtype auto");
        }
        return arch;
    }
    /** System property: {@code false} sends every rank exchange through host memory, NCCL or not. */
    public static final String NCCL_PROPERTY = "trtllm.cuda.nccl";

    /**
     * How the groups of a split exchange on their devices: per stage, whether its TP ranks' all-reduces go through
     * NCCL; per TP rank, whether its stages' activations do. A group takes NCCL when it has more than one rank, all
     * on distinct devices ({@code ncclCommInitAll} refuses a device twice), and NCCL is allowed; else its exchanges
     * are staged through host memory ({@link HostStagedExchange}).
     *
     * @param tpNccl per stage
     * @param ppNccl per TP rank
     */
    record ExchangePlan(List<Boolean> tpNccl, List<Boolean> ppNccl) {

        static ExchangePlan of(Parallelism parallelism, List<Integer> deviceIds, boolean ncclAllowed) {
            int tp = parallelism.tensorParallelSize();
            int pp = parallelism.pipelineParallelSize();
            List<Boolean> tpNccl = new ArrayList<>(pp);
            for (int stage = 0; stage < pp; stage++) {
                tpNccl.add(ncclAllowed && distinct(tpDevices(stage, tp, deviceIds)));
            }
            List<Boolean> ppNccl = new ArrayList<>(tp);
            for (int t = 0; t < tp; t++) {
                ppNccl.add(ncclAllowed && distinct(ppDevices(t, tp, pp, deviceIds)));
            }
            return new ExchangePlan(List.copyOf(tpNccl), List.copyOf(ppNccl));
        }

        /** The devices of stage {@code stage}'s TP ranks, in TP rank order. */
        static int[] tpDevices(int stage, int tp, List<Integer> deviceIds) {
            int[] out = new int[tp];
            for (int t = 0; t < tp; t++) {
                out[t] = deviceIds.get(stage * tp + t);
            }
            return out;
        }

        /** The devices of TP rank {@code t}'s stages, in stage order. */
        static int[] ppDevices(int t, int tp, int pp, List<Integer> deviceIds) {
            int[] out = new int[pp];
            for (int stage = 0; stage < pp; stage++) {
                out[stage] = deviceIds.get(stage * tp + t);
            }
            return out;
        }

        private static boolean distinct(int[] devices) {
            return devices.length > 1 && java.util.Arrays.stream(devices).distinct().count() == devices.length;
        }

        /** Whether any group takes NCCL. */
        boolean anyNccl() {
            return tpNccl.contains(true) || ppNccl.contains(true);
        }

        /** The plan in words, for the log: {@code TP NCCL (stages 0, 1), PP host-staged}. */
        String describe(Parallelism parallelism) {
            return (parallelism.tensorParallelSize() > 1 ? "TP all-reduce " + paths(tpNccl, "stage") : "")
                    + (parallelism.tensorParallelSize() > 1 && parallelism.pipelineParallelSize() > 1 ? ", " : "")
                    + (parallelism.pipelineParallelSize() > 1 ? "stage-to-stage " + paths(ppNccl, "TP rank") : "");
        }

        private static String paths(List<Boolean> nccl, String group) {
            if (!nccl.contains(true)) {
                return "through host memory";
            }
            if (!nccl.contains(false)) {
                return "through NCCL on device buffers";
            }
            List<Integer> on = new ArrayList<>();
            for (int i = 0; i < nccl.size(); i++) {
                if (nccl.get(i)) {
                    on.add(i);
                }
            }
            return "through NCCL for " + group + " " + on + ", host memory for the others";
        }
    }

    /**
     * A model split over ranks on CUDA devices, behind one runner: rank r on device {@code deviceIds[r]}, over
     * {@code rankWeights(r)} (its file of an engine built for the split). Each group of ranks exchanges through NCCL
     * on device buffers where its ranks are on distinct devices, else through pinned host memory and an in-process
     * communicator ({@link ExchangePlan}; one log line says which); {@code trtllm.cuda.nccl=false} forces host memory.
     * Pipeline stages run micro-batches as the CPU ranks do ({@link io.trtllm.runtime.PipelineSchedule}), each
     * keeping the KV cache of its own layers. The KV cache is sized once, by rank 0 from its device's free memory
     * shared among the ranks on that device, and every rank allocates the same blocks.
     *
     * @throws IllegalArgumentException for a device count that does not fit
     * @throws IllegalStateException    if no usable CUDA device is present (with the reason)
     */
    public static RankGroupRunner openRanks(ModelConfig config, IntFunction<Checkpoint> rankWeights,
                                            Parallelism parallelism, List<Integer> deviceIds, KvCacheSizer kvSizer,
                                            DType weightType, RuntimeConfig runtime, Duration timeout) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException("backend 'cuda' needs a usable CUDA device: " + reason);
        }
        if (deviceIds.size() != parallelism.worldSize()) {
            throw new IllegalArgumentException(deviceIds.size() + " device ids for " + parallelism);
        }
        int tpSize = parallelism.tensorParallelSize();
        int ppSize = parallelism.pipelineParallelSize();
        ExchangePlan plan = ExchangePlan.of(parallelism, deviceIds, ncclAllowed(deviceIds));
        List<Communicator> all = new ArrayList<>();
        List<CudaRankRunner> ranks = new ArrayList<>();
        KvCacheSpec[] spec = new KvCacheSpec[1];
        try {
            // Per stage: the TP ranks' communicators, and the host ones their vocabulary-parallel head gathers through.
            List<List<? extends Communicator>> tpGroups = new ArrayList<>();
            List<List<Communicator>> headGroups = new ArrayList<>();
            for (int stage = 0; stage < ppSize; stage++) {
                List<Communicator> host = InProcessCommunicators.create(tpSize, timeout);
                all.addAll(host);
                headGroups.add(host);
                if (plan.tpNccl().get(stage)) {
                    List<NcclCommunicator> nccl = NcclCommunicator.initAll(ExchangePlan.tpDevices(stage, tpSize, deviceIds), timeout);
                    all.addAll(nccl);
                    tpGroups.add(nccl);
                } else {
                    tpGroups.add(host);
                }
            }
            // Per TP rank: its stages' communicators.
            List<List<? extends Communicator>> ppGroups = new ArrayList<>();
            for (int t = 0; ppSize > 1 && t < tpSize; t++) {
                List<? extends Communicator> group = plan.ppNccl().get(t)
                        ? NcclCommunicator.initAll(ExchangePlan.ppDevices(t, tpSize, ppSize, deviceIds), timeout)
                        : InProcessCommunicators.create(ppSize, timeout);
                all.addAll(group);
                ppGroups.add(group);
            }
            for (RankShard shard : parallelism.shards(config)) {
                int rank = shard.rank();
                int device = deviceIds.get(rank);
                long sharing = deviceIds.stream().filter(d -> d == device).count();
                KvCacheSizer sizer = rank == 0
                        ? (available, perToken) -> spec[0] = kvSizer.size(available / sharing, perToken)
                        : (available, perToken) -> spec[0];
                Communicator tp = tpGroups.get(shard.stage()).get(shard.tpRank());
                Communicator pp = ppSize > 1 ? ppGroups.get(shard.tpRank()).get(shard.stage()) : null;
                var runner = new CudaModelRunner(shard.localConfig(), rankWeights.apply(rank), sizer, device,
                        weightType(weightType), weightType(weightType), null, runtime, shard, tp, pp);
                ranks.add(new CudaRankRunner(shard, runner,
                        new VocabParallelHead(shard, headGroups.get(shard.stage()).get(shard.tpRank()))));
            }
            LOG.info("CUDA ranks: {} on devices {}, {}; KV cache {} blocks × {} tokens per rank; rank 0: {}", parallelism,
                    deviceIds, plan.describe(parallelism), spec[0].numBlocks(), spec[0].blockSize(),
                    ranks.getFirst().description());
            return new RankGroupRunner(config, spec[0], "cuda", parallelism, ranks, all, timeout,
                    "on devices " + deviceIds + ", " + plan.describe(parallelism));
        } catch (RuntimeException | Error e) {
            for (CudaRankRunner r : ranks) {
                r.close();
            }
            for (Communicator c : all) {
                c.close();
            }
            throw e;
        }
    }

    /**
     * Whether the ranks may use NCCL: not turned off by {@link #NCCL_PROPERTY}, and the library loads (else one
     * warning, and every exchange goes through host memory). Only asked when some ranks are on distinct devices.
     */
    private static boolean ncclAllowed(List<Integer> deviceIds) {
        if ("false".equals(System.getProperty(NCCL_PROPERTY)) || deviceIds.stream().distinct().count() < 2) {
            return false;
        }
        try {
            LOG.debug("NCCL {} for the ranks on distinct devices", NcclCommunicator.version());
            return true;
        } catch (RuntimeException | LinkageError e) {
            LOG.warn("NCCL is not usable here ({}); the ranks on distinct devices exchange through host memory", e.toString());
            return false;
        }
    }

    /** CUDA devices visible to this process (0 when CUDA is not usable). */
    public static int deviceCount() {
        if (unavailableReason() != null) {
            return 0;
        }
        int[] count = new int[1];
        return cudaGetDeviceCount(count) == 0 ? count[0] : 0;
    }
}
