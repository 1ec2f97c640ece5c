package io.trtllm.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Element-type conversion of tensors: what an engine build writes for a dtype, what the CUDA
 * backend uploads, what the CPU's 16-bit KV cache stores. F32 to BF16 rounds to nearest even, as
 * PyTorch's {@code .to(torch.bfloat16)}; F32 to F16 uses {@link Float#floatToFloat16} (IEEE round
 * to nearest even, overflow to infinity).
 */
public final class TensorConversion {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorConversion() {
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
                case BF16 -> target.set(U16, i * 2, toBfloat16(v));
                case F16 -> target.set(U16, i * 2, Float.floatToFloat16(v));
                case I8, U8 -> throw new IllegalArgumentException("dtype " + to + " is not a conversion target");
            }
        }
    }

    /**
     * {@code v} as bfloat16 bits, rounded to nearest even (PyTorch's rounding); a NaN stays a (quiet) NaN
     * instead of rounding into infinity.
     */
    public static short toBfloat16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
