package io.trtllm.engine;

import io.trtllm.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * How {@link EngineBuilder} turns one checkpoint tensor into engine tensors: a dtype conversion
 * writes one tensor of the same shape; a quantizer may write several (packed values and their
 * scales). The builder first asks every tensor for its {@link #plan} (to lay out the file), then
 * calls {@link #write} once per planned tensor, one source tensor at a time.
 *
 * <p>Implementations must be deterministic: the same source bytes give the same engine bytes, so an
 * engine's checksums identify its content.
 */
public interface WeightTransform {

    /** The engine tensors that replace {@code source}; reads only its name, dtype and shape. */
    List<EngineTensor> plan(Tensor source);

    /**
     * Computes {@code out} (one of {@code plan(source)}'s) from {@code source} into {@code target},
     * which is exactly {@code out.byteSize()} bytes of the engine's mapped weights file.
     */
    void write(Tensor source, EngineTensor out, MemorySegment target);

    /** A short description for logs and the engine's config.json (e.g. "dtype bfloat16"). */
    String describe();
}
