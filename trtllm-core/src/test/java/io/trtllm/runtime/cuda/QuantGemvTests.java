package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import org.junit.jupiter.api.Test;

/** Which quantized projections go to the quantized GEMV and how it is launched (no GPU needed). */
class QuantGemvTests {
    private static DeviceMatrix int8(long at, int rows, int cols) {
        return new DeviceMatrix(at, 0x9000, Format.INT8, rows, cols, cols);
    }

    private static DeviceMatrix int4(long at, int rows, int cols, int group) {
        return new DeviceMatrix(at, 0x9000, Format.INT4, rows, cols, group);
    }

    @Test
    void appliesToOneToEightRowsOfWholeAlignedVectors() {
        assertThat(QuantGemv.applies(1, int8(0x1000, 4096, 4096), 0x2000)).isTrue();
        assertThat(QuantGemv.applies(Gemv.MAX_ROWS, int8(0x1000, 864, 288), 0x2000)).isTrue();
        assertThat(QuantGemv.applies(3, int8(0x1000, 3, 16), 0x2010)).isTrue();
        assertThat(QuantGemv.applies(1, int4(0x1000, 4096, 4096, 128), 0x2000)).isTrue();
        assertThat(QuantGemv.applies(8, int4(0x1000, 864, 288, 96), 0x2000)).as("stories15M's groups of 96").isTrue();
        assertThat(QuantGemv.applies(2, int4(0x1000, 256, 64, 64), 0x2000)).as("the tiny fixtures'").isTrue();
        assertThat(QuantGemv.applies(5, new DeviceMatrix(0x1000, 0x9000, Format.FP8, 864, 288, 288), 0x2000)).isTrue();
        assertThat(QuantGemv.applies(5, new DeviceMatrix(0x1000, 0x9000, Format.FP8, 8, 24, 24), 0x2000))
                .as("fp8 cols not a multiple of 16").isFalse();
    }

    @Test
    void leavesTheRestToDequantizationAndCublas() {
        assertThat(QuantGemv.applies(0, int8(0x1000, 64, 64), 0x2000)).as("no rows").isFalse();
        assertThat(QuantGemv.applies(Gemv.MAX_ROWS + 1, int8(0x1000, 64, 64), 0x2000)).as("too many rows").isFalse();
        assertThat(QuantGemv.applies(1, int8(0x1000, 64, 24), 0x2000)).as("int8 cols not a multiple of 16").isFalse();
        assertThat(QuantGemv.applies(1, int4(0x1000, 64, 48, 48), 0x2000)).as("int4 cols not a multiple of 32").isFalse();
        assertThat(QuantGemv.applies(1, int4(0x1000, 64, 96, 24), 0x2000)).as("int4 groups of less than a vector").isFalse();
        assertThat(QuantGemv.applies(1, int4(0x1000, 64, 96, 48), 0x2000)).as("int4 groups across vectors").isFalse();
        assertThat(QuantGemv.applies(1, int8(0x1008, 64, 64), 0x2000)).as("weights not 16-byte aligned").isFalse();
        assertThat(QuantGemv.applies(1, int8(0x1000, 64, 64), 0x2004)).as("input not 16-byte aligned").isFalse();
        assertThat(QuantGemv.applies(1, DeviceMatrix.floats(0x1000, 64, 64), 0x2000)).as("float weights").isFalse();
    }

    @Test
    void blockSizeCountsQuantizedVectors() {
        assertThat(QuantGemv.threads(Format.INT8, 4096)).isEqualTo(64);     // 256 vectors of 16
        assertThat(QuantGemv.threads(Format.INT4, 4096)).isEqualTo(32);     // 128 vectors of 32
        assertThat(QuantGemv.threads(Format.INT8, 14336)).isEqualTo(224);   // 896 vectors
        assertThat(QuantGemv.threads(Format.INT8, 16)).isEqualTo(32);
        assertThat(QuantGemv.threads(Format.INT8, 1 << 20)).isEqualTo(Gemv.MAX_THREADS);
        assertThat(QuantGemv.valuesPerVector(Format.INT8)).isEqualTo(16);
        assertThat(QuantGemv.valuesPerVector(Format.INT4)).isEqualTo(32);
        assertThat(QuantGemv.valuesPerVector(Format.FP8)).isEqualTo(16);
        assertThat(QuantGemv.threads(Format.FP8, 4096)).isEqualTo(64);
        assertThatThrownBy(() -> QuantGemv.valuesPerVector(Format.FLOAT)).hasMessageContaining("not a quantized format");
    }

