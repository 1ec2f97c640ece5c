package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.DType;
import io.trtllm.model.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * kernels.cu's {@code qgemv4_mma} modelled lane by lane on the CPU (no GPU needed): the same words loaded by each
 * lane, the same bit tricks ({@code q4_pair}'s mask, XOR and packed FMA, {@code __byte_perm} of the activations)
 * and the mma.sync m16n8k16 fragment layouts of the PTX ISA (A row-major: a0/a1 row g cols 2t, 2t+1; a2/a3 row
 * g + 8; a4..a7 the same rows at cols + 8; B column-major: b0/b1 rows 2t, 2t+1 of column g, b2/b3 rows + 8; C: c0/c1
 * row g cols 2t, 2t+1, c2/c3 row g + 8), the products summed in float64. What it checks is the kernel's index
 * arithmetic: that the permuted k slots of A and B agree, that every column of a step is taken once, that each
 * 16-bit pair is the exact int4 value, and which accumulator holds which output (tile rows, SwiGLU's gate and up,
 * activation rows): the model's sums equal a plain float64 sum of {@code q · s · x} up to float64 rounding.
 * CudaQuantizedGpuTests runs the kernel itself against float64 on the GPU.
 */
class Int4MmaModelTests {
    private static final int STEP = QuantGemv.MMA_STEP;

    /** CUDA's {@code __byte_perm(a, b, sel)}: byte n of the result is byte {@code sel[n]} of {@code b:a}. */
    static int bytePerm(int a, int b, int sel) {
        long v = (a & 0xffffffffL) | (b & 0xffffffffL) << 32;
        int r = 0;
        for (int n = 0; n < 4; n++) {
            int s = (sel >>> (4 * n)) & 7;
            r |= (int) ((v >>> (8 * s)) & 0xff) << (8 * n);
        }
        return r;
    }

    static float bf16(int bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** A float that bf16 holds exactly, as its 16 bits. */
    static int exactBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        assertThat(bits & 0xffff).as("%s is exact in bf16", f).isZero();
        return bits >>> 16;
    }

    /** kernels.cu's q4_pair (bf16): (u & 0x000f000f) ^ 0x43084308, then fma.rn.bf16x2 by 1 and -136 (exact). */
    static int q4Pair(int u) {
        int v = (u & 0x000f000f) ^ 0x43084308;
        float lo = Math.fma(bf16(v), 1f, bf16(0xc308));
        float hi = Math.fma(bf16(v >>> 16), 1f, bf16(0xc308));
        return exactBf16(lo) | exactBf16(hi) << 16;
    }

    /** D += A·B over one warp's fragments: a[lane][4], b[lane][2], d[lane][4] as the PTX ISA lays them out. */
    static void mma(double[][] d, int[][] a, int[][] b) {
        double[][] am = new double[16][16];
        double[][] bm = new double[16][8];
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2;
            int t = lane & 3;
            for (int e = 0; e < 2; e++) {
                am[g][2 * t + e] = bf16(a[lane][0] >>> (16 * e));
                am[g + 8][2 * t + e] = bf16(a[lane][1] >>> (16 * e));
                am[g][2 * t + 8 + e] = bf16(a[lane][2] >>> (16 * e));
                am[g + 8][2 * t + 8 + e] = bf16(a[lane][3] >>> (16 * e));
                bm[2 * t + e][g] = bf16(b[lane][0] >>> (16 * e));
                bm[2 * t + 8 + e][g] = bf16(b[lane][1] >>> (16 * e));
            }
        }
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2;
            int t = lane & 3;
            for (int c = 0; c < 4; c++) {
                int row = g + (c >= 2 ? 8 : 0);
                int col = 2 * t + (c & 1);
                for (int k = 0; k < 16; k++) {
                    d[lane][c] += am[row][k] * bm[k][col];
                }
            }
        }
    }

    /** One quantized matrix and its activations on the host: int4 row-major (QuantizedLayout), bf16 rows. */
    record Problem(MemorySegment w, float[] scales, int groupSize, short[] x, int matrixRows, int inDim) {
        int word(long row, int byteOffset) {
            return w.get(ValueLayout.JAVA_INT_UNALIGNED, row * (inDim / 2) + byteOffset);
        }

        /** x[r][c .. c + 1] as one 32-bit word, the lower column in the low half. */
        int xWord(int r, int c) {
            return (x[r * inDim + c] & 0xffff) | (x[r * inDim + c + 1] & 0xffff) << 16;
        }

        double exact(int n, int r) {
            double sum = 0;
            int groups = inDim / groupSize;
            for (int c = 0; c < inDim; c++) {
                int q = QuantizedLayout.nibble(w.get(ValueLayout.JAVA_BYTE, (long) n * (inDim / 2) + c / 2) >> (4 * (c & 1)));
                sum += (double) q * scales[n * groups + c / groupSize] * bf16(x[r * inDim + c]);
            }
            return sum;
        }
    }

    /**
     * The warp-summed accumulators of block {@code block}: acc[lane][4] after all steps (warps and their fixed-order
     * sum do not change which lane holds what, so one warp taking every step models it).
     */
    static double[][] block(Problem p, int block, int outDim, int rows, boolean swiglu) {
        double[][] acc = new double[32][4];
        int groups = p.inDim() / p.groupSize();
        for (int s = 0; s < p.inDim() / STEP; s++) {
            double[][] part0 = new double[32][4];
            double[][] part1 = new double[32][4];
            int[][][] a = new int[8][32][4];  // mma 2i + h
            int[][][] b = new int[8][32][2];
            long[][] rowOf = new long[32][2];
            for (int lane = 0; lane < 32; lane++) {
                int g = lane >> 2;
                int t = lane & 3;
                long nLo;
                long nHi;
                if (swiglu) {
                    int i = Math.min(block * 8 + g, outDim - 1);
                    nLo = i;
                    nHi = (long) outDim + i;
                } else {
                    nLo = Math.min(block * 16 + g, outDim - 1);
                    nHi = Math.min(block * 16 + g + 8, outDim - 1);
                }
                rowOf[lane][0] = nLo;
                rowOf[lane][1] = nHi;
                int xr = Math.min(g, rows - 1);
                for (int i = 0; i < 4; i++) {
                    int wl = p.word(nLo, s * 64 + t * 16 + 4 * i);
                    int wh = p.word(nHi, s * 64 + t * 16 + 4 * i);
                    int c = s * STEP + 32 * t + 8 * i;
                    int x0 = p.xWord(xr, c);
                    int x1 = p.xWord(xr, c + 2);
                    int x2 = p.xWord(xr, c + 4);
                    int x3 = p.xWord(xr, c + 6);
                    a[2 * i][lane] = new int[] {q4Pair(wl), q4Pair(wh), q4Pair(wl >>> 4), q4Pair(wh >>> 4)};
                    b[2 * i][lane] = new int[] {bytePerm(x0, x2, 0x5410), bytePerm(x0, x2, 0x7632)};
                    a[2 * i + 1][lane] = new int[] {q4Pair(wl >>> 8), q4Pair(wh >>> 8), q4Pair(wl >>> 12), q4Pair(wh >>> 12)};
                    b[2 * i + 1][lane] = new int[] {bytePerm(x1, x3, 0x5410), bytePerm(x1, x3, 0x7632)};
                }
            }
            for (int i = 0; i < 4; i++) {
                mma(part0, a[2 * i], b[2 * i]);
                mma(part1, a[2 * i + 1], b[2 * i + 1]);
            }
            for (int lane = 0; lane < 32; lane++) {
                int group = s * STEP / p.groupSize();
                double sLo = p.scales()[(int) rowOf[lane][0] * groups + group];
                double sHi = p.scales()[(int) rowOf[lane][1] * groups + group];
                for (int c = 0; c < 4; c++) {
                    acc[lane][c] += (c < 2 ? sLo : sHi) * (part0[lane][c] + part1[lane][c]);
                }
            }
        }
        return acc;
    }

    static Problem problem(Arena arena, int matrixRows, int inDim, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        MemorySegment source = arena.allocate((long) matrixRows * inDim * Float.BYTES, 64);
        for (long i = 0; i < (long) matrixRows * inDim; i++) {
            source.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextDouble(-1, 1));
        }
        Tensor t = new Tensor("w", DType.F32, new long[] {matrixRows, inDim}, source);
        int group = QuantizedLayout.int4GroupSize("w", inDim);
        float[] scales = QuantizedLayout.int4Scales(t, group);
        MemorySegment w = arena.allocate((long) matrixRows * inDim / 2, 64);
        QuantizedLayout.writeInt4(t, group, scales, w);
        short[] x = new short[Gemv.MAX_ROWS * inDim];
        for (int i = 0; i < x.length; i++) {
            x[i] = (short) exactBf16(Float.intBitsToFloat(Float.floatToRawIntBits((float) random.nextDouble(-2, 2)) & 0xffff0000));
        }
        return new Problem(w, scales, group, x, matrixRows, inDim);
    }

    private static void check(Problem p, int outDim, int rows, boolean swiglu) {
        int blocks = QuantGemv.mmaBlocks(outDim, swiglu ? Gemv.SWIGLU : Gemv.STORE);
        int checked = 0;
        for (int block = 0; block < blocks; block++) {
            double[][] acc = block(p, block, outDim, rows, swiglu);
            for (int lane = 0; lane < 32; lane++) {
                int g = lane >> 2;
                int t = lane & 3;
                for (int c = 0; c < 4; c++) {
                    int r = 2 * t + (c & 1);  // the activation row of accumulator c
                    boolean upper = c >= 2;
                    int n;
                    if (swiglu) {
                        int i = block * 8 + g;
                        n = i < outDim ? (upper ? outDim + i : i) : -1;
                    } else {
                        int row = block * 16 + g + (upper ? 8 : 0);
                        n = row < outDim ? row : -1;
                    }
                    if (n < 0 || r >= rows) {
                        continue;  // computed, not stored
                    }
                    double ref = p.exact(n, r);
                    assertThat(acc[lane][c]).as("block %d lane %d acc %d: weight row %d, activation row %d", block, lane, c, n, r)
                            .isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-9 * (1 + Math.abs(ref))));
                    checked++;
                }
            }
        }
        assertThat(checked).as("outputs stored").isEqualTo((swiglu ? 2 : 1) * outDim * rows);
    }

    @Test
    void pairsAreTheExactInt4Values() {
        for (int nib = 0; nib < 16; nib++) {
            int q = QuantizedLayout.nibble(nib);
            int pair = q4Pair(nib | (15 - nib) << 16);
            assertThat(bf16(pair)).isEqualTo((float) q);
            assertThat(bf16(pair >>> 16)).isEqualTo((float) QuantizedLayout.nibble(15 - nib));
        }
    }

    @Test
    void bytePermuteSelectsBytesOfBothWords() {
        assertThat(bytePerm(0x33221100, 0x77665544, 0x5410)).isEqualTo(0x55441100);
        assertThat(bytePerm(0x33221100, 0x77665544, 0x7632)).isEqualTo(0x77663322);
    }

    @Test
    void lanesComputeEveryOutputOfStoredProjections() {
        try (Arena arena = Arena.ofConfined()) {
            Problem p = problem(arena, 37, 384, 1);  // 3 tiles, the last of 5 rows; 3 steps
            for (int rows : new int[] {1, 3, 8}) {
                check(p, 37, rows, false);
            }
        }
    }

    @Test
    void lanesHoldAGateAndItsUpRowForSwiglu() {
        try (Arena arena = Arena.ofConfined()) {
            Problem p = problem(arena, 2 * 13, 256, 2);  // 13 gate|up pairs: 2 blocks, the last of 5
            for (int rows : new int[] {2, 8}) {
                check(p, 13, rows, true);
            }
        }
    }
}
