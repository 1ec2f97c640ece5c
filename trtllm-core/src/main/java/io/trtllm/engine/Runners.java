package io.trtllm.engine;

import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.InvalidSplitException;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.RankShard;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.RankGroupRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.runtime.cpu.CpuRankRunner;
import io.trtllm.runtime.cuda.CudaBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens the runner of an engine on its backend, with its paged KV cache sized, and warms it up:
 * the runtime half of loading, as nano-vllm's {@code ModelRunner.__init__} ({@code allocate_kv_cache},
 * {@code warmup_model}) and vLLM's {@code _initialize_kv_caches}. The only place outside the runtime
 * packages that names a backend's runner.
 */
public final class Runners {
    private static final Logger LOG = LoggerFactory.getLogger(Runners.class);

    private Runners() {
    }

    /**
     * The runner of {@code engine} on {@code backend}: on CUDA the weights are uploaded and the engine's
     * kernels used where they fit the GPU (else compiled), the cache sized from the device memory left;
     * on the CPU the engine's mapped weights run in place (a plain checkpoint's are packed) and the cache
     * is sized from the heap's limit.
     *
     * @param backend      {@code cpu} or {@code cuda} (resolved, not {@code auto})
     * @param maxSeqLen    the longest sequence the runner must hold: its cache holds at least one
     * @param maxBatchSize most sequences in a pass: a sized cache holds at most this many of max_seq_len
     * @throws IllegalArgumentException when the KV cache options do not fit (see {@link #checkCudaKvType})
     */
    /**
     * For a model split over ranks ({@link RunnerOptions#parallelism()}): on the CPU, one rank per thread group behind one runner. An engine built
     * for the split holds each rank's shard in the CPU's panel layout, which its rank runs in place; an engine of
     * one rank in a plain layout (a CUDA engine's tensors) is sliced at load. An engine is run only with the split
     * it was built for.
     *
     * @throws IllegalArgumentException when the model does not split as asked (naming the size and the model's
     *                                  value), device ids are given for CPU ranks, the split is asked of CUDA, or the
     *                                  engine was built for another split (naming both)
     */
    public static ModelRunner open(EngineLease engine, String backend, RunnerOptions options, int maxSeqLen,
                                   int maxBatchSize) {
        ModelConfig config = engine.config().modelConfig();
        KvCacheConfig kv = options.kvCache();
        Parallelism parallelism = options.parallelism();
        checkMapping(engine, parallelism);
        if (!parallelism.single()) {
            checkParallel(config, backend, options);
            return backend.equals("cuda") ? openCudaRanks(engine, options, config, maxSeqLen, maxBatchSize)
                    : openCpuRanks(engine, options, config, maxSeqLen, maxBatchSize);
        }
        if (backend.equals("cuda")) {
            // The engine's dtype picks the weight type (auto: BF16); its kernels are used when they fit the GPU.
            DType weightType = CudaBackend.weightType(DType.of(engine.config().buildConfig().dtype()));
            checkCudaKvType(kv, weightType);
            return CudaBackend.open(config, engine.weights(),
                    (available, perToken) -> kvCacheSpec(kv, maxSeqLen, maxBatchSize, available, perToken),
                    weightType, DType.of(kv.dtype(), weightType), engine.kernels(), options.runtime());
        }
        checkCpuKvType(kv);
        // The CPU cache is float32 on the heap unless kv_cache_config.dtype asks for 16 bits (off the
        // heap); either way it is sized from the heap's limit.
        DType kvType = DType.of(kv.dtype(), DType.F32);
        KvCacheSpec spec = kvCacheSpec(kv, maxSeqLen, maxBatchSize, Runtime.getRuntime().maxMemory(),
                2L * config.numLayers() * config.kvDim() * kvType.byteSize());
        int threads = options.threads() > 0 ? options.threads() : Runtime.getRuntime().availableProcessors();
        return new CpuModelRunner(config, engine.weights(), spec, kvType, threads, options.runtime().cpuHugePages());
    }

    /**
     * Checks a split over ranks before anything is built or loaded: the model must split as asked
     * ({@link Parallelism#check}); the CPU backend's ranks are threads (no device ids); the CUDA backend runs its ranks
     * (tensor parallel and pipeline stages) on the devices given or on devices {@code r % device count}.
     *
     * @throws InvalidSplitException naming the setting and the value that does not fit
     */
    public static void checkParallel(ModelConfig config, String backend, RunnerOptions options) {
        Parallelism parallelism = options.parallelism();
        if (parallelism.single()) {
            return;
        }
        parallelism.check(config);
        if (backend.equals("cuda")) {
            return;
        }
        if (!options.deviceIds().isEmpty()) {
            throw new InvalidSplitException("device_ids", options.deviceIds(), "device_ids " + options.deviceIds()
                    + " name CUDA devices; the CPU backend's ranks are threads (leave device_ids empty)");
        }
    }

