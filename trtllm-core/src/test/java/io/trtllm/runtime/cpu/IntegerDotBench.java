package io.trtllm.runtime.cpu;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * How the JIT compiles the candidate inner loops of an integer (W4A8) matmul, on one panel column of {@code 2L}
 * rows × 288 columns × 4 tokens, one thread: 16-bit multiply-adds three ways, the 32-column blocks with their
 * fold to float written inline, in a helper method, or under an {@code if} in a flat loop; float32 FMAs of the
 * same shape; and C2's auto-vectorizer on {@code sum += a[2i]·b[2i] + a[2i+1]·b[2i+1]} (one dot per row and token).
 * Two W8A8 candidates (int8 weights × int8 activations; products up to 127 · 127 = 16,129, so 16-bit lanes hold two
 * of them, not 32): column pairs summed in 16 bits and widened to 32-bit sums, and the weights split into
 * {@code 16 · high + low} nibbles, each half summed over a 32-column block as W4A8 does (two multiply-adds per
 * column). Why INT8 engines keep float32 arithmetic (docs/PERFORMANCE.md, branch i21-int8load).
 * Prints G multiply-adds per second, best of the rounds. What {@link VectorW4A8} was chosen by
 * (docs/PERFORMANCE.md, "W4A8"). A benchmark, not a test.
 *
 * <p>Run: {@code BENCH=IntegerDotBench scripts/bench-quantized-matmul.sh [rounds]}.
 */
