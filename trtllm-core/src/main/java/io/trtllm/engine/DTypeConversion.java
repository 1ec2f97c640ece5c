package io.trtllm.engine;

import io.trtllm.model.DType;
import io.trtllm.model.Tensor;
import io.trtllm.runtime.cpu.PanelLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The unquantized weight transform: every tensor converted to one dtype (or copied as it is when
 * the dtype is {@code auto} or already the target). F32 to BF16 rounds to nearest even, as
 * PyTorch's {@code .to(torch.bfloat16)}; F32 to F16 uses {@link Float#floatToFloat16} (IEEE
 * round to nearest even, overflow to infinity).
 */
public final class DTypeConversion implements WeightTransform {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final @Nullable DType target;

    /** @param target the engine's dtype, or null to keep each tensor's own */
    public DTypeConversion(@Nullable DType target) {
        this.target = target;
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
        convert(source, targetOf(source), target);
    }

    /**
     * Writes {@code source}'s elements into {@code target} as {@code to} (F32, BF16 or F16; little-endian),
     * rounding to nearest even as torch's {@code .to(dtype)} does; the same type is copied as it is.
     *
     * @throws IllegalArgumentException when either type is not floating-point
     */
    public static void convert(Tensor source, DType to, MemorySegment target) {
        MemorySegment from = source.data();
        if (source.dtype() == to) {
            MemorySegment.copy(from, 0, target, 0, from.byteSize());
            return;
        }
        long n = source.numel();
        for (long i = 0; i < n; i++) {
            float v = switch (source.dtype()) {
                case F32 -> from.get(F32, i * 4);
                case BF16 -> Float.intBitsToFloat((from.get(U16, i * 2) & 0xffff) << 16);
                case F16 -> Float.float16ToFloat(from.get(U16, i * 2));
                case I8, U8 -> throw new IllegalArgumentException("tensor '" + source.name() + "' is not floating-point");
            };
            switch (to) {
                case F32 -> target.set(F32, i * 4, v);
                case BF16 -> target.set(U16, i * 2, PanelLayout.toBfloat16(v));
                case F16 -> target.set(U16, i * 2, Float.floatToFloat16(v));
                case I8, U8 -> throw new IllegalArgumentException("dtype " + to + " is not a conversion target");
            }
        }
    }

    @Override
    public String describe() {
        return "dtype " + BuildConfig.dtypeName(target);
    }
}
