package io.trtllm.sampling;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code e^x} on float vectors: the one vector exp of the code base (the CPU kernels' softmax and SiLU, and the
 * log-normalizer of {@link LogSoftmax}). Loaded only where {@code jdk.incubator.vector} is enabled: callers
 * reach it behind a check of the module.
 */
public final class VectorExp {
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 × 2^23: adding it rounds a float below 2^22 in magnitude to an integer in the low mantissa bits. */
    private static final float ROUND = 12582912f;

    private VectorExp() {
    }

    /**
     * {@code e^x} lane-wise, within 2 ulp of {@code (float) Math.exp(x)} for x in [-87.3, 88.7] (Cephes'
     * {@code expf}: x = n·ln2 + r, a degree-6 polynomial for e^r, times 2^n built in the exponent bits); below
     * that range (-Infinity included) the result is e^-87.3 ≈ 1e-38 instead of a subnormal or 0, above it
     * e^88.7; NaN stays NaN. The incubator's {@code lanewise(EXP)} falls back to a per-lane path on some CPUs
     * and JDKs (the profile showed it at a fifth of a batched step).
     */
    public static FloatVector exp(FloatVector x) {
        x = x.max(-87.33654f).min(88.72283f);
        FloatVector shifted = x.fma(LOG2E, ROUND);
        FloatVector n = shifted.sub(ROUND);
        // n · LN2_HI is exact (9 + 8 significant bits), so r carries ln2's low part separately.
        FloatVector r = x.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, x.broadcast(8.3334519073e-3f));
        p = p.fma(r, x.broadcast(4.1665795894e-2f));
        p = p.fma(r, x.broadcast(1.6666665459e-1f));
        p = p.fma(r, x.broadcast(5.0000001201e-1f));
        p = p.fma(r.mul(r), r).add(1f);
        IntVector exponent = shifted.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND)).add(127)
                .lanewise(VectorOperators.LSHL, 23);
        return p.mul(exponent.reinterpretAsFloats());
    }
}
