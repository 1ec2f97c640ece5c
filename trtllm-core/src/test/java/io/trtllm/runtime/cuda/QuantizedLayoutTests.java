package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.DType;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Tensor;
import io.trtllm.model.TensorConversion;
import io.trtllm.runtime.cpu.PanelLayout;
import io.trtllm.testing.Gen;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA backend's quantized layout ({@link QuantizedLayout}) against scalar references: every value
 * decoded as the kernels decode it (int8 bytes, int4 nibbles low = even column) is the source weight
 * within half a scale, is {@code round(w / s)}, and is the very number the CPU backend's
 * {@link PanelLayout} stores for the same weight (the two layouts differ in arrangement only).
 */
class QuantizedLayoutTests {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final Arena arena = Arena.ofAuto();

    static Stream<Long> seeds() {
        return Gen.seeds("QuantizedLayoutTests", 60);
    }

    // ---- the kernels' decoding, as a scalar reference (kernels.cu: unpack_i8x4, unpack_i4x8, dequant_i*) ----

    /** The FP8 value of {@code (r, c)} of an fp8 {@code [rows, cols]} layout (before its scale). */
    static float fp8(MemorySegment values, int cols, int r, int c) {
        return io.trtllm.model.Fp8.decode(values.get(ValueLayout.JAVA_BYTE, (long) r * cols + c));
    }

    /** The quantized value of {@code (r, c)} of an int8 {@code [rows, cols]} or int4 {@code [rows, cols / 2]} layout. */
    static int q(MemorySegment values, boolean int4, int cols, int r, int c) {
        if (!int4) {
            return values.get(ValueLayout.JAVA_BYTE, (long) r * cols + c);
        }
        int b = values.get(ValueLayout.JAVA_BYTE, (long) r * (cols / 2) + c / 2) & 0xff;
        return QuantizedLayout.nibble(c % 2 == 0 ? b : b >>> 4);
    }

    /** The scale of {@code (r, c)}: int8 one per row, int4 {@code [rows, cols / group]}. */
    static float scale(MemorySegment scales, boolean int4, int cols, int group, int r, int c) {
        long i = int4 ? (long) r * (cols / group) + c / group : r;
        return scales.get(F32, i * 4);
    }

    // ---- random source matrices ----

    private Tensor matrix(Gen g, String name, DType dtype, int rows, int cols) {
        MemorySegment data = arena.allocate((long) rows * cols * dtype.byteSize(), 64);
        for (int r = 0; r < rows; r++) {
            // Rows of very different magnitudes, some all zero, some with one outlier.
            double magnitude = g.chance(0.1) ? 0 : Math.pow(10, g.intBetween(-4, 2));
            int outlier = g.chance(0.3) ? g.intBetween(0, cols - 1) : -1;
            for (int c = 0; c < cols; c++) {
                float v = (float) (g.intBetween(-1_000_000, 1_000_000) * 1e-6 * magnitude * (c == outlier ? 20 : 1));
                long i = (long) r * cols + c;
                switch (dtype) {
                    case F32 -> data.set(F32, i * 4, v);
                    case BF16 -> data.set(U16, i * 2, TensorConversion.toBfloat16(v));
                    case F16 -> data.set(U16, i * 2, Float.floatToFloat16(v));
                    default -> throw new IllegalArgumentException(dtype.toString());
                }
            }
        }
        return new Tensor(name, dtype, new long[] {rows, cols}, data);
    }

