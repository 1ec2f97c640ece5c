package io.trtllm.model;

import java.util.ArrayList;
import java.util.List;

/**
 * How a model is split over ranks, as TensorRT-LLM's {@code Mapping}: {@code tensorParallelSize} ranks
 * share every layer (Megatron-style: heads, MLP features and vocabulary rows split among them), and
 * {@code pipelineParallelSize} stages each hold a contiguous range of layers. World size = TP × PP; rank
 * {@code r} is TP rank {@code r % tp} of stage {@code r / tp} (TensorRT-LLM's {@code pp_rank * tp_size + tp_rank}).
 *
 * @param tensorParallelSize   ranks that split each layer, ≥ 1
 * @param pipelineParallelSize stages of contiguous layers, ≥ 1
 */
public record Parallelism(int tensorParallelSize, int pipelineParallelSize) {

    /** One rank: the whole model on one device. */
    public static final Parallelism NONE = new Parallelism(1, 1);

    /** {@code tensor_parallel_size}, as the API spells it. */
    public static final String TP = "tensor_parallel_size";
    /** {@code pipeline_parallel_size}, as the API spells it. */
    public static final String PP = "pipeline_parallel_size";

    /** More ranks than this is a typo, not a cluster this engine drives from one process. */
    public static final int MAX_WORLD_SIZE = 64;

    public Parallelism {
        if (tensorParallelSize < 1) {
            throw new IllegalArgumentException("tensor_parallel_size must be >= 1, got " + tensorParallelSize);
        }
        if (pipelineParallelSize < 1) {
            throw new IllegalArgumentException("pipeline_parallel_size must be >= 1, got " + pipelineParallelSize);
        }
        if ((long) tensorParallelSize * pipelineParallelSize > MAX_WORLD_SIZE) {
            throw new IllegalArgumentException("tensor_parallel_size " + tensorParallelSize + " × pipeline_parallel_size "
                    + pipelineParallelSize + " exceeds " + MAX_WORLD_SIZE + " ranks");
        }
    }

    /** Ranks in all: TP × PP. */
    public int worldSize() {
        return tensorParallelSize * pipelineParallelSize;
    }

    /** Whether the model runs as one rank. */
    public boolean single() {
        return worldSize() == 1;
    }

    /**
     * Checks that {@code config} splits as asked, before any weight is read.
     *
     * @throws InvalidSplitException naming the size and the model's value that does not divide: query heads
     *                                  and MLP features must divide by TP; KV heads must divide by TP, or TP by
     *                                  them (each rank then holds a replica of one KV head, as TensorRT-LLM
     *                                  does); the vocabulary and layers must have a row / layer per rank
     */
    public void check(ModelConfig config) {
        int tp = tensorParallelSize;
        if (config.numHeads() % tp != 0) {
            throw new InvalidSplitException(TP, tp, "tensor_parallel_size " + tp + " does not divide num_attention_heads "
                    + config.numHeads() + " of the model");
        }
        int kv = config.numKvHeads();
        if (kv % tp != 0 && tp % kv != 0) {
            throw new InvalidSplitException(TP, tp, "tensor_parallel_size " + tp + " and num_key_value_heads " + kv
                    + " of the model: one must divide the other (KV heads are split, or replicated when fewer than ranks)");
        }
        if (config.intermediateSize() % tp != 0) {
            throw new InvalidSplitException(TP, tp, "tensor_parallel_size " + tp + " does not divide intermediate_size "
                    + config.intermediateSize() + " of the model");
        }
        // ceil(vocab / tp) rows per rank, the last the rest: the last must keep at least one.
        long stride = ((long) config.vocabSize() + tp - 1) / tp;
        if (stride * (tp - 1) >= config.vocabSize()) {
            throw new InvalidSplitException(TP, tp, "vocab_size " + config.vocabSize() + " of the model is too small to split over "
                    + "tensor_parallel_size " + tp + " ranks");
        }
        if (config.numLayers() < pipelineParallelSize) {
            throw new InvalidSplitException(PP, pipelineParallelSize, "pipeline_parallel_size " + pipelineParallelSize
                    + " exceeds num_hidden_layers " + config.numLayers() + " of the model (a stage needs a layer)");
        }
    }

    /**
     * Rank {@code rank}'s share of {@code config}'s model.
     *
     * @throws IllegalArgumentException when the rank is out of range or the model does not split ({@link #check})
     */
    public RankShard shard(ModelConfig config, int rank) {
        check(config);
        if (rank < 0 || rank >= worldSize()) {
            throw new IllegalArgumentException("rank " + rank + " is out of range [0, " + worldSize() + ")");
        }
        int stage = rank / tensorParallelSize;
        int layers = config.numLayers();
        // Contiguous ranges, the first (layers % pp) stages one layer longer: as balanced as whole layers allow.
        int base = layers / pipelineParallelSize;
        int extra = layers % pipelineParallelSize;
        int first = stage * base + Math.min(stage, extra);
        int end = first + base + (stage < extra ? 1 : 0);
        return new RankShard(this, config, rank % tensorParallelSize, stage, first, end);
    }

    /** Every rank's share, in rank order. */
    public List<RankShard> shards(ModelConfig config) {
        List<RankShard> all = new ArrayList<>(worldSize());
        for (int r = 0; r < worldSize(); r++) {
            all.add(shard(config, r));
        }
        return List.copyOf(all);
    }

    @Override
    public String toString() {
        return "TP " + tensorParallelSize + " × PP " + pipelineParallelSize;
    }
}
