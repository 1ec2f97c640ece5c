package io.trtllm.engine;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import io.trtllm.runtime.cuda.CudaBackend;
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
    private static final int WARMUP_DECODE_STEPS = 160;
    private static final long WARMUP_BUDGET_NANOS = 1_500_000_000L;

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
     * Runs a short prefill and decode steps on scratch KV blocks so that the JIT has compiled the
     * kernels before the first request: cold, the first ~100 tokens of stories15M run 4x slower.
     * Bounded by {@link #WARMUP_DECODE_STEPS} and {@link #WARMUP_BUDGET_NANOS}, so that a large
     * model (seconds per step on a CPU) does not spend minutes here.
     */
    public static void warmUp(ModelRunner runner, int maxSeqLen) {
        long start = System.nanoTime();
        int vocab = runner.config().vocabSize();
        int[] table = new int[runner.kvCache().blocksFor(maxSeqLen)];
        for (int i = 0; i < table.length; i++) {
            table[i] = i;
        }
        int prompt = Math.max(1, Math.min(16, maxSeqLen / 2));
        int[] tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) {
            tokens[i] = i % vocab;
        }
        runner.forward(Batch.of(new SequenceChunk(tokens, 0, table, SequenceChunk.LogitsMode.LAST)));
        int steps = 0;
        while (steps < WARMUP_DECODE_STEPS && prompt < maxSeqLen && System.nanoTime() - start < WARMUP_BUDGET_NANOS) {
            int position = prompt + steps % (maxSeqLen - prompt);
            runner.forward(Batch.of(new SequenceChunk(new int[] {steps % vocab}, position, table,
                    SequenceChunk.LogitsMode.LAST)));
            steps++;
        }
        LOG.debug("Warm-up ({} prompt tokens, {} decode steps) took {} ms", prompt, steps,
                (System.nanoTime() - start) / 1_000_000);
    }
}