    private static float get(Tensor t, int r, int c) {
        long i = r * t.dim(1) + c;
        return switch (t.dtype()) {
            case F32 -> t.data().get(F32, i * 4);
            case BF16 -> Float.intBitsToFloat((t.data().get(U16, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(t.data().get(U16, i * 2));
            default -> throw new IllegalArgumentException(t.dtype().toString());
        };
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void int8ValuesAreTheSourceWithinHalfAScaleAndTheCpuLayoutsNumbers(long seed) {
        Gen g = new Gen(seed);
        int rows = g.intBetween(1, 24);
        int cols = 16 * g.intBetween(1, 12);
        Tensor w = matrix(g, "m.weight", g.oneOf(DType.F32, DType.BF16, DType.F16), rows, cols);
        float[] scales = QuantizedLayout.int8Scales(w);
        MemorySegment values = arena.allocate((long) rows * cols);
        QuantizedLayout.writeInt8(w, scales, values);
        MemorySegment scaleBytes = arena.allocate(rows * 4L);
        QuantizedLayout.writeScales(scales, scaleBytes);

        int p = 2 * g.intBetween(1, 8);
        MemorySegment cpuValues = arena.allocate((long) PanelLayout.panels(rows, p) * cols * p);
        PanelLayout.writeInt8(w, p, cpuValues);
        MemorySegment cpuScales = arena.allocate((long) PanelLayout.panels(rows, p) * p * 4);
        PanelLayout.writeInt8Scales(w, p, cpuScales);
        for (int r = 0; r < rows; r++) {
            float s = scale(scaleBytes, false, cols, cols, r, 0);
            assertThat(s).as("scale of row %d", r).isEqualTo(cpuScales.get(F32, 4L * r));
            float max = 0;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, Math.abs(get(w, r, c)));
            }
            assertThat(s).isEqualTo(max / 127);
            for (int c = 0; c < cols; c++) {
                int q = q(values, false, cols, r, c);
                float v = get(w, r, c);
                assertThat(q).as("(%d, %d)", r, c).isBetween(-127, 127)
                        .isEqualTo(cpuValues.get(ValueLayout.JAVA_BYTE, ((long) (r / p) * cols + c) * p + r % p))
                        .isEqualTo(s == 0 ? 0 : (int) Math.rint(v / s));
                // v / s is rounded to float before rint: within a few ulps of half a scale
                assertThat(Math.abs(v - (double) q * s)).as("(%d, %d)", r, c).isLessThanOrEqualTo(s * 0.50001);
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void int4ValuesAreTheSourceWithinHalfAGroupScaleAndTheCpuLayoutsNumbers(long seed) {
        Gen g = new Gen(seed);
        int rows = g.intBetween(1, 24);
        int cols = 8 * g.intBetween(1, 40);
        int group = QuantizedLayout.int4GroupSize("m.weight", cols);
        assertThat(group).isEqualTo(PanelLayout.int4GroupSize("m.weight", cols));
        Tensor w = matrix(g, "m.weight", g.oneOf(DType.F32, DType.BF16, DType.F16), rows, cols);
        float[] scales = QuantizedLayout.int4Scales(w, group);
        assertThat(scales).isEqualTo(PanelLayout.int4Scales(w, group));
        MemorySegment values = arena.allocate((long) rows * cols / 2);
        QuantizedLayout.writeInt4(w, group, scales, values);
        MemorySegment scaleBytes = arena.allocate(scales.length * 4L);
        QuantizedLayout.writeScales(scales, scaleBytes);

        int p = 2 * g.intBetween(1, 8);
        int half = p / 2;
        MemorySegment cpuValues = arena.allocate((long) PanelLayout.panels(rows, p) * cols * half);
        PanelLayout.writeInt4(w, p, group, scales, cpuValues);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float s = scale(scaleBytes, true, cols, group, r, c);
                int q = q(values, true, cols, r, c);
                float v = get(w, r, c);
                int lane = r % p;
                int cpuByte = cpuValues.get(ValueLayout.JAVA_BYTE, ((long) (r / p) * cols + c) * half + lane % half) & 0xff;
                int cpuQ = QuantizedLayout.nibble(lane < half ? cpuByte : cpuByte >>> 4);
                assertThat(q).as("(%d, %d)", r, c).isBetween(-7, 7).isEqualTo(cpuQ)
                        .isEqualTo(s == 0 ? 0 : (int) Math.rint(v / s));
                // v / s is rounded to float before rint: within a few ulps of half a scale
                assertThat(Math.abs(v - (double) q * s)).as("(%d, %d)", r, c).isLessThanOrEqualTo(s * 0.50001);
            }
        }
    }

    /** Per-row FP8 scales, {@code max|w(r, ·)| / 448} (FP8 recipe 1's): the kernels' tests use them, so that a kernel
     * reading another row's scale is caught. */
    static float[] fp8RowScales(Tensor w) {
        int rows = (int) w.dim(0);
        int cols = (int) w.dim(1);
        float[] s = new float[rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                s[r] = Math.max(s[r], Math.abs(get(w, r, c)));
            }
            s[r] /= io.trtllm.model.Fp8.MAX;
        }
        return s;
    }

    /** The engine's scales: one per tensor, {@code max|w| / 448}, repeated in every row; a zero tensor's is 0. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void fp8ScalesAreOnePerTensorMappingItsLargestValueTo448(long seed) {
        Gen g = new Gen(seed);
        int rows = g.intBetween(1, 24);
        int cols = 16 * g.intBetween(1, 12);
        Tensor w = matrix(g, "m.weight", g.oneOf(DType.F32, DType.BF16, DType.F16), rows, cols);
        float max = 0;
        for (float s : fp8RowScales(w)) {
            max = Math.max(max, s);
        }
        float[] scales = QuantizedLayout.fp8Scales(w);
        assertThat(scales).hasSize(rows);
        float amax = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                amax = Math.max(amax, Math.abs(get(w, r, c)));
            }
        }
        for (float s : scales) {
            assertThat(s).isEqualTo(amax / 448);
        }
        Tensor zero = matrix(new Gen(seed), "z.weight", DType.F32, 3, 16);
        zero.data().fill((byte) 0);
        assertThat(QuantizedLayout.fp8Scales(zero)).containsExactly(0f, 0f, 0f);
    }

    /** The writer with either scales (per tensor, as engines are built; per row, as the kernel tests use). */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void fp8ValuesAreTheSourceWithinHalfAStepOfTheScaledFormat(long seed) {
        Gen g = new Gen(seed);
        int rows = g.intBetween(1, 24);
        int cols = 16 * g.intBetween(1, 12);
        Tensor w = matrix(g, "m.weight", g.oneOf(DType.F32, DType.BF16, DType.F16), rows, cols);
        for (float[] scales : List.of(QuantizedLayout.fp8Scales(w), fp8RowScales(w))) {
            MemorySegment values = arena.allocate((long) rows * cols);
            QuantizedLayout.writeFp8(w, scales, values);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    int code = values.get(ValueLayout.JAVA_BYTE, (long) r * cols + c) & 0xff;
                    float v = get(w, r, c);
                    assertThat(code & 0x7f).as("(%d, %d): never NaN", r, c).isNotEqualTo(0x7f);
                    assertThat(code).isEqualTo(scales[r] == 0 ? 0 : io.trtllm.model.Fp8.encode(v / scales[r]));
                    // E4M3 keeps 4 significant bits: within 1/16 of the value, or half a subnormal step of the scale.
                    double err = Math.abs(v - (double) io.trtllm.model.Fp8.decode(code) * scales[r]);
                    assertThat(err).as("(%d, %d)", r, c)
                            .isLessThanOrEqualTo(Math.abs(v) / 16 * 1.0001 + scales[r] * 0x1p-10 * 1.0001);
                }
            }
        }
    }