public final class IntegerDotBench {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize()));
    private static final int L = F.length();
    private static final int ROWS = 2 * L;
    private static final int COLS = 288;
    private static final short[] W = new short[COLS * ROWS];
    private static final short[] X = new short[4 * COLS];
    private static final short[] XREP = new short[4 * COLS * ROWS];
    private static final float[] WF = new float[COLS * ROWS];
    private static final float[] XF = new float[4 * COLS];
    private static final float[] XS = new float[4 * COLS / 32];
    private static final short[] OUT_S = new short[4 * ROWS];
    private static final float[] OUT_F = new float[4 * ROWS];
    private static final short[] DOT_W = new short[COLS * ROWS];
    /** int8 weights (W8A8 candidates), rows interleaved as {@link VectorW4A8}'s panels; and split into nibbles. */
    private static final short[] W8 = new short[COLS * ROWS];
    private static final short[] W8_HIGH = new short[COLS * ROWS];
    private static final short[] W8_LOW = new short[COLS * ROWS];
    private static final int[] DOT_OUT = new int[4 * ROWS];

    private IntegerDotBench() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        var rnd = new SplittableRandom(1);
        for (int i = 0; i < W.length; i++) {
            W[i] = (short) (rnd.nextInt(15) - 7);
            WF[i] = W[i];
            DOT_W[i] = W[i];
        }
        for (int i = 0; i < W8.length; i++) {
            W8[i] = (short) (rnd.nextInt(255) - 127);
            W8_LOW[i] = (short) (((W8[i] + 8) & 15) - 8); // in [-8, 7]
            W8_HIGH[i] = (short) ((W8[i] - W8_LOW[i]) / 16); // in [-8, 8]: w = 16 · high + low
        }
        for (int i = 0; i < X.length; i++) {
            X[i] = (short) (rnd.nextInt(255) - 127);
            XF[i] = X[i];
        }
        for (int i = 0; i < XREP.length; i++) {
            XREP[i] = X[i / ROWS];
        }
        Arrays.fill(XS, 0.01f);
        String[] names = {"short mul(short)", "short mul(broadcast)", "short mul(replicated row)", "float FMA",
            "blocks, fold in a helper", "blocks, fold inline", "flat loop, fold under if", "auto-vectorized dots",
            "W8A8: column pairs in 16 bits, widened to 32", "W8A8: weight nibbles, 2 multiply-adds a column"};
        long[] best = new long[names.length];
        Arrays.fill(best, Long.MAX_VALUE);
        int reps = 20_000;
        for (int r = 0; r < rounds + 4; r++) {
            for (int v = 0; v < names.length; v++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    switch (v) {
                        case 0 -> mulScalar();
                        case 1 -> mulBroadcast();
                        case 2 -> mulReplicated();
                        case 3 -> fma();
                        case 4 -> blocksHelper(COLS, X);
                        case 5 -> blocksInline(COLS, X);
                        case 6 -> flatIf(COLS, X);
                        case 7 -> dots();
                        case 8 -> w8a8Pairs(COLS, X);
                        default -> w8a8Nibbles(COLS, X);
                    }
                }
                long ns = System.nanoTime() - t0;
                if (r >= 4) {
                    best[v] = Math.min(best[v], ns);
                }
            }
        }
        double macs = 4.0 * COLS * ROWS * reps;
        System.out.printf(Locale.ROOT, "%d-bit vectors, %d rows × %d columns × 4 tokens, 1 thread, best of %d rounds%n",
                F.vectorBitSize(), ROWS, COLS, rounds);
        for (int v = 0; v < names.length; v++) {
            System.out.printf(Locale.ROOT, "| %s | %.1f G multiply-adds/s |%n", names[v], macs / best[v]);
        }
    }

    private static void mulScalar() {
        ShortVector a0 = ShortVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < COLS; c++) {
            ShortVector wv = ShortVector.fromArray(S, W, c * ROWS);
            a0 = a0.add(wv.mul(X[c]));
            a1 = a1.add(wv.mul(X[COLS + c]));
            a2 = a2.add(wv.mul(X[2 * COLS + c]));
            a3 = a3.add(wv.mul(X[3 * COLS + c]));
        }
        a0.intoArray(OUT_S, 0);
        a1.intoArray(OUT_S, ROWS);
        a2.intoArray(OUT_S, 2 * ROWS);
        a3.intoArray(OUT_S, 3 * ROWS);
    }

    private static void mulBroadcast() {
        ShortVector a0 = ShortVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < COLS; c++) {
            ShortVector wv = ShortVector.fromArray(S, W, c * ROWS);
            a0 = a0.add(wv.mul(ShortVector.broadcast(S, X[c])));
            a1 = a1.add(wv.mul(ShortVector.broadcast(S, X[COLS + c])));
            a2 = a2.add(wv.mul(ShortVector.broadcast(S, X[2 * COLS + c])));
            a3 = a3.add(wv.mul(ShortVector.broadcast(S, X[3 * COLS + c])));
        }
        a0.intoArray(OUT_S, 0);
        a1.intoArray(OUT_S, ROWS);
        a2.intoArray(OUT_S, 2 * ROWS);
        a3.intoArray(OUT_S, 3 * ROWS);
    }

    private static void mulReplicated() {
        ShortVector a0 = ShortVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < COLS; c++) {
            ShortVector wv = ShortVector.fromArray(S, W, c * ROWS);
            a0 = a0.add(wv.mul(ShortVector.fromArray(S, XREP, c * ROWS)));
            a1 = a1.add(wv.mul(ShortVector.fromArray(S, XREP, (COLS + c) * ROWS)));
            a2 = a2.add(wv.mul(ShortVector.fromArray(S, XREP, (2 * COLS + c) * ROWS)));
            a3 = a3.add(wv.mul(ShortVector.fromArray(S, XREP, (3 * COLS + c) * ROWS)));
        }
        a0.intoArray(OUT_S, 0);
        a1.intoArray(OUT_S, ROWS);
        a2.intoArray(OUT_S, 2 * ROWS);
        a3.intoArray(OUT_S, 3 * ROWS);
    }

    private static void fma() {
        FloatVector z = FloatVector.zero(F);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
        for (int c = 0; c < COLS; c++) {
            FloatVector w0 = FloatVector.fromArray(F, WF, c * ROWS), w1 = FloatVector.fromArray(F, WF, c * ROWS + L);
            FloatVector x0 = FloatVector.broadcast(F, XF[c]), x1 = FloatVector.broadcast(F, XF[COLS + c]);
            FloatVector x2 = FloatVector.broadcast(F, XF[2 * COLS + c]), x3 = FloatVector.broadcast(F, XF[3 * COLS + c]);
            a0 = w0.fma(x0, a0);
            b0 = w1.fma(x0, b0);
            a1 = w0.fma(x1, a1);
            b1 = w1.fma(x1, b1);
            a2 = w0.fma(x2, a2);
            b2 = w1.fma(x2, b2);
            a3 = w0.fma(x3, a3);
            b3 = w1.fma(x3, b3);
        }
        a0.intoArray(OUT_F, 0);
        b0.intoArray(OUT_F, L);
        a1.intoArray(OUT_F, ROWS);
        b1.intoArray(OUT_F, ROWS + L);
        a2.intoArray(OUT_F, 2 * ROWS);
        b2.intoArray(OUT_F, 2 * ROWS + L);
        a3.intoArray(OUT_F, 3 * ROWS);
        b3.intoArray(OUT_F, 3 * ROWS + L);
    }

    private static FloatVector fold(ShortVector a, int part, float scale, FloatVector f) {
        IntVector ai = a.reinterpretAsInts();
        IntVector i = part == 0 ? ai.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                : ai.lanewise(VectorOperators.ASHR, 16);
        return ((FloatVector) i.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, scale), f);
    }

    private static void blocksHelper(int cols, short[] xq) {
        FloatVector z = FloatVector.zero(F);
        FloatVector f00 = z, f01 = z, f10 = z, f11 = z, f20 = z, f21 = z, f30 = z, f31 = z;
        int blocks = cols / 32;
        for (int b = 0; b < blocks; b++) {
            ShortVector a0 = ShortVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int c = b * 32, end = c + 32; c < end; c++) {
                ShortVector wv = ShortVector.fromArray(S, W, c * ROWS);
                a0 = a0.add(wv.mul(ShortVector.broadcast(S, xq[c])));
                a1 = a1.add(wv.mul(ShortVector.broadcast(S, xq[cols + c])));
                a2 = a2.add(wv.mul(ShortVector.broadcast(S, xq[2 * cols + c])));
                a3 = a3.add(wv.mul(ShortVector.broadcast(S, xq[3 * cols + c])));
            }
            f00 = fold(a0, 0, XS[b], f00);
            f01 = fold(a0, 1, XS[b], f01);
            f10 = fold(a1, 0, XS[b + blocks], f10);
            f11 = fold(a1, 1, XS[b + blocks], f11);
            f20 = fold(a2, 0, XS[b + 2 * blocks], f20);
            f21 = fold(a2, 1, XS[b + 2 * blocks], f21);
            f30 = fold(a3, 0, XS[b + 3 * blocks], f30);
            f31 = fold(a3, 1, XS[b + 3 * blocks], f31);
        }
        store(f00, f01, f10, f11, f20, f21, f30, f31);
    }

    private static void blocksInline(int cols, short[] xq) {
        FloatVector z = FloatVector.zero(F);
        FloatVector f00 = z, f01 = z, f10 = z, f11 = z, f20 = z, f21 = z, f30 = z, f31 = z;
        int blocks = cols / 32;
        for (int b = 0; b < blocks; b++) {
            ShortVector a0 = ShortVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int c = b * 32, end = c + 32; c < end; c++) {
                ShortVector wv = ShortVector.fromArray(S, W, c * ROWS);
                a0 = a0.add(wv.mul(ShortVector.broadcast(S, xq[c])));
                a1 = a1.add(wv.mul(ShortVector.broadcast(S, xq[cols + c])));
                a2 = a2.add(wv.mul(ShortVector.broadcast(S, xq[2 * cols + c])));
                a3 = a3.add(wv.mul(ShortVector.broadcast(S, xq[3 * cols + c])));
            }
            IntVector n0 = a0.reinterpretAsInts(), n1 = a1.reinterpretAsInts(), n2 = a2.reinterpretAsInts();
            IntVector n3 = a3.reinterpretAsInts();
            FloatVector s0 = FloatVector.broadcast(F, XS[b]), s1 = FloatVector.broadcast(F, XS[b + blocks]);
            FloatVector s2 = FloatVector.broadcast(F, XS[b + 2 * blocks]), s3 = FloatVector.broadcast(F, XS[b + 3 * blocks]);
            f00 = ((FloatVector) n0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .convert(VectorOperators.I2F, 0)).fma(s0, f00);
            f01 = ((FloatVector) n0.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s0, f01);
            f10 = ((FloatVector) n1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .convert(VectorOperators.I2F, 0)).fma(s1, f10);
            f11 = ((FloatVector) n1.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s1, f11);
            f20 = ((FloatVector) n2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .convert(VectorOperators.I2F, 0)).fma(s2, f20);
            f21 = ((FloatVector) n2.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s2, f21);
            f30 = ((FloatVector) n3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .convert(VectorOperators.I2F, 0)).fma(s3, f30);
            f31 = ((FloatVector) n3.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s3, f31);
        }
        store(f00, f01, f10, f11, f20, f21, f30, f31);
    }

    private static void flatIf(int cols, short[] xq) {
        FloatVector z = FloatVector.zero(F);
        FloatVector f00 = z, f01 = z, f10 = z, f11 = z, f20 = z, f21 = z, f30 = z, f31 = z;
        int blocks = cols / 32;
        ShortVector zero = ShortVector.zero(S);
        ShortVector a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        for (int c = 0; c < cols; c++) {
            ShortVector wv = ShortVector.fromArray(S, W, c * ROWS);
            a0 = a0.add(wv.mul(ShortVector.broadcast(S, xq[c])));
            a1 = a1.add(wv.mul(ShortVector.broadcast(S, xq[cols + c])));
            a2 = a2.add(wv.mul(ShortVector.broadcast(S, xq[2 * cols + c])));
            a3 = a3.add(wv.mul(ShortVector.broadcast(S, xq[3 * cols + c])));
            if ((c & 31) == 31) {
                int b = c >> 5;
                IntVector n0 = a0.reinterpretAsInts(), n1 = a1.reinterpretAsInts(), n2 = a2.reinterpretAsInts();
                IntVector n3 = a3.reinterpretAsInts();
                FloatVector s0 = FloatVector.broadcast(F, XS[b]), s1 = FloatVector.broadcast(F, XS[b + blocks]);
                FloatVector s2 = FloatVector.broadcast(F, XS[b + 2 * blocks]), s3 = FloatVector.broadcast(F, XS[b + 3 * blocks]);
                f00 = ((FloatVector) n0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .convert(VectorOperators.I2F, 0)).fma(s0, f00);
                f01 = ((FloatVector) n0.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s0, f01);
                f10 = ((FloatVector) n1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .convert(VectorOperators.I2F, 0)).fma(s1, f10);
                f11 = ((FloatVector) n1.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s1, f11);
                f20 = ((FloatVector) n2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .convert(VectorOperators.I2F, 0)).fma(s2, f20);
                f21 = ((FloatVector) n2.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s2, f21);
                f30 = ((FloatVector) n3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                        .convert(VectorOperators.I2F, 0)).fma(s3, f30);
                f31 = ((FloatVector) n3.lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(s3, f31);
                a0 = zero;
                a1 = zero;
                a2 = zero;
                a3 = zero;
            }
        }
        store(f00, f01, f10, f11, f20, f21, f30, f31);
    }

    /** W8A8, int8 × int8: per token two columns' products summed in 16 bits (|sum| <= 32,258), then widened to ints. */
    private static void w8a8Pairs(int cols, short[] xq) {
        FloatVector z = FloatVector.zero(F);
        FloatVector f00 = z, f01 = z, f10 = z, f11 = z, f20 = z, f21 = z, f30 = z, f31 = z;
        int blocks = cols / 32;
        IntVector zi = IntVector.zero(VectorLanes.I);
        for (int b = 0; b < blocks; b++) {
            IntVector i00 = zi, i01 = zi, i10 = zi, i11 = zi, i20 = zi, i21 = zi, i30 = zi, i31 = zi;
            for (int c = b * 32, end = c + 32; c < end; c += 2) {
                ShortVector w0 = ShortVector.fromArray(S, W8, c * ROWS), w1 = ShortVector.fromArray(S, W8, (c + 1) * ROWS);
                IntVector n0 = pair(w0, w1, xq, c), n1 = pair(w0, w1, xq, cols + c);
                IntVector n2 = pair(w0, w1, xq, 2 * cols + c), n3 = pair(w0, w1, xq, 3 * cols + c);
                i00 = i00.add(n0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                i01 = i01.add(n0.lanewise(VectorOperators.ASHR, 16));
                i10 = i10.add(n1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                i11 = i11.add(n1.lanewise(VectorOperators.ASHR, 16));
                i20 = i20.add(n2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                i21 = i21.add(n2.lanewise(VectorOperators.ASHR, 16));
                i30 = i30.add(n3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                i31 = i31.add(n3.lanewise(VectorOperators.ASHR, 16));
            }
            FloatVector s0 = FloatVector.broadcast(F, XS[b]), s1 = FloatVector.broadcast(F, XS[b + blocks]);
            FloatVector s2 = FloatVector.broadcast(F, XS[b + 2 * blocks]), s3 = FloatVector.broadcast(F, XS[b + 3 * blocks]);
            f00 = ((FloatVector) i00.convert(VectorOperators.I2F, 0)).fma(s0, f00);
            f01 = ((FloatVector) i01.convert(VectorOperators.I2F, 0)).fma(s0, f01);
            f10 = ((FloatVector) i10.convert(VectorOperators.I2F, 0)).fma(s1, f10);
            f11 = ((FloatVector) i11.convert(VectorOperators.I2F, 0)).fma(s1, f11);
            f20 = ((FloatVector) i20.convert(VectorOperators.I2F, 0)).fma(s2, f20);
            f21 = ((FloatVector) i21.convert(VectorOperators.I2F, 0)).fma(s2, f21);
            f30 = ((FloatVector) i30.convert(VectorOperators.I2F, 0)).fma(s3, f30);
            f31 = ((FloatVector) i31.convert(VectorOperators.I2F, 0)).fma(s3, f31);
        }
        store(f00, f01, f10, f11, f20, f21, f30, f31);
    }

    /** Two columns' products {@code w0 · x[k] + w1 · x[k + 1]}, exact in 16-bit lanes, read as ints. */
    private static IntVector pair(ShortVector w0, ShortVector w1, short[] x, int k) {
        return w0.mul(ShortVector.broadcast(S, x[k])).add(w1.mul(ShortVector.broadcast(S, x[k + 1]))).reinterpretAsInts();
    }

    /**
     * W8A8 with the weights split into nibbles, {@code w = 16 · high + low}: per 32-column block both halves' sums fit
     * 16 bits (32 · 127 · 8 = 32,512), so each column costs two of W4A8's multiply-adds.
     */
    private static void w8a8Nibbles(int cols, short[] xq) {
        FloatVector z = FloatVector.zero(F);
        FloatVector f00 = z, f01 = z, f10 = z, f11 = z, f20 = z, f21 = z, f30 = z, f31 = z;
        int blocks = cols / 32;
        ShortVector zero = ShortVector.zero(S);
        for (int b = 0; b < blocks; b++) {
            ShortVector h0 = zero, h1 = zero, h2 = zero, h3 = zero, l0 = zero, l1 = zero, l2 = zero, l3 = zero;
            for (int c = b * 32, end = c + 32; c < end; c++) {
                ShortVector wh = ShortVector.fromArray(S, W8_HIGH, c * ROWS), wl = ShortVector.fromArray(S, W8_LOW, c * ROWS);
                ShortVector x0 = ShortVector.broadcast(S, xq[c]), x1 = ShortVector.broadcast(S, xq[cols + c]);
                ShortVector x2 = ShortVector.broadcast(S, xq[2 * cols + c]), x3 = ShortVector.broadcast(S, xq[3 * cols + c]);
                h0 = h0.add(wh.mul(x0));
                l0 = l0.add(wl.mul(x0));
                h1 = h1.add(wh.mul(x1));
                l1 = l1.add(wl.mul(x1));
                h2 = h2.add(wh.mul(x2));
                l2 = l2.add(wl.mul(x2));
                h3 = h3.add(wh.mul(x3));
                l3 = l3.add(wl.mul(x3));
            }
            IntVector n0 = h0.reinterpretAsInts(), m0 = l0.reinterpretAsInts(), n1 = h1.reinterpretAsInts();
            IntVector m1 = l1.reinterpretAsInts(), n2 = h2.reinterpretAsInts(), m2 = l2.reinterpretAsInts();
            IntVector n3 = h3.reinterpretAsInts(), m3 = l3.reinterpretAsInts();
            FloatVector s0 = FloatVector.broadcast(F, XS[b]), s1 = FloatVector.broadcast(F, XS[b + blocks]);
            FloatVector s2 = FloatVector.broadcast(F, XS[b + 2 * blocks]), s3 = FloatVector.broadcast(F, XS[b + 3 * blocks]);
            f00 = ((FloatVector) n0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 12)
                    .add(m0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0))
                    .fma(s0, f00);
            f01 = ((FloatVector) n0.lanewise(VectorOperators.ASHR, 16).lanewise(VectorOperators.LSHL, 4)
                    .add(m0.lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0)).fma(s0, f01);
            f10 = ((FloatVector) n1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 12)
                    .add(m1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0))
                    .fma(s1, f10);
            f11 = ((FloatVector) n1.lanewise(VectorOperators.ASHR, 16).lanewise(VectorOperators.LSHL, 4)
                    .add(m1.lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0)).fma(s1, f11);
            f20 = ((FloatVector) n2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 12)
                    .add(m2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0))
                    .fma(s2, f20);
            f21 = ((FloatVector) n2.lanewise(VectorOperators.ASHR, 16).lanewise(VectorOperators.LSHL, 4)
                    .add(m2.lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0)).fma(s2, f21);
            f30 = ((FloatVector) n3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 12)
                    .add(m3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0))
                    .fma(s3, f30);
            f31 = ((FloatVector) n3.lanewise(VectorOperators.ASHR, 16).lanewise(VectorOperators.LSHL, 4)
                    .add(m3.lanewise(VectorOperators.ASHR, 16)).convert(VectorOperators.I2F, 0)).fma(s3, f31);
        }
        store(f00, f01, f10, f11, f20, f21, f30, f31);
    }

    private static void store(FloatVector f00, FloatVector f01, FloatVector f10, FloatVector f11, FloatVector f20,
                              FloatVector f21, FloatVector f30, FloatVector f31) {
        f00.intoArray(OUT_F, 0);
        f01.intoArray(OUT_F, L);
        f10.intoArray(OUT_F, ROWS);
        f11.intoArray(OUT_F, ROWS + L);
        f20.intoArray(OUT_F, 2 * ROWS);
        f21.intoArray(OUT_F, 2 * ROWS + L);
        f30.intoArray(OUT_F, 3 * ROWS);
        f31.intoArray(OUT_F, 3 * ROWS + L);
    }

    /** Row-major weights, one dot product per (row, token): C2's MulAddS2I pattern. */
    private static void dots() {
        for (int t = 0; t < 4; t++) {
            for (int r = 0; r < ROWS; r++) {
                DOT_OUT[t * ROWS + r] = dot(DOT_W, r * COLS, X, t * COLS, COLS);
            }
        }
    }

    private static int dot(short[] a, int ao, short[] b, int bo, int n) {
        int sum = 0;
        for (int i = 0; i < n / 2; i++) {
            sum += a[ao + 2 * i] * b[bo + 2 * i] + a[ao + 2 * i + 1] * b[bo + 2 * i + 1];
        }
        return sum;
    }
}
