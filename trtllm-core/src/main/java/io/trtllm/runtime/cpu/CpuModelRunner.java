package io.trtllm.runtime.cpu;

import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pure-Java forward pass of a Llama-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3) over a
 * paged KV cache. Every chunk of a {@link Batch} is computed in one pass: the matmuls run over all
 * rows of the batch at once, so a weight byte is read once per pass, not once per sequence.
 *
 * <p>Linear weights run in the kernels' panel layout ({@link PackedMatrix}, {@link PanelLayout}):
 * an engine built for the CPU stores them so (F32, BF16, F16, or quantized INT8 / INT4), and they
 * are used in place in the mapped file, with no copy; a plain checkpoint's row-major matrices are
 * repacked at load into off-heap panels of their dtype. 16-bit weights are widened to F32 panels at
 * load where memory allows (exact, so the same bits), else converted to F32 inside the kernels, as
 * quantized ones are. Embeddings are read in place from the mapped files (a tied, unquantized head of an
 * engine serves the lookups from its panels); activations are F32 on the heap, the paged KV cache F32 on the
 * heap or 16-bit off it, laid out as {@link Kernels#keyIndex} and {@link Kernels#valueIndex} say.
 *
 * <pre>
 * x = embed[tokens]                                   (T, dim)
 * for each layer:
 *   h = rmsnorm(x) ; q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ (+bias) ; [q,k = rmsnorm per head]   (Qwen3)
 *   q,k = rope(q,k, position) ; cache[k,v] at the sequence's slots
 *   a = softmax(q·Kᵀ/√d, causal, window) · V ; x += a·Woᵀ
 *   h = rmsnorm(x) ; x += (silu(h·Wgᵀ) * h·Wuᵀ)·Wdᵀ
 * logits = rmsnorm(x[rows]) · Wlmᵀ
 * </pre>
 *
 * <p>{@link #forward} is that list of steps; its parts each do one job: {@link CpuWeights} (loading,
 * packing, huge pages), {@link CpuKvCache}, {@link RunState} (activations and where each row comes
 * from), {@link ParallelLoops} (how work is split over the threads), {@link CpuAttention} (rope, cache
 * stores and attention of a layer), {@link LogitsHead} (the LM head and what each chunk gets back), over
 * the {@link Kernels}.
 */
public final class CpuModelRunner implements ModelRunner {
    private static final Logger LOG = LoggerFactory.getLogger(CpuModelRunner.class);

    private final ModelConfig config;
    private final KvCacheSpec kvSpec;
    private final Kernels kernels;
    private final CpuWeights weights;
    private final CpuKvCache cache;
    private final ParallelLoops loops;
    private final RunState s;
    private final CpuAttention attention;
    private final LogitsHead head;
    private boolean closed;

    /**
     * Builds a runner over an open checkpoint. The checkpoint must stay open while the runner is
     * used (weights are read in place); the caller owns and closes it.
     *
     * @param threads worker threads for the parallel loops (the calling thread counts as one)
     */
    public CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, int threads) {
        this(config, weights, kvSpec, DType.F32, threads);
    }

    /**
     * A runner whose KV cache holds {@code kvType} elements: {@link DType#F32}, or {@link DType#BF16}
     * / {@link DType#F16} for half the memory and half the bytes attention reads (keys and values
     * rounded to nearest even when stored).
     */
    public CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, DType kvType, int threads) {
        this(config, weights, kvSpec, kvType, threads, RuntimeConfig.fromSystemProperties().cpuHugePages());
    }

    /**
     * As above; {@code allowHugePages} false keeps the matmul weights where they are mapped instead of
     * copying them onto transparent huge pages ({@code RuntimeConfig.cpuHugePages}).
     */
    public CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, DType kvType, int threads,
                          boolean allowHugePages) {
        this(config, weights, kvSpec, kvType, threads, CpuKernels.best(), allowHugePages);
    }

    CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, DType kvType, int threads, Kernels kernels) {
        this(config, weights, kvSpec, kvType, threads, kernels, RuntimeConfig.fromSystemProperties().cpuHugePages());
    }

    CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, DType kvType, int threads, Kernels kernels,
                   boolean allowHugePages) {
        CpuKvCache.checkType(kvType); // before the weights load, which takes a while
        HostCodeDirective.addOnce(); // opt-in (-Dtrtllm.cpu.hostCodeC1=true), before the warm-up
        this.config = config;
        this.kvSpec = kvSpec;
        this.kernels = kernels;
        this.weights = new CpuWeights(config, weights, kernels, allowHugePages);
        CpuKvCache kv = null;
        try {
            kv = new CpuKvCache(config, kvSpec, kvType);
            this.loops = new ParallelLoops(threads, kernels);
        } catch (RuntimeException | Error e) {
            if (kv != null) {
                kv.close();
            }
            this.weights.close();
            throw e;
        }
        this.cache = kv;
        this.s = new RunState(config);
        this.attention = new CpuAttention(config, kvSpec, kernels, loops, cache, s);
        this.head = new LogitsHead(config, kernels, loops, this.weights);
        LOG.debug("CPU runner: {} layers, {} threads, kernels {}, weights {} ({}), KV cache {} blocks × {} tokens, {} ({} MiB)",
                this.weights.layers(), threads, kernels.description(), this.weights.lmHead().format(), this.weights.placement(),
                kvSpec.numBlocks(), kvSpec.blockSize(), kvType, cache.bytes() / (1 << 20));
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public KvCacheSpec kvCache() {
        return kvSpec;
    }

    @Override
    public String backend() {
        return "cpu";
    }

    @Override
    public String description() {
        return kernelDescription() + (weights.hugePageBytes() == 0 ? "" : ", huge pages")
                + (cache.f32() ? "" : ", KV cache " + cache.type());
    }

    /** The weights as loaded (tests: where they live, whether they were widened). */
    CpuWeights weights() {
        return weights;
    }

    /** Which kernels this runner uses (for logs); "INT4 as W4A8" only when this engine has matrices that run so. */
    public String kernelDescription() {
        boolean w4a8 = kernels.quantizesActivations(weights.lmHead());
        for (int l = 0; l < weights.layers() && !w4a8; l++) {
            CpuWeights.Layer layer = weights.layer(l);
            for (PackedMatrix m : java.util.List.of(layer.wqkv(), layer.wo(), layer.gate(), layer.up(), layer.down())) {
                w4a8 |= kernels.quantizesActivations(m);
            }
        }
        return kernels.description() + (w4a8 ? ", INT4 as W4A8" : "") + ", " + loops.threads() + " threads";
    }

    /** The pass, step by step as the class comment draws it: T rows, every chunk of the batch at once. */
    @Override
    public ForwardResult forward(Batch batch) {
        batch.checkAgainst(config, kvSpec);
        int tokens = batch.tokenCount();
        int dim = config.hiddenSize();
        int qkvDim = config.qDim() + 2 * config.kvDim();
        RunState s = this.s;
        s.prepare(batch);
        attention.prepare(batch);

        // x = embed[token] of each row; each row's rotary angles (cos, sin of position × frequency)
        RowSource embedding = weights.embedding();
        loops.forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                embedding.row(s.rowToken[t], s.x, t * dim);
                attention.rotaryAngles(t);
            }
        });

        for (int l = 0; l < weights.layers(); l++) {
            CpuWeights.Layer w = weights.layer(l);

            // attention: xb = rmsnorm(x)
            rmsNormRows(s.x, s.xb, tokens, w.attnNorm());
            // qkv = xb · [Wq; Wk; Wv]ᵀ: q, k and v side by side in one row, one matmul
            loops.matmul(s.xb, tokens, w.wqkv(), s.qkv, qkvDim, 0);
            // q, k (+ bias; Qwen3: rmsnorm per head) rotated, k and v (+ bias) into the cache at each row's slot;
            // att = softmax(q·Kᵀ/√headDim, causal, sliding window) · V over each row's cached positions
            attention.run(l, w, tokens);
            // x += att · Woᵀ (+ bias)
            loops.matmul(s.att, tokens, w.wo(), s.xb, dim, 0);
            addToResidual(tokens, w.bo());

            // feed-forward: xb = rmsnorm(x)
            rmsNormRows(s.x, s.xb, tokens, w.ffnNorm());
            // hidden = silu(xb · Wgᵀ) * (xb · Wuᵀ)
            gateUpSilu(w, tokens);
            // x += hidden · Wdᵀ
            loops.matmul(s.hidden, tokens, w.down(), s.xb, dim, 0);
            addToResidual(tokens, null);
        }

        // logits = rmsnorm(x[rows that need them]) · Wlmᵀ; per chunk its argmax, its draw or its logits rows
        return head.logits(batch, s.x);
    }

    /** {@code out = rmsnorm(in)} row by row ({@code dim} floats each), rows in parallel for a prefill. */
    private void rmsNormRows(float[] in, float[] out, int tokens, float[] weight) {
        int dim = config.hiddenSize();
        float eps = (float) config.rmsNormEps();
        loops.forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                RowOps.rmsNorm(in, t * dim, out, t * dim, dim, weight, eps);
            }
        });
    }

    /** {@code x += xb (+ bias)} row by row, rows in parallel for a prefill. */
    private void addToResidual(int tokens, float @Nullable [] bias) {
        int dim = config.hiddenSize();
        float[] x = s.x;
        float[] xb = s.xb;
        loops.forRows(tokens, (t0, t1) -> {
            if (bias != null) {
                for (int t = t0; t < t1; t++) {
                    RowOps.addBias(xb, t * dim, bias, dim);
                }
            }
            RowOps.addInPlace(x, xb, t0 * dim, t1 * dim);
        });
    }

    /**
     * {@code hidden = silu(xb · Wgᵀ) * (xb · Wuᵀ)}: gate, up and their product for one range of features
     * (panels) per thread, in one parallel region, the gate and up rows still in cache for the product.
     */
    private void gateUpSilu(CpuWeights.Layer w, int tokens) {
        int inter = config.intermediateSize();
        float[] xb = s.xb;
        float[] gateUp = s.gateUp;
        float[] hidden = s.hidden;
        loops.forEachUnit(w.gate(), tokens, (t0, t1, start, end) -> {
            kernels.matmul(xb, t0, t1, w.gate(), start, end, gateUp, 2 * inter, 0);
            kernels.matmul(xb, t0, t1, w.up(), start, end, gateUp, 2 * inter, inter);
            int f0 = w.gate().firstRow(start);
            int f1 = end == w.gate().panels() ? inter : w.gate().firstRow(end);
            for (int t = t0; t < t1; t++) {
                int g = t * 2 * inter;
                kernels.siluMul(gateUp, g + f0, g + inter + f0, hidden, t * inter + f0, f1 - f0);
            }
        });
    }

    @Override
    public boolean copiesBlocks() {
        return true;
    }

    @Override
    public void copyBlocks(int[] pairs) {
        if (pairs.length % 2 != 0) {
            throw new IllegalArgumentException("block copies come in (source, target) pairs, got " + pairs.length + " ids");
        }
        for (int id : pairs) {
            if (id < 0 || id >= kvSpec.numBlocks()) {
                throw new IllegalArgumentException("block id " + id + " is out of range [0, " + kvSpec.numBlocks() + ")");
            }
        }
        for (int i = 0; i < pairs.length; i += 2) {
            cache.copyBlock(pairs[i], pairs[i + 1]);
        }
    }

    /** Stops the threads and frees the KV cache and what was packed at load; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        loops.close();
        cache.close();
        weights.close();
    }
}
