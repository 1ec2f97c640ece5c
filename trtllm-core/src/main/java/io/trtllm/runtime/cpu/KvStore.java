package io.trtllm.runtime.cpu;

import io.trtllm.model.DType;

/**
 * The CPU KV cache's 16-bit element types: bfloat16 and IEEE float16 bits in {@code short}s, and
 * the conversions in and out. Values are rounded to nearest even when stored (as torch's
 * {@code .to(bfloat16)} / {@code .to(float16)}), so a value's stored bits depend only on the value:
 * a sequence's cache is the same alone or in any batch.
 */
final class KvStore {
    private KvStore() {
    }

    /** Stores {@code src[srcOff, srcOff + n)} at {@code dst[dstOff]}, converted to {@code type} (BF16 or F16). */
    static void store(DType type, float[] src, int srcOff, short[] dst, int dstOff, int n) {
        if (type == DType.BF16) {
            for (int i = 0; i < n; i++) {
                dst[dstOff + i] = PanelLayout.toBfloat16(src[srcOff + i]);
            }
        } else {
            for (int i = 0; i < n; i++) {
                dst[dstOff + i] = Float.floatToFloat16(src[srcOff + i]);
            }
        }
    }

    /**
     * Stores {@code src[srcOff + i]} at {@code dst[dstOff + i·stride]} for {@code i < n}, converted to
     * {@code type} (BF16 or F16): a key into its block's transposed rows.
     */
    static void storeStrided(DType type, float[] src, int srcOff, short[] dst, int dstOff, int stride, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i * stride] = toBits(src[srcOff + i], type);
        }
    }

    /** {@code value} as a 16-bit element of {@code type} (BF16 or F16), rounded to nearest even. */
    static short toBits(float value, DType type) {
        return type == DType.BF16 ? PanelLayout.toBfloat16(value) : Float.floatToFloat16(value);
    }

    /** The float that 16-bit element {@code bits} of {@code type} (BF16 or F16) holds. */
    static float toFloat(short bits, DType type) {
        return type == DType.BF16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat(bits);
    }
}
