package io.trtllm.engine;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.model.Parallelism;
import java.time.Duration;
import java.util.List;

/**
 * How a loaded engine runs: the KV cache's size and element type, the CPU backend's threads, how the
 * model is split over ranks, and the backends' fast-path switches ({@code LlmArgs.kvCacheConfig},
 * {@code threads}, {@code tensorParallelSize}, {@code pipelineParallelSize}, {@code deviceIds}, {@code runtime}).
 *
 * @param kvCache     the KV cache's size (or share of memory), block size and element type
 * @param threads     CPU threads of the forward pass, all ranks together; 0 = all available processors
 * @param parallelism tensor and pipeline parallel sizes
 * @param deviceIds   the ranks' CUDA devices in rank order, or empty for 0 .. world size − 1
 * @param rankTimeout longest one pass of a split model may take before its ranks are aborted
 * @param runtime     the backends' fast-path switches ({@code LlmArgs.runtime})
 */
public record RunnerOptions(KvCacheConfig kvCache, int threads, Parallelism parallelism, List<Integer> deviceIds,
                            Duration rankTimeout, RuntimeConfig runtime) {

    /** A pass of a split model that takes longer than this is a hung rank, not a slow one. */
    public static final Duration DEFAULT_RANK_TIMEOUT = Duration.ofMinutes(5);

    public RunnerOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all processors), got " + threads);
        }
        deviceIds = List.copyOf(deviceIds);
        if (!deviceIds.isEmpty() && deviceIds.size() != parallelism.worldSize()) {
            throw new IllegalArgumentException(deviceIds.size() + " device ids for " + parallelism.worldSize() + " ranks");
        }
        if (rankTimeout.isNegative() || rankTimeout.isZero()) {
            throw new IllegalArgumentException("rank timeout must be > 0, got " + rankTimeout);
        }
    }
}
