package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import io.trtllm.model.RankShard;
import io.trtllm.model.ShardedTensors;
import io.trtllm.model.TensorSource;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.Communicator;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.InProcessCommunicators;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.PipelineSchedule;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.RankGroupRunner;
import io.trtllm.runtime.RankRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.VocabParallelHead;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.time.Duration;
import java.util.List;
import java.util.function.IntFunction;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One rank of a model split over CPU threads ({@link io.trtllm.runtime.RankGroupRunner} drives the ranks):
 * {@link CpuModelRunner}'s pass over this rank's {@link RankShard#localConfig shard}, with the exchanges
 * Megatron's split needs. The kernels, the attention and the KV cache are {@link CpuModelRunner}'s, run on the
 * shard's heads and features; what differs is said below.
 *
 * <pre>
 * first stage:  x = embed[tokens] of this rank's vocabulary rows (0 elsewhere) ; all-reduce(x)
 * other stages: x = receive from the previous stage
 * for each layer of the stage:
 *   h = rmsnorm(x) ; q,k,v of this rank's heads ; attention over this rank's KV cache
 *   xb = att · Wo[:, rank's columns]ᵀ ; all-reduce(xb) ; x += xb (+ bias, once)
 *   h = rmsnorm(x) ; hidden = silu(h·Wg[rank's rows]ᵀ) * h·Wu[rank's rows]ᵀ
 *   xb = hidden · Wd[:, rank's columns]ᵀ ; all-reduce(xb) ; x += xb
 * last stage:   logits of this rank's vocabulary rows = rmsnorm(x[rows]) · Wlm[rank's rows]ᵀ
 *                 argmax: each rank's best (value, id), all-gathered, compared in vocabulary order
 *                 logits rows and draws: the rows all-gathered into whole rows on TP rank 0
 * other stages: send x to the next stage
 * </pre>
 *
 * <p>Micro-batches: with pipeline stages, {@link PipelineSchedule} (shared with the CUDA ranks) cuts a batch into
 * as many micro-batches as stages, by whole sequences and about equal tokens; each stage runs them in order on its
 * own thread, sending one on as soon as it is done. Every stage keeps the KV cache of its own layers, in the block ids the scheduler gave; the residual stream is
 * identical on the TP ranks of a stage (the all-reduce gives each the same bits), so each sends its own copy
 * to the same TP rank of the next stage.
 */
public final class CpuRankRunner implements RankRunner {
    private static final Logger LOG = LoggerFactory.getLogger(CpuRankRunner.class);
    private final RankShard shard;
    private final ModelConfig local;
    private final Kernels kernels;
    /** The slice of the whole model's tensors this rank reads, or null when it was given its shard's own. */
    private final @Nullable ShardedTensors view;
    private final CpuWeights weights;
    private final CpuKvCache cache;
    private final ParallelLoops loops;
    private final RunState s;
    private final CpuAttention attention;
    private final Communicator tp;
    private final @Nullable Communicator pp;
    private final VocabParallelHead vocabHead;
    private float[] logitsInput = new float[0];
    private float[] localLogits = new float[0];
    private boolean closed;

    /**
     * Loads this rank's shard of {@code weights} (a checkpoint's row-major tensors, or a rank's shard of an
     * engine built for this split) and allocates its KV cache: the cache's blocks are the whole model's, each
     * holding this rank's KV heads of its stage's layers.
     *
     * @param weights the whole model's tensors; this runner slices its part ({@link RankShard#view})
     * @param tp      this rank's communicator among the TP ranks of its stage (size TP, rank = TP rank)
     * @param pp      this rank's communicator among the stages of its TP rank (size PP, rank = stage), or null
     *                for one stage
     */
    public CpuRankRunner(RankShard shard, TensorSource weights, KvCacheSpec kvSpec, DType kvType, int threads,
                         Communicator tp, @Nullable Communicator pp) {
        this(shard, weights, false, kvSpec, kvType, threads, tp, pp, CpuKernels.best());
    }

    /**
     * @param sharded whether {@code weights} are this rank's shard already (a rank's file of an engine built for the
     *                split, named and shaped for {@link RankShard#localConfig}, in the CPU's panel layout or not),
     *                rather than the whole model's
     */
    CpuRankRunner(RankShard shard, TensorSource weights, boolean sharded, KvCacheSpec kvSpec, DType kvType, int threads,
                  Communicator tp, @Nullable Communicator pp, Kernels kernels) {
        CpuKvCache.checkType(kvType);
        if (tp.size() != shard.parallelism().tensorParallelSize() || tp.rank() != shard.tpRank()) {
            throw new IllegalArgumentException("TP communicator rank " + tp.rank() + " of " + tp.size() + " does not fit " + shard);
        }
        int stages = shard.parallelism().pipelineParallelSize();
        if (stages > 1 && (pp == null || pp.size() != stages || pp.rank() != shard.stage())) {
            throw new IllegalArgumentException("pipeline communicator does not fit " + shard);
        }
        this.shard = shard;
        this.local = shard.localConfig();
        this.kernels = kernels;
        this.tp = tp;
        this.pp = stages > 1 ? pp : null;
        this.vocabHead = new VocabParallelHead(shard, tp);
        // Only row-major tensors can be sliced; an engine built for this split holds each rank's shard already, in
        // whichever layout, and is read as it is.
        this.view = sharded ? null : shard.view(weights);
        TensorSource own = view != null ? view : weights;
        CpuWeights w = null;
        CpuKvCache kv = null;
        ParallelLoops l = null;
        try {
            w = new CpuWeights(local, own, kernels, io.trtllm.api.config.RuntimeConfig.fromSystemProperties().cpuHugePages());
            kv = new CpuKvCache(local, kvSpec, kvType);
            l = new ParallelLoops(threads, kernels);
        } catch (RuntimeException | Error e) {
            if (kv != null) {
                kv.close();
            }
            if (w != null) {
                w.close();
            }
            if (view != null) {
                view.close();
            }
            throw e;
        }
        this.weights = w;
        this.cache = kv;
        this.loops = l;
        this.s = new RunState(local);
        this.attention = new CpuAttention(local, kvSpec, kernels, loops, cache, s);
    }

    /**
     * The ranks of {@code parallelism} over {@code weights}, one thread each, behind one {@link ModelRunner}: a
     * TP communicator per stage and a pipeline communicator per TP rank, all in-process.
     *
     * @param threads  threads of each rank's parallel loops (the rank's own thread counts as one)
     * @param timeout  longest a pass (and a wait in a collective) may take before the group fails
     * @throws IllegalArgumentException when the model does not split as asked ({@link Parallelism#check})
     */
    public static RankGroupRunner openGroup(ModelConfig config, TensorSource weights, Parallelism parallelism,
                                            KvCacheSpec kvSpec, DType kvType, int threads, Duration timeout) {
        return openGroup(config, rank -> weights, false, parallelism, kvSpec, kvType, threads, timeout);
    }

    /**
     * The ranks of {@code parallelism}, each over its own shard: rank r's file of an engine built for this split
     * ({@code rank<r>/model.safetensors}, in the CPU's panel layout), mapped and run in place as a
     * {@link CpuModelRunner} runs a whole engine.
     *
     * @param rankWeights rank r's tensors, named and shaped for its {@link RankShard#localConfig}
     */
    public static RankGroupRunner openShardedGroup(ModelConfig config, IntFunction<? extends TensorSource> rankWeights,
                                                   Parallelism parallelism, KvCacheSpec kvSpec, DType kvType, int threads,
                                                   Duration timeout) {
        return openGroup(config, rankWeights, true, parallelism, kvSpec, kvType, threads, timeout);
    }

    private static RankGroupRunner openGroup(ModelConfig config, IntFunction<? extends TensorSource> weights,
                                             boolean sharded, Parallelism parallelism, KvCacheSpec kvSpec, DType kvType,
                                             int threads, Duration timeout) {
        parallelism.check(config);
        int tpSize = parallelism.tensorParallelSize();
        int ppSize = parallelism.pipelineParallelSize();
        List<List<Communicator>> tpGroups = new ArrayList<>();
        List<List<Communicator>> ppGroups = new ArrayList<>();
        List<Communicator> all = new ArrayList<>();
        for (int stage = 0; stage < ppSize; stage++) {
            tpGroups.add(InProcessCommunicators.create(tpSize, timeout));
            all.addAll(tpGroups.getLast());
        }
        for (int t = 0; t < tpSize; t++) {
            ppGroups.add(InProcessCommunicators.create(ppSize, timeout));
            all.addAll(ppGroups.getLast());
        }
        List<CpuRankRunner> ranks = new ArrayList<>();
        try {
            for (RankShard shard : parallelism.shards(config)) {
                ranks.add(new CpuRankRunner(shard, weights.apply(shard.rank()), sharded, kvSpec, kvType, threads,
                        tpGroups.get(shard.stage()).get(shard.tpRank()),
                        ppSize > 1 ? ppGroups.get(shard.tpRank()).get(shard.stage()) : null, CpuKernels.best()));
            }
            LOG.debug("CPU ranks: {}, {} threads each, KV cache {} blocks × {} tokens per rank{}", parallelism, threads,
                    kvSpec.numBlocks(), kvSpec.blockSize(), sharded ? ", each over its engine shard" : "");
            return new RankGroupRunner(config, kvSpec, "cpu", parallelism, ranks, all, timeout);
        } catch (RuntimeException | Error e) {
            for (CpuRankRunner r : ranks) {
                r.close();
            }
            throw e;
        }
    }

    @Override
    public RankShard shard() {
        return shard;
    }

    @Override
    public @Nullable ForwardResult forward(Batch batch) {
        return PipelineSchedule.run(shard, batch, this::pass);
    }

    /** One micro-batch through this rank's layers; the result on the rank that returns it, else null. */
    private @Nullable ForwardResult pass(Batch batch) {
        int tokens = batch.tokenCount();
        int dim = local.hiddenSize();
        int qkvDim = local.qDim() + 2 * local.kvDim();
        RunState s = this.s;
        s.prepare(batch);
        attention.prepare(batch);

        loops.forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                attention.rotaryAngles(t);
            }
        });
        if (shard.firstStage()) {
            // x = embed[token]: this rank's vocabulary rows, zeros for the others' tokens; the sum over the ranks is the lookup.
            RowSource embedding = weights.embedding();
            int v0 = shard.firstVocabRow();
            int rows = shard.vocabRows();
            for (int t = 0; t < tokens; t++) {
                int id = s.rowToken[t] - v0;
                if (id >= 0 && id < rows) {
                    embedding.row(id, s.x, t * dim);
                } else {
                    Arrays.fill(s.x, t * dim, (t + 1) * dim, 0f);
                }
            }
            allReduce(s.x, tokens * dim);
        } else {
            pp().receive(MemorySegment.ofArray(s.x).asSlice(0, tokens * dim * 4L), shard.stage() - 1);
        }

        for (int l = 0; l < weights.layers(); l++) {
            CpuWeights.Layer w = weights.layer(l);
            rmsNormRows(s.x, s.xb, tokens, w.attnNorm());
            loops.matmul(s.xb, tokens, w.wqkv(), s.qkv, qkvDim, 0);
            attention.run(l, w, tokens);
            // This rank's heads' share of att · Woᵀ; summed over the ranks before the residual (and the bias, once).
            loops.matmul(s.att, tokens, w.wo(), s.xb, dim, 0);
            allReduce(s.xb, tokens * dim);
            addToResidual(tokens, w.bo());

            rmsNormRows(s.x, s.xb, tokens, w.ffnNorm());
            gateUpSilu(w, tokens);
            loops.matmul(s.hidden, tokens, w.down(), s.xb, dim, 0);
            allReduce(s.xb, tokens * dim);
            addToResidual(tokens, null);
        }

        if (!shard.lastStage()) {
            pp().send(MemorySegment.ofArray(s.x).asSlice(0, tokens * dim * 4L), shard.stage() + 1);
            return null;
        }
        return head(batch);
    }

    private Communicator pp() {
        if (pp == null) {
            throw new IllegalStateException("no pipeline communicator for " + shard);
        }
        return pp;
    }

    private void allReduce(float[] buffer, int count) {
        if (tp.size() > 1) {
            tp.allReduceSum(buffer, 0, count);
        }
    }

    /**
     * The logits of the rows that need them, over this rank's vocabulary rows; what each chunk gets back,
     * on TP rank 0 ({@link VocabParallelHead}).
     */
    private @Nullable ForwardResult head(Batch batch) {
        int dim = local.hiddenSize();
        int rows = 0;
        for (SequenceChunk c : batch.chunks()) {
            rows += c.logitsRows();
        }
        if (rows == 0) {
            return shard.tpRank() == 0 ? ForwardResult.builder(batch.chunks().size()).build() : null;
        }
        int localVocab = shard.vocabRows();
        if (logitsInput.length < rows * dim) {
            logitsInput = new float[rows * dim];
        }
        if (localLogits.length < rows * localVocab + RunState.PAD) {
            localLogits = new float[rows * localVocab + RunState.PAD];
        }
        float[] sel = logitsInput;
        float[] out = localLogits;
        int r = 0;
        int firstRow = 0;
        for (SequenceChunk c : batch.chunks()) {
            for (int i = c.firstLogitsRow(); i < c.firstLogitsRow() + c.logitsRows(); i++, r++) {
                RowOps.rmsNorm(s.x, (firstRow + i) * dim, sel, r * dim, dim, weights.finalNorm(), (float) local.rmsNormEps());
            }
            firstRow += c.length();
        }
        PackedMatrix lmHead = weights.lmHead();
        int totalRows = rows;
        loops.parallelFor(lmHead.panels(), (start, end, worker) ->
                kernels.matmul(sel, totalRows, lmHead, start, end, out, localVocab, 0));
        return vocabHead.gather(batch, out);
    }

    private void rmsNormRows(float[] in, float[] out, int tokens, float[] weight) {
        int dim = local.hiddenSize();
        float eps = (float) local.rmsNormEps();
        loops.forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                RowOps.rmsNorm(in, t * dim, out, t * dim, dim, weight, eps);
            }
        });
    }

    private void addToResidual(int tokens, float @Nullable [] bias) {
        int dim = local.hiddenSize();
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

    /** {@link CpuModelRunner}'s fused gate, up and SiLU product, over this rank's features. */
    private void gateUpSilu(CpuWeights.Layer w, int tokens) {
        int inter = local.intermediateSize();
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

    /** Frees the KV cache, the weights packed at load and the copied slices; stops the threads. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        loops.close();
        cache.close();
        weights.close();
        if (view != null) {
            view.close();
        }
    }
}
