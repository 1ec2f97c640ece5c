package io.trtllm.runtime.cpu;

import io.trtllm.model.TensorConversion;
import io.trtllm.model.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The CPU KV cache's 16-bit element types: bfloat16 and IEEE float16 bits in {@code short}s, and
 * the conversions in and out. Values are rounded to nearest even when stored (as torch's
 * {@code .to(bfloat16)} / {@code .to(float16)}), so a value's stored bits depend only on the value:
 * a sequence's cache is the same alone or in any batch.
 */
final class KvStore {
    /** A 16-bit element, little-endian (the kernels load pairs of them as little-endian ints). */
    static final ValueLayout.OfShort ELEMENT = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN);

    private KvStore() {
    }

    /** Stores {@code src[srcOff + i]} as element {@code dst + i·stride} of {@code cache}, converted to {@code type}. */
    static void store(DType type, float[] src, int srcOff, MemorySegment cache, long dst, long stride, int n) {
        for (int i = 0; i < n; i++) {
            cache.setAtIndex(ELEMENT, dst + i * stride, toBits(src[srcOff + i], type));
        }
    }

    /** Element {@code index} of a 16-bit {@code cache} of {@code type}, as float. */
    static float get(MemorySegment cache, long index, DType type) {
        return toFloat(cache.getAtIndex(ELEMENT, index), type);
    }

    /** {@code value} as a 16-bit element of {@code type} (BF16 or F16), rounded to nearest even. */
    static short toBits(float value, DType type) {
        return type == DType.BF16 ? TensorConversion.toBfloat16(value) : Float.floatToFloat16(value);
    }

    /** The float that 16-bit element {@code bits} of {@code type} (BF16 or F16) holds. */
    static float toFloat(short bits, DType type) {
        return type == DType.BF16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat(bits);
    }
}