    /**
     * The CUDA ranks of an engine built for the split: rank r on {@code device_ids[r]}, or on device
     * {@code r % device count} when none are given (ranks then share devices where there are fewer devices than
     * ranks, which the host-staged all-reduce allows).
     */
    private static ModelRunner openCudaRanks(EngineLease engine, RunnerOptions options, ModelConfig config,
                                             int maxSeqLen, int maxBatchSize) {
        Parallelism parallelism = options.parallelism();
        if (!engine.config().mapping().equals(parallelism)) {
            throw new InvalidSplitException(Parallelism.TP, parallelism.tensorParallelSize(), "engine "
                    + engine.directory().getFileName() + " holds one rank's weights; CUDA ranks run an engine built for "
                    + parallelism + " (the engine cache builds one; trtllm build --tensor-parallel-size "
                    + parallelism.tensorParallelSize() + ")");
        }
        List<Integer> devices = options.deviceIds();
        if (devices.isEmpty()) {
            int count = Math.max(1, CudaBackend.deviceCount());
            devices = java.util.stream.IntStream.range(0, parallelism.worldSize()).map(r -> r % count).boxed().toList();
        }
        DType weightType = CudaBackend.weightType(DType.of(engine.config().buildConfig().dtype()));
        KvCacheConfig kv = options.kvCache();
        checkCudaKvType(kv, weightType);
        if (kv.dtype() == Dtype.FP8) {
            throw new IllegalArgumentException("kv_cache_config.dtype fp8 is not supported on CUDA ranks yet ("
                    + parallelism + "); leave the KV cache in the weights' type (auto) or use tensor_parallel_size 1");
        }
        return CudaBackend.openRanks(config, engine::rankWeights, parallelism, devices,
                (available, perToken) -> kvCacheSpec(kv, maxSeqLen, maxBatchSize, available, perToken), weightType,
                options.runtime(), options.rankTimeout());
    }

    /**
     * Refuses an engine built for another split than the one asked: its weights files are per rank of its own
     * split ({@code mapping} in its config.json).
     *
     * @throws InvalidSplitException naming both splits and the engine
     */
    static void checkMapping(EngineLease engine, Parallelism asked) {
        Parallelism built = engine.config().mapping();
        if (built.equals(asked) || built.single() && !isPacked(engine.weights())) {
            return; // its own split, or one rank's plain tensors, which ranks slice at load
        }
        boolean tp = built.tensorParallelSize() != asked.tensorParallelSize();
        throw new InvalidSplitException(tp ? Parallelism.TP : Parallelism.PP,
                tp ? asked.tensorParallelSize() : asked.pipelineParallelSize(), "engine "
                + engine.directory().getFileName() + " was built for " + built + " (" + built.worldSize() + " rank"
                + (built.worldSize() == 1 ? "" : "s") + ") and cannot run as " + asked + "; load it with "
                + "tensor_parallel_size " + built.tensorParallelSize() + " and pipeline_parallel_size "
                + built.pipelineParallelSize() + ", or build the model's engine for " + asked);
    }

    /** Whether an engine's weights are in the CPU's packed layout (panels or quantized), which is not sliced. */
    private static boolean isPacked(Checkpoint weights) {
        return weights.names().stream().anyMatch(n -> n.endsWith(".panels") || n.endsWith(".qweight"));
    }

    private static ModelRunner openCpuRanks(EngineLease engine, RunnerOptions options, ModelConfig config,
                                            int maxSeqLen, int maxBatchSize) {
        Parallelism parallelism = options.parallelism();
        checkCpuKvType(options.kvCache());
        DType kvType = DType.of(options.kvCache().dtype(), DType.F32);
        // Every rank's cache is on this heap: a token costs the sum of the ranks' KV heads × layers (replicas included).
        long bytesPerToken = 0;
        for (RankShard shard : parallelism.shards(config)) {
            ModelConfig local = shard.localConfig();
            bytesPerToken += 2L * local.numLayers() * local.kvDim() * kvType.byteSize();
        }
        KvCacheSpec spec = kvCacheSpec(options.kvCache(), maxSeqLen, maxBatchSize, Runtime.getRuntime().maxMemory(),
                bytesPerToken);
        int threads = options.threads() > 0 ? options.threads() : Runtime.getRuntime().availableProcessors();
        int perRank = Math.max(1, threads / parallelism.worldSize());
        if (engine.config().mapping().equals(parallelism)) {
            return CpuRankRunner.openShardedGroup(config, engine::rankWeights, parallelism, spec, kvType, perRank,
                    options.rankTimeout());
        }
        return CpuRankRunner.openGroup(config, engine.weights(), parallelism, spec, kvType, perRank, options.rankTimeout());
    }

