package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.trtllm.model.DType;
import io.trtllm.model.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** Each SIMD kernel against its scalar reference, for every weight dtype and awkward shapes. */
class KernelsTests {
    private final Kernels scalar = new ScalarKernels();
    private final Kernels vector = new VectorKernels();

    static WeightMatrix randomMatrix(DType dtype, int rows, int cols, SplittableRandom rnd) {
        MemorySegment seg = Arena.ofAuto().allocate((long) rows * cols * dtype.byteSize());
        for (long i = 0; i < (long) rows * cols; i++) {
            float v = (float) rnd.nextGaussian();
            switch (dtype) {
                case F32 -> seg.set(WeightMatrix.F32, i * 4, v);
                case BF16 -> seg.set(WeightMatrix.U16, i * 2, (short) (Float.floatToIntBits(v) >>> 16));
                case F16 -> seg.set(WeightMatrix.U16, i * 2, Float.floatToFloat16(v));
            }
        }
        return new WeightMatrix("w", dtype, rows, cols, seg);
    }

    @ParameterizedTest(name = "{0} tokens={1} rows={2} cols={3}")
    @CsvSource({
        "F32, 1, 37, 288", "F32, 1, 8, 19", "F32, 5, 70, 64", "F32, 9, 3, 100", "F32, 17, 45, 33",
        "BF16, 1, 37, 288", "BF16, 1, 8, 19", "BF16, 5, 70, 64", "BF16, 9, 3, 100", "BF16, 17, 45, 33",
        "F16, 1, 37, 288", "F16, 1, 8, 19", "F16, 5, 70, 64", "F16, 9, 3, 100", "F16, 17, 45, 33"})
    void vectorMatmulMatchesScalar(DType dtype, int tokens, int rows, int cols) {
        var rnd = new SplittableRandom(42);
        WeightMatrix w = randomMatrix(dtype, rows, cols, rnd);
        PackedMatrix pv = PackedMatrix.pack(Arena.ofAuto(), vector.panelRows(), w);
        PackedMatrix ps = PackedMatrix.pack(Arena.ofAuto(), scalar.panelRows(), w);
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        int stride = rows + 3;
        float[] expected = new float[tokens * stride];
        float[] actual = new float[tokens * stride];
        // Every row, written at an offset into wider output rows: the fused q/k/v layout.
        scalar.matmul(x, tokens, ps, 0, ps.panels(), expected, stride, 2);
        vector.matmul(x, tokens, pv, 0, pv.panels(), actual, stride, 2);
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < rows; j++) {
                double exact = 0;
                for (int k = 0; k < cols; k++) {
                    exact += (double) x[t * cols + k] * w.get(j, k);
                }
                int i = t * stride + 2 + j;
                assertThat(expected[i]).as("scalar token %d row %d", t, j).isCloseTo((float) exact, within(1e-4f * (1 + Math.abs((float) exact))));
                assertThat(actual[i]).as("vector token %d row %d", t, j).isCloseTo((float) exact, within(1e-4f * (1 + Math.abs((float) exact))));
            }
            // Outside the rows nothing is written (padding rows of the last panel included).
            assertThat(actual[t * stride]).isZero();
            assertThat(actual[t * stride + 1]).isZero();
            if (t + 1 < tokens) {
                assertThat(actual[t * stride + 2 + rows]).isZero();
            }
        }
        // A range of panels computes those panels' rows only.
        if (pv.panels() > 1) {
            float[] part = new float[tokens * stride];
            vector.matmul(x, tokens, pv, 1, pv.panels(), part, stride, 2);
            for (int t = 0; t < tokens; t++) {
                for (int j = 0; j < rows; j++) {
                    int i = t * stride + 2 + j;
                    assertThat(part[i]).isEqualTo(j < pv.panelRows() ? 0f : actual[i]);
                }
            }
        }
    }

    @Test
    void packingPutsEveryElementWhereGetFindsIt() {
        var rnd = new SplittableRandom(8);
        for (DType dtype : List.of(DType.F32, DType.BF16, DType.F16)) {
            WeightMatrix a = randomMatrix(dtype, 5, 7, rnd);
            WeightMatrix b = randomMatrix(dtype, 6, 7, rnd);
            PackedMatrix p = PackedMatrix.pack(Arena.ofAuto(), 4, a, b);
            assertThat(p.rows()).isEqualTo(11);
            // Each part padded to whole panels: rows 0-3, 4, then 5-8, 9-10.
            assertThat(p.panels()).isEqualTo(4);
            assertThat(p.byteSize()).isEqualTo(4L * 4 * 7 * dtype.byteSize());
            assertThat(java.util.stream.IntStream.range(0, 4).map(p::firstRow).toArray()).containsExactly(0, 4, 5, 9);
            assertThat(java.util.stream.IntStream.range(0, 4).map(p::validRows).toArray()).containsExactly(4, 1, 4, 2);
            for (int c = 0; c < 7; c++) {
                for (int r = 0; r < 5; r++) {
                    assertThat(p.get(r, c)).isEqualTo(a.get(r, c));
                }
                for (int r = 0; r < 6; r++) {
                    assertThat(p.get(5 + r, c)).isEqualTo(b.get(r, c));
                }
            }
        }
        assertThatThrownBy(() -> PackedMatrix.pack(Arena.ofAuto(), 4, randomMatrix(DType.F32, 2, 3, rnd),
                randomMatrix(DType.F32, 2, 4, rnd))).hasMessageContaining("cannot pack");
    }

    /** {@code w} quantized to {@code format} (INT8 or INT4) in panels of {@code panelRows}, as an engine stores it. */
    static PackedMatrix quantize(PackedMatrix.Format format, WeightMatrix w, int panelRows) {
        Tensor t = new Tensor(w.name(), w.dtype(), new long[] {w.rows(), w.cols()}, w.data());
        Arena arena = Arena.ofAuto();
        int panels = PanelLayout.panels(w.rows(), panelRows);
        if (format == PackedMatrix.Format.INT8) {
            MemorySegment q = arena.allocate((long) panels * w.cols() * panelRows);
            MemorySegment s = arena.allocate((long) panels * panelRows * 4);
            PanelLayout.writeInt8(t, panelRows, q);
            PanelLayout.writeInt8Scales(t, panelRows, s);
            return PackedMatrix.of(w.name(), format, w.rows(), w.cols(), panelRows, w.cols(), q, s);
        }
        int group = PanelLayout.int4GroupSize(w.name(), w.cols());
        MemorySegment q = arena.allocate((long) panels * w.cols() * panelRows / 2);
        MemorySegment s = arena.allocate((long) panels * (w.cols() / group) * panelRows * 4);
        float[] scales = PanelLayout.int4Scales(t, group);
        PanelLayout.writeInt4(t, panelRows, group, scales, q);
        PanelLayout.writeInt4Scales(t, panelRows, group, scales, s);
        return PackedMatrix.of(w.name(), format, w.rows(), w.cols(), panelRows, group, q, s);
    }

    /** {@code format}: a dtype name (packed as it is) or INT8 / INT4 (quantized from F32). */
    private static PackedMatrix matrix(String format, int rows, int cols, int panelRows, SplittableRandom rnd) {
        return switch (format) {
            case "INT8", "INT4" -> quantize(PackedMatrix.Format.valueOf(format), randomMatrix(DType.F32, rows, cols, rnd),
                    panelRows);
            default -> PackedMatrix.pack(Arena.ofAuto(), panelRows, randomMatrix(DType.valueOf(format), rows, cols, rnd));
        };
    }

    @ParameterizedTest(name = "{0} rows={1} cols={2}")
    @CsvSource({"INT8, 37, 288", "INT8, 3, 19", "INT8, 45, 64", "INT4, 37, 288", "INT4, 45, 256", "INT4, 3, 40",
        "INT4, 70, 1024"})
    void quantizationStaysWithinHalfAStepOfEveryWeight(PackedMatrix.Format format, int rows, int cols) {
        var rnd = new SplittableRandom(11);
        WeightMatrix w = randomMatrix(DType.F32, rows, cols, rnd);
        PackedMatrix q = quantize(format, w, 16);
        int limit = format == PackedMatrix.Format.INT8 ? 127 : 7;
        int group = q.groupSize();
        assertThat(group).isEqualTo(format == PackedMatrix.Format.INT8 ? cols
                : cols == 288 ? 96 : cols == 40 ? 40 : 128);
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < cols / group; g++) {
                float max = 0;
                for (int c = g * group; c < (g + 1) * group; c++) {
                    max = Math.max(max, Math.abs(w.get(r, c)));
                }
                float scale = q.scale(r, g);
                assertThat(scale).as("row %d group %d", r, g).isEqualTo(max / limit);
                for (int c = g * group; c < (g + 1) * group; c++) {
                    assertThat(q.quantized(r, c)).isBetween(-limit, limit);
                    assertThat(q.get(r, c)).as("(%d, %d)", r, c).isEqualTo(q.quantized(r, c) * scale)
                            .isCloseTo(w.get(r, c), within(scale * 0.5f * 1.0001f));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} tokens={1} rows={2} cols={3}")
    @CsvSource({
        "INT8, 1, 37, 288", "INT8, 5, 70, 64", "INT8, 9, 3, 100", "INT8, 17, 45, 33",
        "INT4, 1, 37, 288", "INT4, 9, 70, 256", "INT4, 17, 45, 40", "INT4, 5, 3, 1024",
        // INT4 from DequantizedPanels.MIN_TOKENS on: each panel converted once, whole octets and a tail (INT8: converting)
        "INT8, 16, 70, 64", "INT8, 37, 45, 288", "INT8, 70, 3, 100", "INT4, 16, 70, 256", "INT4, 37, 45, 40",
        "INT4, 70, 33, 1024"})
    void quantizedMatmulHasTheScalarBitsAndTheDequantizedValue(PackedMatrix.Format format, int tokens, int rows, int cols) {
        var rnd = new SplittableRandom(42);
        WeightMatrix w = randomMatrix(DType.F32, rows, cols, rnd);
        PackedMatrix pv = quantize(format, w, vector.panelRows());
        PackedMatrix ps = quantize(format, w, scalar.panelRows());
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        int stride = rows + 3;
        float[] expected = new float[tokens * stride];
        float[] actual = new float[tokens * stride + 64];
        scalar.matmul(x, tokens, ps, 0, ps.panels(), expected, stride, 2);
        vector.matmul(x, tokens, pv, 0, pv.panels(), actual, stride, 2);
        double errorSquares = 0;
        double signalSquares = 0;
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < rows; j++) {
                int i = t * stride + 2 + j;
                // Same arithmetic in both kernels (FMA chains per group, then the scale): the same bits.
                assertThat(Float.floatToIntBits(actual[i])).as("token %d row %d", t, j)
                        .isEqualTo(Float.floatToIntBits(expected[i]));
                double dequantized = 0;
                double original = 0;
                for (int k = 0; k < cols; k++) {
                    dequantized += (double) x[t * cols + k] * pv.get(j, k);
                    original += (double) x[t * cols + k] * w.get(j, k);
                }
                assertThat(actual[i]).as("vs dequantized F32 math, token %d row %d", t, j)
                        .isCloseTo((float) dequantized, within(2e-5f * (float) Math.sqrt(cols) * (1 + Math.abs((float) dequantized))));
                errorSquares += (actual[i] - original) * (actual[i] - original);
                signalSquares += original * original;
            }
            assertThat(actual[t * stride]).isZero();
            assertThat(actual[t * stride + 1]).isZero();
            if (t + 1 < tokens) {
                assertThat(actual[t * stride + 2 + rows]).as("padding rows write nothing").isZero();
            }
        }
        // Against the unquantized weights: the quantization error, relative to the outputs' size.
        double relative = Math.sqrt(errorSquares / signalSquares);
        assertThat(relative).isLessThan(format == PackedMatrix.Format.INT8 ? 0.01 : 0.15);
    }

    @Test
    void int4NibblesHoldEveryValueOfBothHalvesOfAPanel() {
        // Multiples of 0.5 up to ±3.5 (every row holds 3.5 or -3.5): exact in int4 with scale 0.5.
        int rows = 40, cols = 16;
        MemorySegment seg = Arena.ofAuto().allocate((long) rows * cols * 4);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float v = c == 0 ? 3.5f * (r % 2 == 0 ? 1 : -1) : ((r + c) % 15 - 7) * 0.5f;
                seg.set(WeightMatrix.F32, ((long) r * cols + c) * 4, v);
            }
        }
        var w = new WeightMatrix("w", DType.F32, rows, cols, seg);
        for (int panelRows : new int[] {16, vector.panelRows()}) {
            PackedMatrix q = quantize(PackedMatrix.Format.INT4, w, panelRows);
            for (int r = 0; r < rows; r++) {
                assertThat(q.scale(r, 0)).isEqualTo(0.5f);
                for (int c = 0; c < cols; c++) {
                    assertThat(q.get(r, c)).as("(%d, %d) in panels of %d", r, c, panelRows).isEqualTo(w.get(r, c));
                }
            }
        }
    }

    @Test
    void halfPrecisionSpecialValuesConvertExactly() {
        short[] halves = {0x0000, (short) 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, (short) 0xc000, 0x7bff,
            0x7c00, (short) 0xfc00, 0x7e00, 0x3555, 0x1234, (short) 0x8001, 0x0200, 0x7a00};
        // Row i holds halves[i] in column 0 and zeros elsewhere; x is all ones, so out[i] == halves[i].
        int rows = halves.length;
        int cols = 32;
        MemorySegment seg = Arena.ofAuto().allocate((long) rows * cols * 2);
        for (int i = 0; i < rows; i++) {
            seg.set(WeightMatrix.U16, (long) i * cols * 2, halves[i]);
        }
        var w = PackedMatrix.pack(Arena.ofAuto(), vector.panelRows(), new WeightMatrix("h", DType.F16, rows, cols, seg));
        float[] x = new float[cols];
        java.util.Arrays.fill(x, 1f);
        float[] out = new float[rows];
        vector.matmul(x, 1, w, 0, w.panels(), out, rows, 0);
        for (int i = 0; i < rows; i++) {
            float expected = Float.float16ToFloat(halves[i]);
            assertThat(Float.floatToIntBits(out[i]) == Float.floatToIntBits(expected) || out[i] == expected)
                    .as("half %04x: got %s, expected %s", halves[i], out[i], expected).isTrue();
        }
    }

    @Test
    void vectorExpIsWithinTwoUlpOfMathExp() {
        float[] xs = new float[200_001];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = -87f + 175f * i / (xs.length - 1);
        }
        xs[0] = -87.3f;
        int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        float worst = 0;
        for (int i = 0; i + lanes <= xs.length; i += lanes) {
            var v = VectorLanes.exp(jdk.incubator.vector.FloatVector.fromArray(
                    jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, xs, i));
            for (int l = 0; l < lanes; l++) {
                float expected = (float) Math.exp(xs[i + l]);
                float ulps = Math.abs(v.lane(l) - expected) / Math.ulp(expected);
                worst = Math.max(worst, ulps);
            }
        }
        assertThat(worst).as("worst error in ulp").isLessThanOrEqualTo(2f);
        // Far below the range: a tiny positive number, never NaN or a negative.
        float[] tiny = new float[lanes];
        java.util.Arrays.fill(tiny, -1000f);
        float e = VectorLanes.exp(jdk.incubator.vector.FloatVector.fromArray(
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, tiny, 0)).lane(0);
        assertThat(e).isBetween(0f, 1e-37f);
    }

    @Test
    void siluMulMatchesScalar() {
        var rnd = new SplittableRandom(9);
        for (int n : new int[] {1, 15, 16, 17, 768, 131}) {
            float[] in = new float[2 * n + 7];
            for (int i = 0; i < in.length; i++) {
                in[i] = (float) (rnd.nextGaussian() * 4);
            }
            in[3] = -200f;
            float[] a = new float[n + 2];
            float[] b = new float[n + 2];
            scalar.siluMul(in, 3, 3 + n, a, 1, n);
            vector.siluMul(in, 3, 3 + n, b, 1, n);
            for (int i = 0; i < a.length; i++) {
                assertThat(b[i]).as("n %d element %d", n, i).isCloseTo(a[i], within(2e-6f * Math.max(1f, Math.abs(a[i]))));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16", "F16"})
    void attentionOverAPagedCacheMatchesScalarAndAPlainSoftmax(DType kvType) {
        var rnd = new SplittableRandom(11);
        // (heads, kv heads, head dim, from, to, block size): MHA, GQA, a head dim that is no multiple of
        // the vector, a window starting inside a block, a single position, block sizes that are no
        // multiple of the vector (7, 1) and a block larger than two vectors (48).
        int[][] cases = {{6, 6, 48, 0, 37, 32}, {8, 2, 64, 0, 5, 16}, {4, 2, 20, 3, 40, 7}, {2, 1, 16, 0, 1, 32},
                {6, 6, 48, 45, 100, 32}, {4, 4, 24, 0, 9, 1}, {3, 1, 40, 10, 130, 48}, {2, 2, 9, 0, 33, 32},
                {2, 1, 80, 30, 64, 64}};
        for (int[] c : cases) {
            int heads = c[0], kvHeads = c[1], headDim = c[2], from = c[3], to = c[4], bs = c[5];
            int group = heads / kvHeads;
            int kvDim = kvHeads * headDim;
            // Logical keys and values per position, scattered over the blocks of a larger pool.
            int blocksUsed = (to + bs - 1) / bs;
            int poolBlocks = 2 * blocksUsed + 3;
            int[] table = new int[blocksUsed];
            for (int b = 0; b < blocksUsed; b++) {
                table[b] = poolBlocks - 1 - 2 * b; // distinct, descending, with gaps: as a paged pool hands them out
            }
            float[][] k = new float[to][kvDim];
            float[][] v = new float[to][kvDim];
            int size = poolBlocks * bs * kvDim + Kernels.CACHE_PAD;
            float[] keys = new float[size];
            float[] values = new float[size];
            for (int i = 0; i < size; i++) { // stale data everywhere: unused slots must not matter
                keys[i] = (float) rnd.nextGaussian() * 50;
                values[i] = (float) rnd.nextGaussian() * 50;
            }
            MemorySegment keys16 = Arena.ofAuto().allocate(2L * size);
            MemorySegment values16 = Arena.ofAuto().allocate(2L * size);
            for (int i = 0; i < size; i++) { // stale data here too (finite halves)
                keys16.setAtIndex(KvStore.ELEMENT, i, KvStore.toBits(keys[i], DType.F16));
                values16.setAtIndex(KvStore.ELEMENT, i, KvStore.toBits(values[i], DType.F16));
            }
            for (int p = 0; p < to; p++) {
                for (int e = 0; e < kvDim; e++) {
                    k[p][e] = (float) rnd.nextGaussian();
                    v[p][e] = (float) rnd.nextGaussian();
                    if (kvType != DType.F32) {
                        // A 16-bit cache holds the values rounded; the expected result uses what it holds.
                        short kb = KvStore.toBits(k[p][e], kvType);
                        short vb = KvStore.toBits(v[p][e], kvType);
                        // Half an ulp relative; float16's subnormals (below 2^-14) have a fixed step of 2^-24.
                        float tolerance = kvType == DType.BF16 ? 0x1p-8f : 0x1p-11f;
                        assertThat(KvStore.toFloat(kb, kvType))
                                .isCloseTo(k[p][e], within(Math.max(tolerance * Math.abs(k[p][e]), 0x1p-25f)));
                        k[p][e] = KvStore.toFloat(kb, kvType);
                        v[p][e] = KvStore.toFloat(vb, kvType);
                    }
                    int ki = Kernels.keyIndex(table[p / bs], p % bs, e, bs, kvDim);
                    int vi = Kernels.valueIndex(table[p / bs], p % bs, e / headDim, e % headDim, bs, kvDim, headDim);
                    keys[ki] = k[p][e];
                    values[vi] = v[p][e];
                    keys16.setAtIndex(KvStore.ELEMENT, ki, KvStore.toBits(k[p][e], kvType == DType.F32 ? DType.F16 : kvType));
                    values16.setAtIndex(KvStore.ELEMENT, vi, KvStore.toBits(v[p][e], kvType == DType.F32 ? DType.F16 : kvType));
                }
            }
            float[] q = new float[1 + heads * headDim];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            float scale = (float) (1 / Math.sqrt(headDim));
            // Heads [group, heads): all but the first KV head's, so the offsets of a head range are exercised.
            int h0 = group, h1 = heads;
            float[] expected = new float[(h1 - h0) * headDim];
            for (int h = h0; h < h1; h++) {
                int c0 = (h / group) * headDim;
                double[] w = new double[to];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = from; p < to; p++) {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) {
                        dot += q[1 + (h - h0) * headDim + d] * k[p][c0 + d];
                    }
                    w[p] = dot * scale;
                    max = Math.max(max, w[p]);
                }
                double sum = 0;
                for (int p = from; p < to; p++) {
                    w[p] = Math.exp(w[p] - max);
                    sum += w[p];
                }
                for (int d = 0; d < headDim; d++) {
                    double o = 0;
                    for (int p = from; p < to; p++) {
                        o += w[p] / sum * v[p][c0 + d];
                    }
                    expected[(h - h0) * headDim + d] = (float) o;
                }
            }
            float[] a = new float[expected.length + 3];
            float[] b = new float[expected.length + 3];
            java.util.Arrays.fill(a, 9f);
            java.util.Arrays.fill(b, 9f);
            int scratch = Kernels.scoresLength(h1 - h0, to, bs);
            if (kvType == DType.F32) {
                scalar.attend(q, 1, keys, values, table, bs, kvDim, h0, h1, group, headDim, from, to, scale,
                        new float[scratch], a, 2);
                vector.attend(q, 1, keys, values, table, bs, kvDim, h0, h1, group, headDim, from, to, scale,
                        new float[scratch], b, 2);
            } else {
                scalar.attend(q, 1, keys16, values16, kvType, table, bs, kvDim, h0, h1, group, headDim, from, to, scale,
                        new float[scratch], new float[Kernels.tileLength(kvDim, bs)], a, 2);
                vector.attend(q, 1, keys16, values16, kvType, table, bs, kvDim, h0, h1, group, headDim, from, to, scale,
                        new float[scratch], new float[Kernels.tileLength(kvDim, bs)], b, 2);
            }
            for (int i = 0; i < expected.length; i++) {
                assertThat(a[2 + i]).as("scalar, case %s, element %d", java.util.Arrays.toString(c), i)
                        .isCloseTo(expected[i], within(1e-5f));
                assertThat(b[2 + i]).as("vector, case %s, element %d", java.util.Arrays.toString(c), i)
                        .isCloseTo(expected[i], within(1e-5f));
            }
            // Nothing written outside the heads' output.
            for (float[] out : new float[][] {a, b}) {
                assertThat(out[0]).isEqualTo(9f);
                assertThat(out[1]).isEqualTo(9f);
                assertThat(out[2 + expected.length]).isEqualTo(9f);
            }
        }
    }

    @Test
    void attentionOfAHeadDoesNotDependOnTheHeadsComputedWithIt() {
        // The runner splits a row's heads into tasks for small batches: a head's bits must not change.
        var rnd = new SplittableRandom(5);
        int heads = 4, headDim = 48, kvDim = heads * headDim, bs = 32, to = 70;
        int[] table = {2, 0, 1};
        float[] keys = new float[3 * bs * kvDim + Kernels.CACHE_PAD];
        float[] values = new float[keys.length];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = (float) rnd.nextGaussian();
            values[i] = (float) rnd.nextGaussian();
        }
        float[] q = new float[kvDim];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) rnd.nextGaussian();
        }
        float[] all = new float[kvDim];
        vector.attend(q, 0, keys, values, table, bs, kvDim, 0, heads, 1, headDim, 0, to, 0.1f,
                new float[Kernels.scoresLength(heads, to, bs)], all, 0);
        for (int h = 0; h < heads; h++) {
            float[] one = new float[headDim];
            vector.attend(q, h * headDim, keys, values, table, bs, kvDim, h, h + 1, 1, headDim, 0, to, 0.1f,
                    new float[Kernels.scoresLength(1, to, bs)], one, 0);
            assertThat(one).containsExactly(java.util.Arrays.copyOfRange(all, h * headDim, (h + 1) * headDim));
        }
    }

    @Test
    void attendRowsGivesEachRowTheBitsOfAttendAlone() {
        // Prompt rows attend together; chunked prefill and batching must not change a row's bits.
        var rnd = new SplittableRandom(17);
        // (heads, kv heads, head dim, first position, rows, block size, window): MHA, GQA, head dims that are
        // no multiple of the vector or odd, block sizes that are no multiple of it, windows starting inside blocks.
        int[][] cases = {{6, 6, 48, 0, 4, 32, 0}, {6, 6, 48, 61, 4, 32, 0}, {8, 2, 64, 29, 4, 16, 0}, {4, 2, 20, 3, 4, 7, 0},
                {2, 2, 9, 40, 4, 32, 0}, {3, 1, 80, 100, 4, 48, 30}, {6, 6, 48, 70, 4, 32, 17}, {4, 4, 32, 5, 3, 32, 0},
                {2, 1, 16, 0, 1, 32, 0}};
        for (int[] c : cases) {
            int heads = c[0], kvHeads = c[1], headDim = c[2], first = c[3], rows = c[4], bs = c[5], window = c[6];
            int group = heads / kvHeads;
            int kvDim = kvHeads * headDim;
            int to = first + rows;
            int blocksUsed = (to + bs - 1) / bs;
            int poolBlocks = 2 * blocksUsed + 3;
            int[] table = new int[blocksUsed];
            for (int b = 0; b < blocksUsed; b++) {
                table[b] = poolBlocks - 1 - 2 * b;
            }
            float[] keys = new float[poolBlocks * bs * kvDim + Kernels.CACHE_PAD];
            float[] values = new float[keys.length];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = (float) rnd.nextGaussian();
                values[i] = (float) rnd.nextGaussian();
            }
            int qStride = heads * headDim + 5;
            float[] q = new float[rows * qStride + 1];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            int outStride = heads * headDim + 3;
            for (Kernels k : List.of(vector, scalar)) {
                float[] together = new float[rows * outStride + 1];
                float[] alone = new float[rows * outStride + 1];
                java.util.Arrays.fill(together, 7f);
                java.util.Arrays.fill(alone, 7f);
                k.attendRows(q, 1, qStride, rows, keys, values, table, bs, kvDim, 0, heads, group, headDim, first, window, 0.125f,
                        new float[Kernels.scoresLength(rows * heads, to, bs)], together, 1, outStride);
                for (int r = 0; r < rows; r++) {
                    int pos = first + r;
                    k.attend(q, 1 + r * qStride, keys, values, table, bs, kvDim, 0, heads, group, headDim,
                            window > 0 ? Math.max(0, pos - window + 1) : 0, pos + 1, 0.125f,
                            new float[Kernels.scoresLength(heads, pos + 1, bs)], alone, 1 + r * outStride);
                }
                assertThat(together).as("%s, case %s", k.description(), java.util.Arrays.toString(c)).containsExactly(alone);
            }
        }
    }

    @Test
    void attendSharedGivesEachBeamTheBitsOfAttendAlone() {
        // Beams share their common prefix's blocks and read them together; a beam's bits must be its own alone.
        var rnd = new SplittableRandom(23);
        // (heads, kv heads, head dim, position, rows, block size, window, shared leading blocks): MHA, GQA, head dims
        // that are no multiple of the vector or odd, block sizes that are no multiple of it, windows starting inside
        // blocks, no block shared, all but the last shared, a block shared in the middle only, three rows (row by row).
        int[][] cases = {{6, 6, 48, 104, 4, 32, 0, 3}, {6, 6, 48, 104, 4, 32, 0, 0}, {8, 2, 64, 40, 4, 16, 0, 2},
                {4, 2, 20, 30, 4, 7, 0, 4}, {2, 2, 9, 70, 4, 32, 0, 1}, {3, 1, 80, 150, 4, 48, 30, 3}, {6, 6, 48, 90, 4, 32, 17, 2},
                {4, 4, 32, 40, 3, 32, 0, 1}, {6, 6, 48, 5, 4, 32, 0, 0}, {6, 6, 48, 100, 4, 32, 0, -1}};
        for (int[] c : cases) {
            int heads = c[0], kvHeads = c[1], headDim = c[2], pos = c[3], rows = c[4], bs = c[5], window = c[6], shared = c[7];
            int group = heads / kvHeads;
            int kvDim = kvHeads * headDim;
            int to = pos + 1;
            int from = window > 0 ? Math.max(0, pos - window + 1) : 0;
            int blocksUsed = (to + bs - 1) / bs;
            int poolBlocks = rows * blocksUsed + 2;
            int[][] tables = new int[rows][blocksUsed];
            for (int r = 0; r < rows; r++) {
                for (int b = 0; b < blocksUsed; b++) {
                    // shared = -1: only block 1 is common (a middle block); else the first `shared` blocks
                    boolean common = shared < 0 ? b == 1 : b < shared;
                    tables[r][b] = common ? poolBlocks - 1 - b : r * blocksUsed + b;
                }
            }
            float[] keys = new float[poolBlocks * bs * kvDim + Kernels.CACHE_PAD];
            float[] values = new float[keys.length];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = (float) rnd.nextGaussian();
                values[i] = (float) rnd.nextGaussian();
            }
            int qStride = heads * headDim + 5;
            float[] q = new float[rows * qStride + 1];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            int outStride = heads * headDim + 3;
            for (Kernels k : List.of(vector, scalar)) {
                // all heads, and a split of the heads as a small batch's tasks make it
                for (int[] range : new int[][] {{0, heads}, {group, heads}}) {
                    int h0 = range[0], h1 = range[1];
                    float[] together = new float[rows * outStride + 1];
                    float[] alone = new float[rows * outStride + 1];
                    java.util.Arrays.fill(together, 7f);
                    java.util.Arrays.fill(alone, 7f);
                    k.attendShared(q, 1 + h0 * headDim, qStride, rows, keys, values, tables, bs, kvDim, h0, h1, group, headDim,
                            from, to, 0.125f, new float[Kernels.scoresLength(rows * (h1 - h0), to, bs)], together,
                            1 + h0 * headDim, outStride);
                    for (int r = 0; r < rows; r++) {
                        k.attend(q, 1 + r * qStride + h0 * headDim, keys, values, tables[r], bs, kvDim, h0, h1, group, headDim,
                                from, to, 0.125f, new float[Kernels.scoresLength(h1 - h0, to, bs)], alone,
                                1 + r * outStride + h0 * headDim);
                    }
                    assertThat(together).as("%s, case %s, heads [%d, %d)", k.description(), java.util.Arrays.toString(c), h0, h1)
                            .containsExactly(alone);
                }
            }
        }
    }

    @Test
    void argmaxFindsTheFirstLargestAsThePlainLoop() {
        var rnd = new SplittableRandom(3);
        for (int n : new int[] {1, 5, 16, 17, 100, 32000}) {
            for (int round = 0; round < 20; round++) {
                float[] x = new float[n + 7];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextInt(-20, 20); // many ties
                }
                if (round == 1) {
                    x[3 + n - 1] = 1000f; // the largest is the last
                }
                if (round == 2) {
                    x[3 + rnd.nextInt(n)] = Float.NaN; // passed over unless first
                }
                if (round == 3) {
                    x[3] = Float.NaN; // a NaN first element wins
                }
                int expected = io.trtllm.runtime.ModelRunner.argmax(x, 3, n);
                assertThat(vector.argmax(x, 3, n)).as("n %d round %d", n, round).isEqualTo(expected);
                assertThat(scalar.argmax(x, 3, n)).isEqualTo(expected);
            }
        }
    }

    @ParameterizedTest(name = "tokens {0}..{1}")
    @CsvSource({"0, 1", "3, 12", "8, 16", "5, 6", "0, 21"})
    void aTokenRangeComputesThoseRowsWithTheSameBits(int t0, int t1) {
        var rnd = new SplittableRandom(9);
        int tokens = 21, rows = 70, cols = 64;
        WeightMatrix w = randomMatrix(DType.F32, rows, cols, rnd);
        PackedMatrix pv = PackedMatrix.pack(Arena.ofAuto(), vector.panelRows(), w);
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] all = new float[tokens * rows];
        vector.matmul(x, tokens, pv, 0, pv.panels(), all, rows, 0);
        float[] part = new float[tokens * rows];
        vector.matmul(x, t0, t1, pv, 0, pv.panels(), part, rows, 0);
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < rows; j++) {
                assertThat(part[t * rows + j]).as("token %d row %d", t, j).isEqualTo(t >= t0 && t < t1 ? all[t * rows + j] : 0f);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"F32", "BF16", "F16", "INT8", "INT4"})
    void aTokenHasTheSameBitsAloneAndInEachBatchKernel(String format) {
        // 15 tokens below DequantizedPanels.MIN_TOKENS: the eight-token kernel (0-7), the four-token kernel (8-11) and
        // the one-token kernel (12-14); each token's outputs must be the bits it gets alone, and for quantized weights the
        // scalar reference's (its float dot adds products without FMA: vectorMatmulMatchesScalar compares those by value).
        var rnd = new SplittableRandom(13);
        int tokens = 15, rows = 70, cols = 96;
        PackedMatrix pv = matrix(format, rows, cols, vector.panelRows(), new SplittableRandom(5));
        PackedMatrix ps = matrix(format, rows, cols, scalar.panelRows(), new SplittableRandom(5));
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] batch = new float[tokens * rows];
        float[] reference = new float[tokens * rows];
        vector.matmul(x, tokens, pv, 0, pv.panels(), batch, rows, 0);
        scalar.matmul(x, tokens, ps, 0, ps.panels(), reference, rows, 0);
        for (int t = 0; t < tokens; t++) {
            float[] alone = new float[tokens * rows];
            vector.matmul(x, t, t + 1, pv, 0, pv.panels(), alone, rows, 0);
            for (int j = 0; j < rows; j++) {
                int i = t * rows + j;
                assertThat(Float.floatToIntBits(batch[i])).as("token %d row %d, batch vs alone", t, j)
                        .isEqualTo(Float.floatToIntBits(alone[i]));
                if (pv.format().quantized()) {
                    assertThat(Float.floatToIntBits(batch[i])).as("token %d row %d, vector vs scalar", t, j)
                            .isEqualTo(Float.floatToIntBits(reference[i]));
                } else {
                    assertThat(batch[i]).as("token %d row %d, vector vs scalar", t, j)
                            .isCloseTo(reference[i], within(1e-4f * (1 + Math.abs(reference[i]))));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"INT8", "INT4"})
    void aQuantizedTokenHasTheSameBitsAloneAndInALargeBatch(PackedMatrix.Format format) {
        var rnd = new SplittableRandom(11);
        int tokens = 3 * DequantizedPanels.MIN_TOKENS + 5, rows = 70, cols = 256;
        PackedMatrix pv = quantize(format, randomMatrix(DType.F32, rows, cols, rnd), vector.panelRows());
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] batch = new float[tokens * rows];
        vector.matmul(x, tokens, pv, 0, pv.panels(), batch, rows, 0);
        for (int t = 0; t < tokens; t++) {
            float[] alone = new float[tokens * rows];
            vector.matmul(x, t, t + 1, pv, 0, pv.panels(), alone, rows, 0); // one token: the converting kernel
            for (int j = 0; j < rows; j++) {
                assertThat(Float.floatToIntBits(batch[t * rows + j])).as("token %d row %d", t, j)
                        .isEqualTo(Float.floatToIntBits(alone[t * rows + j]));
            }
        }
    }

    @Test
    void dynamicLoopCoversEveryIndexOnce() {
        try (var pool = new ParallelRunner(3, "dynamic-test")) {
            for (int n : new int[] {1, 2, 3, 7, 1000}) {
                for (int grain : new int[] {1, 4}) {
                    var hits = new AtomicIntegerArray(n);
                    pool.parallelForDynamic(n, grain, (start, end, worker) -> {
                        assertThat(end - start).isBetween(1, grain);
                        for (int i = start; i < end; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertThat(hits.get(i)).as("n %d grain %d index %d", n, grain, i).isEqualTo(1);
                    }
                }
            }
            assertThatThrownBy(() -> pool.parallelForDynamic(100, 1, (start, end, worker) -> {
                if (start == 50) {
                    throw new IllegalStateException("boom at 50");
                }
            })).isInstanceOf(IllegalStateException.class).hasMessage("boom at 50");
        }
    }

    @Test
    void parallelRunnerCoversEveryIndexOnceAndPropagatesFailures() {
        try (var pool = new ParallelRunner(3, "test")) {
            for (int n : new int[] {1, 2, 3, 7, 1000}) {
                var hits = new AtomicIntegerArray(n);
                for (int round = 0; round < 50; round++) {
                    pool.parallelFor(n, (start, end, worker) -> {
                        for (int i = start; i < end; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                }
                for (int i = 0; i < n; i++) {
                    assertThat(hits.get(i)).isEqualTo(50);
                }
            }
            assertThatThrownBy(() -> pool.parallelFor(10, (start, end, worker) -> {
                if (worker == 2) {
                    throw new IllegalStateException("boom in worker");
                }
            })).isInstanceOf(IllegalStateException.class).hasMessage("boom in worker");
            // Still usable after a failure; parks and wakes across idle gaps longer than the spin.
            try {
                Thread.sleep(2 * ParallelRunner.SPIN_NANOS / 1_000_000 + 5);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            var count = new java.util.concurrent.atomic.AtomicInteger();
            pool.parallelFor(10, (start, end, worker) -> count.addAndGet(end - start));
            assertThat(count).hasValue(10);
        }
    }

    @Test
    void closeEndsTheWorkerThreads() throws InterruptedException {
        var pool = new ParallelRunner(3, "closing-test");
        pool.parallelFor(9, (start, end, worker) -> { });
        pool.close();
        assertThat(Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("closing-test")))
                .isEmpty();
        assertThatThrownBy(() -> pool.parallelFor(9, (start, end, worker) -> { }))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }
}
