package io.trtllm.runtime;

import io.trtllm.model.RankShard;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * How a rank of a pipeline runs a pass, shared by the backends' rank runners (CPU and CUDA): the batch is cut into
 * as many micro-batches as stages ({@link #microBatches}), and the rank runs them in order, each through its own
 * stage's layers, receiving its input from the previous stage and sending its output on as soon as it is done. So
 * while stage 1 computes micro-batch 0, stage 0 computes micro-batch 1 (GPipe's forward fill, without a backward
 * pass): with S stages and M = S micro-batches a pass takes S + M − 1 micro-steps instead of S × M.
 */
public final class PipelineSchedule {

    private PipelineSchedule() {
    }

    /**
     * Runs {@code batch} as {@code shard}'s rank: {@code pass} once per micro-batch, in order, returning the
     * micro-batch's result on the rank that ends the pass (TP rank 0 of the last stage) and null elsewhere; the
     * parts are put together in the batch's chunk order.
     *
     * @return the whole batch's result on the rank that ends the pass, else null
     */
    public static @Nullable ForwardResult run(RankShard shard, Batch batch, Function<Batch, @Nullable ForwardResult> pass) {
        List<Batch> micro = microBatches(batch, shard.parallelism().pipelineParallelSize());
        ForwardResult.Builder result = ForwardResult.builder(batch.chunks().size());
        int firstChunk = 0;
        for (Batch mb : micro) {
            ForwardResult part = pass.apply(mb);
            if (part != null) {
                for (int c = 0; c < part.size(); c++) {
                    result.tokenId(firstChunk + c, part.tokenId(c));
                    result.logits(firstChunk + c, part.logits(c));
                }
            }
            firstChunk += mb.chunks().size();
        }
        return shard.lastStage() && shard.tpRank() == 0 ? result.build() : null;
    }

    /**
     * {@code batch} cut into at most {@code parts} micro-batches of whole sequences in order, each about an
     * equal share of the tokens: the cut after a sequence falls where the running token count first reaches
     * the next share. Every rank cuts the same batch the same way.
     */
    public static List<Batch> microBatches(Batch batch, int parts) {
        List<SequenceChunk> chunks = batch.chunks();
        int m = Math.min(parts, chunks.size());
        if (m <= 1) {
            return List.of(batch);
        }
        long total = batch.tokenCount();
        List<Batch> out = new ArrayList<>(m);
        int from = 0;
        long seen = 0;
        for (int c = 0; c < chunks.size(); c++) {
            seen += chunks.get(c).length();
            int left = chunks.size() - c - 1; // sequences after this one
            int cutsLeft = m - out.size() - 1; // micro-batches still to start after this one
            boolean share = seen * m >= total * (out.size() + 1);
            if (cutsLeft > 0 && (share || left == cutsLeft)) {
                out.add(new Batch(chunks.subList(from, c + 1)));
                from = c + 1;
            }
        }
        out.add(new Batch(chunks.subList(from, chunks.size())));
        return out;
    }
}
