package io.trtllm.api;

import org.jspecify.annotations.Nullable;

/**
 * One rank of a model split over ranks ({@code tensor_parallel_size} × {@code pipeline_parallel_size}), for health
 * and metrics: {@link LLM#rankStats()}.
 *
 * @param rank              global rank, {@code stage × TP + TP rank}
 * @param shard             what the rank holds, in words (TP rank, stage, layers)
 * @param passes            forward passes the rank ran (failed ones included)
 * @param lastPassNanos     wall time of its last pass
 * @param deviceMemoryBytes device memory it holds; -1 on the CPU
 * @param failure           why it failed, or null
 */
public record RankStats(int rank, String shard, long passes, long lastPassNanos, long deviceMemoryBytes,
                        @Nullable String failure) {
}