    /**
     * The CUDA backend keeps its KV cache in the weights' 16-bit type: kv_cache_config.dtype must be that or auto.
     *
     * @throws IllegalArgumentException naming both types otherwise
     */
    public static void checkCudaKvType(KvCacheConfig kv, DType weightType) {
        DType kvType = DType.of(kv.dtype(), weightType);
        if (kvType != weightType && kvType != DType.F8_E4M3) {
            throw new IllegalArgumentException("kv_cache_config.dtype " + kvType + " is not supported by the CUDA "
                    + "backend with " + weightType + " weights (its KV cache is in the weights' type, or fp8)");
        }
    }

    /**
     * The CPU backend keeps its KV cache in float32, float16 or bfloat16: an FP8 cache is the CUDA backend's.
     *
     * @throws IllegalArgumentException naming the value and the backend that takes it
     */
    public static void checkCpuKvType(KvCacheConfig kv) {
        if (kv.dtype() == Dtype.FP8) {
            throw new IllegalArgumentException("kv_cache_config.dtype fp8 needs the cuda backend (sm_89 or newer); the cpu "
                    + "backend's KV cache is float32, float16 or bfloat16");
        }
    }

    /**
     * The cache's token slots: {@code max_tokens} when given, else what {@code memory_fraction} of
     * {@code availableBytes} (the heap on the CPU, free device memory on CUDA) holds, at least one
     * max_seq_len sequence and at most max_batch_size of them.
     */
    static KvCacheSpec kvCacheSpec(KvCacheConfig kv, int maxSeqLen, int maxBatchSize, long availableBytes,
                                   long bytesPerToken) {
        int block = kv.tokensPerBlock();
        long tokens;
        if (kv.maxTokens() != null) {
            tokens = kv.maxTokens();
            if (tokens < maxSeqLen) {
                throw new IllegalArgumentException("kv_cache_config.max_tokens " + tokens + " cannot hold one sequence of max_seq_len "
                        + maxSeqLen);
            }
        } else {
            long budget = (long) (availableBytes * kv.memoryFraction()) / bytesPerToken;
            tokens = Math.max(maxSeqLen, Math.min(budget, (long) maxBatchSize * maxSeqLen));
        }
        long blocks = (tokens + block - 1) / block;
        return new KvCacheSpec((int) Math.min(blocks, Integer.MAX_VALUE), block);
    }

    /**
     * Runs the shapes the runner will serve (a prefill chunk, single and batched decodes) on scratch KV
     * blocks until the JIT has compiled them, within the budget of {@link WarmUp#BUDGET_PROPERTY}
     * (see {@link WarmUp}): cold, the first 128-token prompt of stories15M ran at 40% of its warm speed
     * and the first ~100 decoded tokens 4x slower. Logs whether the timings settled.
     *
     * @param maxBatchSize most sequences in one pass
     * @param maxNumTokens most tokens in one pass
     */
    public static WarmUp.Result warmUp(ModelRunner runner, int maxSeqLen, int maxBatchSize, int maxNumTokens) {
        Duration budget = WarmUp.budget();
        if (budget.isZero()) {
            LOG.info("Warm-up off ({}=0): the first requests run while the JIT compiles", WarmUp.BUDGET_PROPERTY);
            return WarmUp.Result.none();
        }
        WarmUp.Result r = new WarmUp(runner, maxSeqLen, maxBatchSize, maxNumTokens).run(budget);
        if (r.settled()) {
            LOG.info("Warm-up settled{} after {} rounds in {} ms: prefill of {} tokens {} ms, decode {} ms, {} sequences {} ms "
                    + "per pass; shapes {}", r.jitIdle() ? " (by an idle JIT, the timings still varying: a busy machine?)" : "",
                    r.rounds(), r.elapsed().toMillis(), r.prefillTokens(), millis(r.prefill()), millis(r.decode()), r.batchRows(),
                    millis(r.batch()), r.shapes());
        } else {
            LOG.warn("Warm-up did NOT settle within its {} ms budget ({} rounds; last: prefill of {} tokens {} ms, decode {} ms, "
                    + "{} sequences {} ms per pass): the first requests may run slower while the JIT compiles (raise -D{})",
                    budget.toMillis(), r.rounds(), r.prefillTokens(), millis(r.prefill()), millis(r.decode()), r.batchRows(),
                    millis(r.batch()), WarmUp.BUDGET_PROPERTY);
        }
        return r;
    }

    private static String millis(Duration d) {
        return String.format(java.util.Locale.ROOT, "%.2f", d.toNanos() / 1e6);
    }
}
