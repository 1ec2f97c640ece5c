package io.trtllm.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The sampled NaN/Inf scan of {@link CheckpointValidator}: which bytes it reads, what it finds. */
class CheckpointValidatorTests {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Path FILE = Path.of("/models/x/model.safetensors");

    private static Tensor f32(long rows, long cols) {
        return new Tensor("w", DType.F32, new long[] {rows, cols}, Arena.ofAuto().allocate(rows * cols * 4));
    }

    @Test
    void smallTensorsAreScannedWhole() {
        Tensor t = f32(256, 256); // exactly 64 pieces of 4 KiB: every element
        assertThat(CheckpointValidator.scanNonFinite(t, FILE)).isEqualTo(256 * 1024);
        t.data().set(F32, 4L * (256 * 100 + 3), Float.POSITIVE_INFINITY);
        assertThatThrownBy(() -> CheckpointValidator.scanNonFinite(t, FILE)).isInstanceOf(ModelFormatException.class)
                .hasMessage(FILE + ": tensor 'w' [256, 256] of F32 holds Infinity at element 25603 (row 100, column 3); "
                        + "weights must be finite numbers");
    }

    @Test
    void largeTensorsAreSampledIn64PiecesFromFirstToLastByte() {
        Tensor t = f32(1024, 256); // 1 MiB: 256 KiB of it is read
        assertThat(CheckpointValidator.scanNonFinite(t, FILE)).isEqualTo(64 * 4096);

        t.data().set(F32, 0, Float.NaN); // first piece
        assertThatThrownBy(() -> CheckpointValidator.scanNonFinite(t, FILE)).hasMessageContaining("holds NaN at element 0");
        t.data().set(F32, 0, 0f);
        t.data().set(F32, t.data().byteSize() - 4, Float.NaN); // last piece
        assertThatThrownBy(() -> CheckpointValidator.scanNonFinite(t, FILE))
                .hasMessageContaining("holds NaN at element 262143 (row 1023, column 255)");
        t.data().set(F32, t.data().byteSize() - 4, 0f);

        // A sample, not a proof: a value between two pieces (bytes 4096..16575 are not read) goes unseen.
        t.data().set(F32, 8192, Float.NaN);
        assertThat(CheckpointValidator.scanNonFinite(t, FILE)).isEqualTo(64 * 4096);
    }

    @Test
    void halfPrecisionNonFiniteValuesAreFound() {
        MemorySegment bf16 = Arena.ofAuto().allocate(64 * 2);
        bf16.set(U16, 2 * 10, (short) 0x7fc0); // BF16 NaN
        assertThatThrownBy(() -> CheckpointValidator.scanNonFinite(new Tensor("b", DType.BF16, new long[] {64}, bf16), FILE))
                .hasMessageContaining("tensor 'b' [64] of BF16 holds NaN at element 10");
        MemorySegment f16 = Arena.ofAuto().allocate(64 * 2);
        f16.set(U16, 2 * 63, (short) 0xfc00); // F16 -infinity
        assertThatThrownBy(() -> CheckpointValidator.scanNonFinite(new Tensor("h", DType.F16, new long[] {64}, f16), FILE))
                .hasMessageContaining("tensor 'h' [64] of F16 holds -Infinity at element 63");
        f16.set(U16, 2 * 63, (short) 0x7bff); // the largest finite F16, 65504
        assertThat(CheckpointValidator.scanNonFinite(new Tensor("h", DType.F16, new long[] {64}, f16), FILE)).isEqualTo(128);
    }
}
