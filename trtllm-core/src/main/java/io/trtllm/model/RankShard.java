package io.trtllm.model;

/**
 * One rank's share of a model ({@link Parallelism#shard}): its query heads, KV heads, MLP features and
 * vocabulary rows (tensor parallel), and its contiguous range of layers (pipeline parallel).
 *
 * <p>Megatron's split, as TensorRT-LLM's: q/k/v and gate/up are column-parallel (a rank holds the output
 * rows of its heads / features), o and down row-parallel (the matching input columns; their partial
 * products are summed over the ranks), the embedding and the LM head vocabulary-parallel (a rank holds a
 * contiguous range of vocabulary rows). Where TP exceeds the KV heads, rank {@code r} holds a replica of
 * KV head {@code r / (tp / kvHeads)}, the one its query heads attend with.
 *
 * @param parallelism the split this rank belongs to
 * @param model       the whole model's configuration
 * @param tpRank      rank within its stage, {@code [0, tp)}
 * @param stage       pipeline stage, {@code [0, pp)}
 * @param firstLayer  first layer of this stage (global index)
 * @param endLayer    one past the last layer of this stage
 */
public record RankShard(Parallelism parallelism, ModelConfig model, int tpRank, int stage, int firstLayer,
                        int endLayer) {

    public RankShard {
        int tp = parallelism.tensorParallelSize();
        if (tpRank < 0 || tpRank >= tp || stage < 0 || stage >= parallelism.pipelineParallelSize()
                || firstLayer < 0 || endLayer <= firstLayer || endLayer > model.numLayers()) {
            throw new IllegalArgumentException("invalid shard: TP rank " + tpRank + ", stage " + stage + ", layers ["
                    + firstLayer + ", " + endLayer + ") of " + parallelism + " over " + model.numLayers() + " layers");
        }
    }

    /** Global rank: {@code stage * tp + tpRank}. */
    public int rank() {
        return stage * parallelism.tensorParallelSize() + tpRank;
    }

    private int tp() {
        return parallelism.tensorParallelSize();
    }

    /** Whether this stage embeds the tokens (the first). */
    public boolean firstStage() {
        return stage == 0;
    }

    /** Whether this stage computes the logits (the last). */
    public boolean lastStage() {
        return stage == parallelism.pipelineParallelSize() - 1;
    }

    /** This rank's first query head. */
    public int firstQueryHead() {
        return tpRank * queryHeads();
    }

    /** Query heads on this rank. */
    public int queryHeads() {
        return model.numHeads() / tp();
    }

    /** This rank's first KV head (a replica when TP exceeds the KV heads). */
    public int firstKvHead() {
        int kv = model.numKvHeads();
        return kv >= tp() ? tpRank * (kv / tp()) : tpRank / (tp() / kv);
    }

    /** KV heads on this rank: {@code kvHeads / tp}, or one replica. */
    public int kvHeads() {
        return Math.max(1, model.numKvHeads() / tp());
    }

    /** This rank's first MLP feature (rows of gate and up, columns of down). */
    public int firstFeature() {
        return tpRank * features();
    }

    /** MLP features on this rank. */
    public int features() {
        return model.intermediateSize() / tp();
    }

    /**
     * The vocabulary rows of this rank's embedding and LM head: {@code ceil(vocab / tp)} per rank, the last
     * rank the rest (so a vocabulary that does not divide still splits, as TensorRT-LLM pads it).
     */
    public int firstVocabRow() {
        return Math.min(model.vocabSize(), tpRank * vocabStride());
    }

    /** Vocabulary rows on this rank. */
    public int vocabRows() {
        return Math.min(model.vocabSize(), firstVocabRow() + vocabStride()) - firstVocabRow();
    }

    /** {@code ceil(vocab / tp)}: the rows every rank but the last holds, and the stride of gathered logits. */
    public int vocabStride() {
        return (model.vocabSize() + tp() - 1) / tp();
    }

    /** Layers of this stage. */
    public int layers() {
        return endLayer - firstLayer;
    }

    /**
     * The model as this rank computes it: its heads, KV heads, features, vocabulary rows and layers. The
     * runner of one rank is the runner of this configuration, over {@link #view} of the weights.
     */
    public ModelConfig localConfig() {
        ModelConfig m = model;
        return new ModelConfig(m.modelType(), vocabRows(), m.hiddenSize(), features(), layers(), queryHeads(),
                kvHeads(), m.headDim(), m.maxPositionEmbeddings(), m.rmsNormEps(), m.ropeTheta(), m.ropeScaling(),
                m.tieWordEmbeddings(), m.attentionBias(), m.outputBias(), m.qkNorm(), m.slidingWindow(), m.bosTokenId(),
                m.eosTokenIds(), m.torchDtype());
    }

    /**
     * This rank's tensors of {@code weights}, named and shaped for {@link #localConfig}: row slices in place,
     * column slices (o and down) copied into memory the view owns.
     *
     * @throws ModelFormatException when {@code weights} are an engine's packed panels (only a checkpoint's
     *                              row-major tensors can be sliced; build the engine with this split instead)
     */
    public ShardedTensors view(TensorSource weights) {
        return new ShardedTensors(this, weights);
    }

    @Override
    public String toString() {
        return "rank " + rank() + " (TP rank " + tpRank + " of " + tp() + ", stage " + stage + " of "
                + parallelism.pipelineParallelSize() + ", layers " + firstLayer + "-" + (endLayer - 1) + ")";
    }
}
