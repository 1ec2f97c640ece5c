package io.trtllm.runtime.cpu;

import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.LSHL;

import io.trtllm.sampling.VectorExp;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * What the Vector API kernels share: the species ({@link #F}, the preferred float vector of {@link #L}
 * lanes, and its integer, short and byte companions), the loads that turn a panel's weights (F32,
 * BF16, F16, INT8, INT4) into float lanes, the masked store of a panel's outputs, and {@link #exp}.
 * Loaded only through {@link VectorKernels} (see {@link CpuKernels}): without {@code jdk.incubator.vector}
 * class loading would fail.
 */
final class VectorLanes {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts with as many lanes as {@link #F}: one half-width weight vector per float vector. */
    static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final int L = F.length();
    /** Bytes with (at least) as many lanes as {@link #F}: one vector of int8 weights, or two of int4. */
    static final VectorSpecies<Byte> B =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    /** Whether {@link #B} has more lanes than a weight vector (128-bit floats): byte loads are then masked. */
    static final boolean BYTES_MASKED = B.length() > L;
    static final VectorMask<Byte> FIRST_L = B.indexInRange(0, L);
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorLanes() {
    }

    /** Sum of the lanes (attention scores and softmax sums; the matmul sums no lanes). */
    static float sum(FloatVector v) {
        return v.reduceLanes(ADD);
    }

    // ---- weight loads: one float vector of weights starting at byte offset `b` ----

    static FloatVector loadF32(MemorySegment seg, long b) {
        return FloatVector.fromMemorySegment(F, seg, b, LE);
    }

    static FloatVector loadBF16(MemorySegment seg, long b) {
        ShortVector s = ShortVector.fromMemorySegment(S, seg, b, LE);
        IntVector i = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return i.lanewise(LSHL, 16).reinterpretAsFloats();
    }

    /** IEEE half to float, exact for normals, subnormals, infinities and NaNs. */
    static FloatVector loadF16(MemorySegment seg, long b) {
        ShortVector s = ShortVector.fromMemorySegment(S, seg, b, LE);
        return halfToFloat((IntVector) s.convertShape(VectorOperators.S2I, I, 0));
    }

    /** IEEE half bits (sign-extended into int lanes) to floats, exact for every value. */
    static FloatVector halfToFloat(IntVector i) {
        IntVector em = i.and(0x7fff);
        IntVector shifted = em.lanewise(LSHL, 13);
        IntVector scaled = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7c00);
        IntVector bits = scaled.blend(shifted.or(0x7f800000), special);
        return bits.or(i.and(0x8000).lanewise(LSHL, 16)).reinterpretAsFloats();
    }

    // ---- quantized weights: converted to float lanes as they are loaded, scaled after accumulation ----

    /** One vector of a panel's float scales at byte offset {@code b}. */
    static FloatVector loadScales(MemorySegment scales, long b) {
        return FloatVector.fromMemorySegment(F, scales, b, LE);
    }

    /** The bytes of one vector of rows ({@link #L} of them) at byte offset {@code b}. */
    static ByteVector loadBytes(MemorySegment seg, long b) {
        return BYTES_MASKED ? ByteVector.fromMemorySegment(B, seg, b, LE, FIRST_L) : ByteVector.fromMemorySegment(B, seg, b, LE);
    }

    static FloatVector loadI8(MemorySegment seg, long b) {
        return (FloatVector) loadBytes(seg, b).convertShape(VectorOperators.B2F, F, 0);
    }

    /** The packed int4 bytes of one column: each byte's low nibble is a row of the first vector, its high nibble of the second. */
    static IntVector loadI4(MemorySegment seg, long b) {
        return (IntVector) loadBytes(seg, b).convertShape(VectorOperators.B2I, I, 0);
    }

    /** Low nibbles, sign-extended: rows 0 .. L-1 of the panel. */
    static FloatVector low(IntVector bytes) {
        return (FloatVector) bytes.lanewise(LSHL, 28).lanewise(ASHR, 28).convert(VectorOperators.I2F, 0);
    }

    /** High nibbles of sign-extended bytes: rows L .. 2L-1 of the panel. */
    static FloatVector high(IntVector bytes) {
        return (FloatVector) bytes.lanewise(ASHR, 4).convert(VectorOperators.I2F, 0);
    }

    /** Stores the first {@code valid} of a panel's two vectors of outputs at {@code out[o]}. */
    static void store(FloatVector a0, FloatVector a1, float[] out, int o, int valid) {
        if (valid == 2 * L) {
            a0.intoArray(out, o);
            a1.intoArray(out, o + L);
        } else {
            a0.intoArray(out, o, F.indexInRange(0, valid));
            a1.intoArray(out, o + L, F.indexInRange(L, valid));
        }
    }

    /** {@code e^x} lane-wise: {@link VectorExp#exp} (within 2 ulp for x in [-87.3, 88.7]). */
    static FloatVector exp(FloatVector x) {
        return VectorExp.exp(x);
    }
}