    @Test
    void nibblesAreTwosComplement() {
        assertThat(QuantizedLayout.nibble(0x0)).isZero();
        assertThat(QuantizedLayout.nibble(0x7)).isEqualTo(7);
        assertThat(QuantizedLayout.nibble(0x8)).isEqualTo(-8);
        assertThat(QuantizedLayout.nibble(0x9)).isEqualTo(-7);
        assertThat(QuantizedLayout.nibble(0xf)).isEqualTo(-1);
        assertThat(QuantizedLayout.nibble(0xf3)).as("high bits ignored").isEqualTo(3);
    }

    @Test
    void groupSizeIs128OrTheLargestMultipleOf8ThatDividesTheColumns() {
        assertThat(QuantizedLayout.int4GroupSize("t", 4096)).isEqualTo(128);
        assertThat(QuantizedLayout.int4GroupSize("t", 14336)).isEqualTo(128);
        assertThat(QuantizedLayout.int4GroupSize("t", 288)).isEqualTo(96);
        assertThat(QuantizedLayout.int4GroupSize("t", 64)).isEqualTo(64);
        assertThat(QuantizedLayout.int4GroupSize("t", 8)).isEqualTo(8);
        assertThatThrownBy(() -> QuantizedLayout.int4GroupSize("model.layers.0.mlp.down_proj.weight", 100))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'model.layers.0.mlp.down_proj.weight'").hasMessageContaining("input dimension 100");
    }

    @Test
    void badInputsAreRefusedNamingTheTensor() {
        Tensor nan = new Tensor("model.layers.3.mlp.up_proj.weight", DType.F32, new long[] {2, 16},
                arena.allocate(2 * 16 * 4));
        nan.data().set(F32, 4L * 21, Float.NaN);
        assertThatThrownBy(() -> QuantizedLayout.int8Scales(nan)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'model.layers.3.mlp.up_proj.weight' holds NaN at [1, 5]");
        Tensor vector = new Tensor("v.weight", DType.F32, new long[] {16}, arena.allocate(64));
        assertThatThrownBy(() -> QuantizedLayout.int8Scales(vector)).hasMessageContaining("'v.weight' has shape [16]");
        Tensor ints = new Tensor("i.weight", DType.I8, new long[] {2, 16}, arena.allocate(32));
        assertThatThrownBy(() -> QuantizedLayout.int8Scales(ints)).hasMessageContaining("'i.weight' has dtype I8");
        Tensor ok = new Tensor("ok.weight", DType.F32, new long[] {2, 16}, arena.allocate(2 * 16 * 4));
        float[] s = QuantizedLayout.int8Scales(ok);
        assertThatThrownBy(() -> QuantizedLayout.writeInt8(ok, s, arena.allocate(31)))
                .hasMessageContaining("'ok.weight': target of 31 bytes, its layout needs 32");
        assertThatThrownBy(() -> QuantizedLayout.writeInt8(ok, new float[1], arena.allocate(32)))
                .hasMessageContaining("1 scales, expected 2");
        assertThatThrownBy(() -> QuantizedLayout.int4Scales(ok, 6)).hasMessageContaining("group size 6");
        assertThatThrownBy(() -> QuantizedLayout.writeScales(s, arena.allocate(4)))
                .hasMessageContaining("target of 4 bytes for 2 scales");
    }
}
