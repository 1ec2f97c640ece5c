package io.trtllm.engine;

import io.trtllm.api.config.Dtype;
import io.trtllm.model.DType;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The unquantized weight transform: every tensor converted to one dtype (or copied as it is when
 * the dtype is {@code auto} or already the target), as {@link TensorConversion#convert} rounds.
 */
public final class DTypeConversion implements WeightTransform {
    private final Dtype dtype;
    private final @Nullable DType target;

    /** @param dtype the engine's dtype; {@link Dtype#AUTO} keeps each tensor's own */
    public DTypeConversion(Dtype dtype) {
        this.dtype = dtype;
        this.target = DType.of(dtype);
    }

    private DType targetOf(Tensor source) {
        return target != null ? target : source.dtype();
    }

    /** @throws IllegalArgumentException for an integer (already quantized) tensor, naming it */
    @Override
    public List<EngineTensor> plan(Tensor source) {
        if (!source.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("tensor '" + source.name() + "' has dtype " + source.dtype()
                    + ": checkpoints with integer (pre-quantized) weights are not supported; give F32, BF16 or F16 "
                    + "weights and build with quantization int8 or int4");
        }
        DType to = targetOf(source);
        return List.of(new EngineTensor(source.name(), to.name(), source.shape(), source.numel() * to.byteSize()));
    }

    @Override
    public void write(Tensor source, EngineTensor out, MemorySegment target) {
        TensorConversion.convert(source, targetOf(source), target);
    }

    @Override
    public String describe() {
        return "dtype " + dtype.id();
    }
}
