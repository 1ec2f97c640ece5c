package io.trtllm.runtime.cuda;

import io.trtllm.model.RankShard;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.PipelineSchedule;
import io.trtllm.runtime.RankRunner;
import io.trtllm.runtime.VocabParallelHead;
import org.jspecify.annotations.Nullable;

/**
 * One rank of a split model on a CUDA device ({@link io.trtllm.runtime.RankGroupRunner} drives the ranks, a thread
 * each): {@link CudaModelRunner}'s pass over the rank's shard, its partial sums completed over the TP ranks after
 * the embedding and the o and down projections, the residual stream received from the previous stage and sent to
 * the next, micro-batch by micro-batch as {@link PipelineSchedule} runs them (the CPU ranks' schedule), then on the
 * last stage the vocabulary-parallel head ({@link VocabParallelHead}) on the host. Not thread-safe: its rank's
 * thread calls it.
 */
final class CudaRankRunner implements RankRunner {
    private final RankShard shard;
    private final CudaModelRunner runner;
    private final VocabParallelHead head;

    /**
     * @param runner the rank's runner, built for {@code shard} (owned: closed with this rank)
     */
    CudaRankRunner(RankShard shard, CudaModelRunner runner, VocabParallelHead head) {
        this.shard = shard;
        this.runner = runner;
        this.head = head;
    }

    @Override
    public RankShard shard() {
        return shard;
    }

    @Override
    public @Nullable ForwardResult forward(Batch batch) {
        return PipelineSchedule.run(shard, batch, micro -> {
            float[] logits = runner.passLocal(micro);
            return logits == null ? null : head.gather(micro, logits);
        });
    }

    @Override
    public long deviceMemoryBytes() {
        return runner.deviceMemoryBytes();
    }

    /** The device and weights of the rank, and its exchanges' paths, in words. */
    String description() {
        String paths = runner.exchangePaths();
        return runner.description() + (paths.isEmpty() ? "" : "; " + paths);
    }

    @Override
    public void close() {
        runner.close();
    }
}