    @Test
    void int4OfWholeStepsAndGroupsTakesTheTensorCoreKernel() {
        assertThat(QuantGemv.mmaApplies(1, int4(0x1000, 6144, 4096, 128), 0x2000)).as("8B q|k|v").isTrue();
        assertThat(QuantGemv.mmaApplies(Gemv.MAX_ROWS, int4(0x1000, 4096, 14336, 128), 0x2000)).as("8B down").isTrue();
        assertThat(QuantGemv.mmaApplies(3, int4(0x1000, 5, 256, 256), 0x2000)).as("groups of two steps").isTrue();
        assertThat(QuantGemv.mmaApplies(1, int4(0x1000, 864, 288, 96), 0x2000)).as("stories15M's q|k|v: 288 columns").isFalse();
        assertThat(QuantGemv.mmaApplies(1, int4(0x1000, 64, 192, 64), 0x2000)).as("groups of 64").isFalse();
        assertThat(QuantGemv.mmaApplies(1, int8(0x1000, 64, 128), 0x2000)).as("int8").isFalse();
        assertThat(QuantGemv.mmaApplies(Gemv.MAX_ROWS + 1, int4(0x1000, 64, 128, 128), 0x2000)).as("too many rows").isFalse();
        assertThat(QuantGemv.mmaApplies(1, int4(0x1000, 64, 128, 128), 0x2008)).as("input not 16-byte aligned").isFalse();
    }

    @Test
    void tensorCoreLaunchesTakeAWarpPerStepAndSixteenRowsPerBlock() {
        assertThat(QuantGemv.mmaThreads(128)).isEqualTo(32);
        assertThat(QuantGemv.mmaThreads(768)).as("stories15M's down: 6 steps").isEqualTo(192);
        assertThat(QuantGemv.mmaThreads(4096)).isEqualTo(32 * QuantGemv.MMA_WARPS);
        assertThat(QuantGemv.mmaThreads(14336)).isEqualTo(256);
        assertThat(QuantGemv.mmaBlocks(6144, Gemv.STORE)).isEqualTo(384);
        assertThat(QuantGemv.mmaBlocks(37, Gemv.ACCUMULATE)).isEqualTo(3);
        assertThat(QuantGemv.mmaBlocks(14336, Gemv.SWIGLU)).as("8 gate rows and their up rows a block").isEqualTo(1792);
        assertThat(QuantGemv.mmaBlocks(1000, Gemv.SWIGLU)).isEqualTo(125);
        assertThat(QuantGemv.mmaBlocks(5, Gemv.SWIGLU)).isEqualTo(1);
    }

    @Test
    void deviceMatricesAreConsistent() {
        assertThat(DeviceMatrix.floats(0x1000, 3, 8).quantized()).isFalse();
        assertThat(int4(0x1000, 3, 256, 128).quantized()).isTrue();
        assertThatThrownBy(() -> new DeviceMatrix(0x1000, 0, Format.INT8, 3, 16, 16)).hasMessageContaining("INT8 matrix");
        assertThatThrownBy(() -> new DeviceMatrix(0x1000, 0x10, Format.FLOAT, 3, 16, 16)).hasMessageContaining("FLOAT matrix");
        assertThatThrownBy(() -> int4(0x1000, 3, 96, 64)).hasMessageContaining("groups of 64");
        assertThatThrownBy(() -> int8(0x1000, 0, 16)).hasMessageContaining("0 × 16");
    }
}
