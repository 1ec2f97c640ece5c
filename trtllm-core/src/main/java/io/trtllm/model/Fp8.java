package io.trtllm.model;

/**
 * FP8 E4M3 ({@link DType#F8_E4M3}, torch's {@code float8_e4m3fn}, the OCP "E4M3FN" format): 1 sign bit, 4
 * exponent bits (bias 7), 3 mantissa bits, no infinities, {@code 0x7f}/{@code 0xff} NaN. Largest finite
 * value ±448, smallest normal 2⁻⁶, smallest subnormal 2⁻⁹. The engine builder encodes weights with it (after
 * dividing by a scale that maps each row's largest magnitude to {@link #MAX}); the CUDA kernels decode it
 * as {@link #decode} does.
 */
public final class Fp8 {
    /** Largest finite magnitude. */
    public static final float MAX = 448f;
    /** The NaN code (with the sign bit clear). */
    public static final int NAN = 0x7f;

    private Fp8() {
    }

    /**
     * {@code v} as E4M3, rounded to nearest, ties to even (as torch and the CUDA {@code cvt.rn.satfinite}
     * instructions round), magnitudes beyond {@link #MAX} saturated to ±448 (torch would give NaN; a scaled
     * weight never gets there), NaN to {@link #NAN}. Returns the code in the low 8 bits.
     */
    public static int encode(float v) {
        if (Float.isNaN(v)) {
            return NAN;
        }
        int sign = Float.floatToRawIntBits(v) < 0 ? 0x80 : 0;
        double a = Math.abs((double) v);
        if (a >= MAX) {
            return sign | 0x7e;
        }
        if (a < 0x1p-6) {
            // Subnormals: multiples of 2⁻⁹; 8 of them is the smallest normal, whose code is 0x08 as well.
            return sign | (int) Math.rint(a * 0x1p9);
        }
        int e = Math.getExponent(a);                         // 2^e <= a < 2^(e+1), e in [-6, 8]
        int m = (int) Math.rint((a / Math.scalb(1.0, e) - 1) * 8);  // exact in double; ties to even
        if (m == 8) {
            m = 0;
            e++;
        }
        if (e > 8 || (e == 8 && m == 7)) {
            return sign | 0x7e;
        }
        return sign | (e + 7) << 3 | m;
    }

    /** The value of E4M3 code {@code code} (low 8 bits). */
    public static float decode(int code) {
        int c = code & 0xff;
        int e = (c >>> 3) & 0xf;
        int m = c & 7;
        float v;
        if ((c & 0x7f) == NAN) {
            return Float.NaN;
        } else if (e == 0) {
            v = m * 0x1p-9f;
        } else {
            v = Math.scalb(1 + m / 8f, e - 7);
        }
        return (c & 0x80) != 0 ? -v : v;
    }
    /**
     * The per-token scale of a GEMM input row whose largest magnitude is {@code amax}: {@code amax / 448}, so
     * that the row's largest value maps to ±448; 1 for an all-zero row (its codes are 0 whatever the scale).
     */
    public static float rowScale(float amax) {
        return amax > 0 ? amax / MAX : 1f;
    }

    /**
     * Quantizes {@code n} values of {@code v} from {@code from} as the CUDA backend quantizes a row of an FP8
     * GEMM's input (kernels.cu's {@code rmsnorm_f8}, {@code silu_mul_f8}, {@code quant_f8}): {@code amax} the
     * largest magnitude (NaNs skipped, as CUDA's {@code fmaxf} skips them), each value encoded as
     * {@code encode(v · (448 / amax))} in F32 (1 for an all-zero row) into {@code codes} from {@code to}, so
     * that {@code v ≈ decode(code) · scale}. A NaN value becomes {@link #NAN}; a row holding ±∞ has scale ∞ and
     * codes of NaN or 0 (its products are NaN, as they would be unquantized). A row whose amax is below
     * {@code 448 / Float.MAX_VALUE} (≈ 1.3·10⁻³⁶) gets an infinite multiplier and saturated codes: its values come
     * back as ±amax, an absolute error below 10⁻³⁶.
     *
     * @return the row's scale, {@link #rowScale}{@code (amax)}
     */
    public static float quantizeRow(float[] v, int from, int n, byte[] codes, int to) {
        if (n < 0 || from < 0 || to < 0 || from > v.length - n || to > codes.length - n) {
            throw new IndexOutOfBoundsException("a row of " + n + " values at " + from + " of " + v.length + " into "
                    + codes.length + " codes at " + to);
        }
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float a = Math.abs(v[from + i]);
            if (a > amax) {  // false for NaN
                amax = a;
            }
        }
        float mul = amax > 0 ? MAX / amax : 1f;
        for (int i = 0; i < n; i++) {
            codes[to + i] = (byte) encode(v[from + i] * mul);
        }
        return rowScale(amax);
    }
}
