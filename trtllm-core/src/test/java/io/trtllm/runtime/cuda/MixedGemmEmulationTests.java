package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.TensorConversion;
import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * kernels.cu's {@code mixgemm} emulated thread by thread on the CPU (no GPU needed): the same shared-memory offsets of
 * the cp.async loads, the same per-thread reads and dequantization, mma.sync m16n8k16's fragments as the PTX ISA
 * defines them (A: a0 = rows g, k 2t..2t+1; a1 = row g + 8; a2, a3 = k + 8; B: b0 = k 2t..2t+1 of column g, b1 = k +
 * 8; C: c0, c1 = row g, columns 2t, 2t + 1; c2, c3 = row g + 8), and the epilogue's guards; against a float64 sum of
 * the dequantized weights (wt(q·s)) times the activations. Catches a wrong offset, fragment order or permutation of the
 * k slots that differs between A and B, and outputs written twice or never, before the one GPU run.
 */
class MixedGemmEmulationTests {
    static final int BK = MixedGemm.STEP;

    @ParameterizedTest
    @CsvSource({"INT8, LARGE, 100, 96, 70, false", "INT8, SMALL, 100, 96, 70, true", "INT8, SMALL, 64, 32, 1, false",
            "INT4, SMALL, 130, 192, 9, true", "INT4, LARGE, 130, 288, 129, false", "INT4, SMALL, 288, 768, 17, true",
            "INT8, LARGE, 288, 768, 200, true", "INT8, LARGE, 288, 768, 300, true", "INT4, SMALL, 100, 64, 3, true"})
    void theKernelsIndexingComputesTheDequantizedProduct(Format f, MixedGemm.Tile tile, int n, int k, int rows,
                                                         boolean accumulate) {
        SplittableRandom rnd = new SplittableRandom(n * 31L + k * 7L + rows);
        boolean int4 = f == Format.INT4;
        int group = int4 ? QuantizedLayout.int4GroupSize("w", k) : k;
        int groups = k / group;
        byte[] w = new byte[int4 ? n * k / 2 : n * k];
        rnd.nextBytes(w);
        float[] scales = new float[int4 ? n * groups : n];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = (float) rnd.nextDouble(0.001, 0.02);
        }
        short[] x = new short[rows * k];
        for (int i = 0; i < x.length; i++) {
            x[i] = TensorConversion.toBfloat16((float) rnd.nextDouble(-1, 1));
        }
        float[] residual = new float[rows * n];
        for (int i = 0; i < residual.length; i++) {
            residual[i] = (float) rnd.nextDouble(-1, 1);
        }
        assertThat(MixedGemm.applies(new DeviceMatrix(0x1000, 0x2000, f, n, k, group), rows, 0x3000, 0x4000)).isTrue();
        double[] out = accumulate ? toDouble(residual) : new double[rows * n];
        int[] writes = new int[rows * n];
        int splits = MixedGemm.splits(n, k, rows);
        if (splits == 1) {
            emulate(f, tile, w, scales, group, x, out, writes, n, k, rows, accumulate, 0, 1, null);
        } else {
            // mixgemm_reduce: the split sums in split order, then stored or added (one addition)
            double[] partial = new double[splits * rows * n];
            for (int z = 0; z < splits; z++) {
                emulate(f, tile, w, scales, group, x, out, writes, n, k, rows, accumulate, z, splits, partial);
            }
            int[] once = new int[rows * n];
            for (int i = 0; i < rows * n; i++) {
                assertThat(writes[i]).as("split sums of output %d", i).isEqualTo(splits);
                double v = partial[i];
                for (int z = 1; z < splits; z++) {
                    v += partial[z * rows * n + i];
                }
                out[i] = accumulate ? out[i] + v : v;
                once[i] = 1;
            }
            writes = once;
        }
        for (int m = 0; m < rows; m++) {
            for (int c = 0; c < n; c++) {
                double exact = accumulate ? residual[m * n + c] : 0;
                double mag = Math.abs(exact);
                for (int j = 0; j < k; j++) {
                    double p = (double) dequant(f, w, scales, group, k, c, j) * bf(x[m * k + j]);
                    exact += p;
                    mag += Math.abs(p);
                }
                assertThat(writes[m * n + c]).as("output (%d, %d) written once", m, c).isEqualTo(1);
                assertThat(Math.abs(out[m * n + c] - exact)).as("output (%d, %d)", m, c)
                        .isLessThanOrEqualTo(1e-12 * (mag + 1));
            }
        }
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    static float bf(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** wt((float) q · s), as dequant_i8 / dequant_i4 write it (the reference, read straight from the layout). */
    static float dequant(Format f, byte[] w, float[] scales, int group, int k, int r, int c) {
        if (f == Format.INT8) {
            return bf(TensorConversion.toBfloat16((float) w[r * k + c] * scales[r]));
        }
        int b = w[(r * k + c) / 2] >> (c % 2 * 4);
        int q = QuantizedLayout.nibble(b & 0xf);
        return bf(TensorConversion.toBfloat16((float) q * scales[r * (k / group) + c / group]));
    }

    /** The kernel, block by block, warp by warp, lane by lane, one k step at a time (the stages change no offset). */
    static void emulate(Format f, MixedGemm.Tile tile, byte[] w, float[] scales, int group, short[] x, double[] out,
                        int[] writes, int outDim, int inDim, int rows, boolean accumulate, int z, int splits,
                        double[] partial) {
        boolean q8 = f == Format.INT8;
        int wfCount = tile.features / 32;
        int nt = tile.rows / 8 / (tile.threads / 32 / wfCount);  // NT: rows / (8 · WT)
        int wtCount = tile.threads / 32 / wfCount;
        int bf = tile.features;
        int bt = tile.rows;
        int wb = q8 ? 32 : 16;
        long wRow = q8 ? inDim : inDim / 2;
        int groups = inDim / group;
        byte[] xs = new byte[bt * 64];
        byte[] ws = new byte[bf * wb];
        float[] ss = new float[bf];
        for (int bx = 0; bx < tile.gridX(rows); bx++) {
            for (int by = 0; by < tile.gridY(outDim); by++) {
                long m0 = (long) bx * bt;
                long n0 = (long) by * bf;
                double[][][][] acc = new double[tile.threads / 32][32][2 * nt][4];  // [warp][lane][mt * nt][e]
                int first = (int) ((long) z * (inDim / BK) / splits);
                int last = (int) ((long) (z + 1) * (inDim / BK) / splits);
                for (int s = first; s < last; s++) {
                    // load(stage, s): every thread's chunks, as the kernel's loops assign them
                    for (int c = 0; c < bt * 4; c++) {
                        long m = m0 + (c >> 2);
                        boolean ok = m < rows;
                        long src = ((ok ? m : 0) * inDim + (long) s * BK + (c & 3) * 8) * 2;  // bytes
                        for (int b = 0; b < 16; b++) {
                            xs[c * 16 + b] = ok ? xByte(x, src + b) : 0;
                        }
                    }
                    for (int c = 0; c < bf * wb / 16; c++) {
                        long nn = n0 + c / (wb / 16);
                        boolean ok = nn < outDim;
                        long src = (ok ? nn : 0) * wRow + (long) s * wb + (c % (wb / 16)) * 16;
                        for (int b = 0; b < 16; b++) {
                            ws[c * 16 + b] = ok ? w[(int) (src + b)] : 0;
                        }
                    }
                    if (!q8) {
                        for (int c = 0; c < bf; c++) {
                            long nn = n0 + c;
                            boolean ok = nn < outDim;
                            ss[c] = ok ? scales[(int) ((ok ? nn : 0) * groups + (s * BK) / group)] : 0f;
                        }
                    }
                    for (int warp = 0; warp < tile.threads / 32; warp++) {
                        int wf = warp % wfCount;
                        int wtk = warp / wfCount;
                        // per lane registers: a[lane][mt][j][reg][half], b[lane][nt][j][reg][half]
                        float[][][][][] a = new float[32][2][2][4][2];
                        float[][][][][] bReg = new float[32][nt][2][2][2];
                        for (int lane = 0; lane < 32; lane++) {
                            int g = lane >> 2;
                            int t = lane & 3;
                            for (int mt = 0; mt < 2; mt++) {
                                int r = wf * 32 + mt * 16 + g;
                                float[] lo = new float[8];
                                float[] hi = new float[8];
                                float sLo;
                                float sHi;
                                if (q8) {
                                    for (int i = 0; i < 8; i++) {
                                        lo[i] = ws[r * 32 + 8 * t + i];
                                        hi[i] = ws[(r + 8) * 32 + 8 * t + i];
                                    }
                                    long nLo = n0 + r;
                                    long nHi = n0 + r + 8;
                                    sLo = nLo < outDim ? scales[(int) nLo] : 0f;
                                    sHi = nHi < outDim ? scales[(int) nHi] : 0f;
                                } else {
                                    int uLo = word(ws, r * 16 + 4 * t);
                                    int uHi = word(ws, (r + 8) * 16 + 4 * t);
                                    for (int i = 0; i < 8; i++) {
                                        lo[i] = QuantizedLayout.nibble(uLo >>> (4 * i) & 0xf);
                                        hi[i] = QuantizedLayout.nibble(uHi >>> (4 * i) & 0xf);
                                    }
                                    sLo = ss[r];
                                    sHi = ss[r + 8];
                                }
                                for (int j = 0; j < 2; j++) {
                                    a[lane][mt][j][0] = pack(lo[4 * j] * sLo, lo[4 * j + 1] * sLo);
                                    a[lane][mt][j][1] = pack(hi[4 * j] * sHi, hi[4 * j + 1] * sHi);
                                    a[lane][mt][j][2] = pack(lo[4 * j + 2] * sLo, lo[4 * j + 3] * sLo);
                                    a[lane][mt][j][3] = pack(hi[4 * j + 2] * sHi, hi[4 * j + 3] * sHi);
                                }
                            }
                            for (int n = 0; n < nt; n++) {
                                int off = ((wtk * nt + n) * 8 + g) * 64 + 16 * t;
                                float[] v = new float[8];
                                for (int i = 0; i < 8; i++) {
                                    v[i] = bf((short) ((xs[off + 2 * i] & 0xff) | (xs[off + 2 * i + 1] & 0xff) << 8));
                                }
                                bReg[lane][n][0] = new float[][] {{v[0], v[1]}, {v[2], v[3]}};  // x.x, x.y
                                bReg[lane][n][1] = new float[][] {{v[4], v[5]}, {v[6], v[7]}};  // x.z, x.w
                            }
                        }
                        for (int n = 0; n < nt; n++) {
                            for (int mt = 0; mt < 2; mt++) {
                                for (int j = 0; j < 2; j++) {
                                    mma(acc[warp], mt * nt + n, a, mt, j, bReg, n);
                                }
                            }
                        }
                    }
                }
                for (int warp = 0; warp < tile.threads / 32; warp++) {
                    int wf = warp % wfCount;
                    int wtk = warp / wfCount;
                    for (int lane = 0; lane < 32; lane++) {
                        int g = lane >> 2;
                        int t = lane & 3;
                        for (int mt = 0; mt < 2; mt++) {
                            for (int n = 0; n < nt; n++) {
                                for (int e = 0; e < 4; e++) {
                                    long nn = n0 + wf * 32 + mt * 16 + g + 8 * (e >> 1);
                                    long m = m0 + (long) (wtk * nt + n) * 8 + 2 * t + (e & 1);
                                    if (nn < outDim && m < rows) {
                                        int o = (int) (m * outDim + nn);
                                        double v = acc[warp][lane][mt * nt + n][e];
                                        if (splits > 1) {
                                            partial[(int) (((long) z * rows + m) * outDim + nn)] = v;
                                        } else {
                                            out[o] = accumulate ? out[o] + v : v;
                                        }
                                        writes[o]++;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** D += A·B of one m16n8k16 over a warp's fragments, by the PTX ISA's layout (sums in float64). */
    private static void mma(double[][][] acc, int tileIndex, float[][][][][] a, int mt, int j, float[][][][][] b, int n) {
        float[][] am = new float[16][16];
        float[][] bm = new float[16][8];
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2;
            int t = lane & 3;
            float[][] ar = a[lane][mt][j];
            for (int h = 0; h < 2; h++) {
                am[g][2 * t + h] = ar[0][h];
                am[g + 8][2 * t + h] = ar[1][h];
                am[g][2 * t + 8 + h] = ar[2][h];
                am[g + 8][2 * t + 8 + h] = ar[3][h];
                bm[2 * t + h][g] = b[lane][n][j][0][h];
                bm[2 * t + 8 + h][g] = b[lane][n][j][1][h];
            }
        }
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2;
            int t = lane & 3;
            for (int e = 0; e < 4; e++) {
                int row = g + 8 * (e >> 1);
                int col = 2 * t + (e & 1);
                double sum = 0;
                for (int kk = 0; kk < 16; kk++) {
                    sum += (double) am[row][kk] * bm[kk][col];
                }
                acc[lane][tileIndex][e] += sum;
            }
        }
    }

    /** mg_pack: two floats rounded to the 16-bit type, kept as floats (lo, hi). */
    private static float[] pack(float lo, float hi) {
        return new float[] {bf(TensorConversion.toBfloat16(lo)), bf(TensorConversion.toBfloat16(hi))};
    }

    private static int word(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8 | (b[off + 2] & 0xff) << 16 | (b[off + 3] & 0xff) << 24;
    }

    private static byte xByte(short[] x, long byteOffset) {
        short h = x[(int) (byteOffset >> 1)];
        return (byte) ((byteOffset & 1) == 0 ? h : h >> 8);
    }
}
