package io.trtllm.engine;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.runtime.cuda.CudaBackend;
import java.time.Duration;
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
    public static ModelRunner open(EngineLease engine, String backend, RunnerOptions options, int maxSeqLen,
                                   int maxBatchSize) {
        ModelConfig config = engine.config().modelConfig();
        KvCacheConfig kv = options.kvCache();
        if (backend.equals("cuda")) {
            // The engine's dtype picks the weight type (auto: BF16); its kernels are used when they fit the GPU.
            DType weightType = CudaBackend.weightType(DType.of(engine.config().buildConfig().dtype()));
            checkCudaKvType(kv, weightType);
            return CudaBackend.open(config, engine.weights(),
                    (available, perToken) -> kvCacheSpec(kv, maxSeqLen, maxBatchSize, available, perToken),
                    weightType, engine.kernels());
        }
        // The CPU cache is float32 on the heap unless kv_cache_config.dtype asks for 16 bits (off the
        // heap); either way it is sized from the heap's limit.
        DType kvType = DType.of(kv.dtype(), DType.F32);
        KvCacheSpec spec = kvCacheSpec(kv, maxSeqLen, maxBatchSize, Runtime.getRuntime().maxMemory(),
                2L * config.numLayers() * config.kvDim() * kvType.byteSize());
        int threads = options.threads() > 0 ? options.threads() : Runtime.getRuntime().availableProcessors();
        return new CpuModelRunner(config, engine.weights(), spec, kvType, threads);
    }

    /**
     * The CUDA backend keeps its KV cache in the weights' 16-bit type: kv_cache_config.dtype must be that or auto.
     *
     * @throws IllegalArgumentException naming both types otherwise
     */
    public static void checkCudaKvType(KvCacheConfig kv, DType weightType) {
        DType kvType = DType.of(kv.dtype(), weightType);
        if (kvType != weightType) {
            throw new IllegalArgumentException("kv_cache_config.dtype " + kvType + " is not supported by the CUDA "
                    + "backend with " + weightType + " weights (its KV cache is in the weights' type)");
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
            return new WarmUp.Result(0, false, Duration.ZERO, 0, Duration.ZERO, Duration.ZERO, 0, Duration.ZERO);
        }
        WarmUp.Result r = new WarmUp(runner, maxSeqLen, maxBatchSize, maxNumTokens).run(budget);
        if (r.settled()) {
            LOG.info("Warm-up settled after {} rounds in {} ms: prefill of {} tokens {} ms, decode {} ms, {} sequences {} ms "
                    + "per pass", r.rounds(), r.elapsed().toMillis(), r.prefillTokens(), millis(r.prefill()), millis(r.decode()),
                    r.batchRows(), millis(r.batch()));
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
