package io.trtllm.engine;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.api.config.Quantization;
import java.nio.file.Path;
import org.jspecify.annotations.Nullable;

/**
 * Which engine to run: the part of {@code LlmArgs} that names the model and what its engine is built
 * for, in the engine's terms ({@code io.trtllm.api} maps {@code LlmArgs} to it; this package cannot
 * see the API). The fields are {@code LlmArgs}' of the same names, already validated there.
 *
 * @param model            a builtin name, a Hugging Face model directory, a prebuilt engine directory or a
 *                         Hub id (see {@link io.trtllm.model.source.ModelSource})
 * @param backend          {@code auto}, {@code cpu} or {@code cuda}, as requested
 * @param cacheDir         cache root, or null for {@code TRTLLM_CACHE_DIR} / {@code ~/.cache/trtllm}
 * @param maxSeqLen        longest prompt + output, or null for min(max_position_embeddings, 4096)
 * @param maxInputLen      longest prompt, or null for max_seq_len
 * @param maxBatchSize     most sequences in one forward pass
 * @param maxNumTokens     most tokens in one forward pass
 * @param dtype            weights' dtype in the engine
 * @param quantization     weight-only quantization
 * @param enableBuildCache whether the engine comes from (and goes into) the engine cache
 * @param skipBuildCache   whether a cached engine is rebuilt and replaced
 * @param buildCache       the engine cache's location and limits
 */
public record EngineSpec(String model, String backend, @Nullable Path cacheDir, @Nullable Integer maxSeqLen,
                         @Nullable Integer maxInputLen, int maxBatchSize, int maxNumTokens, Dtype dtype,
                         Quantization quantization, boolean enableBuildCache, boolean skipBuildCache,
                         BuildCacheConfig buildCache) {
}
