package io.trtllm.runtime.cuda;

import io.trtllm.model.RankShard;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.RankRunner;
import io.trtllm.runtime.VocabParallelHead;
import org.jspecify.annotations.Nullable;

/**
 * One tensor-parallel rank on a CUDA device ({@link io.trtllm.runtime.RankGroupRunner} drives the ranks, a thread
 * each): {@link CudaModelRunner}'s pass over the rank's shard, its partial sums completed over the ranks after the
 * embedding and the o and down projections, then the vocabulary-parallel head ({@link VocabParallelHead}) on the
 * host. Not thread-safe: its rank's thread calls it.
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
        return head.gather(batch, runner.passLocal(batch));
    }

    @Override
    public long deviceMemoryBytes() {
        return runner.deviceMemoryBytes();
    }

    /** The device and weights of the rank, in words. */
    String description() {
        return runner.description();
    }

    @Override
    public void close() {
        runner.close();
    }
}
