package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import org.junit.jupiter.api.Test;

/** Which projections the FP8 GEMM takes (no GPU needed; the GEMM itself is CudaFp8GpuTests'). */
class Fp8GemmTests {
    @Test
    void fitsDimensionsThatAreMultiplesOf16() {
        assertThat(Fp8Gemm.fits(6144, 4096)).as("8B qkv").isTrue();
        assertThat(Fp8Gemm.fits(4096, 14336)).as("8B down").isTrue();
        assertThat(Fp8Gemm.fits(864, 288)).as("stories15M qkv").isTrue();
        assertThat(Fp8Gemm.fits(128, 64)).as("the tiny fixtures' qkv").isTrue();
        assertThat(Fp8Gemm.fits(1001, 96)).as("outputs not a multiple of 16").isFalse();
        assertThat(Fp8Gemm.fits(96, 1000)).as("inputs not a multiple of 16").isFalse();
        assertThat(Fp8Gemm.fits(0, 64)).isFalse();
        assertThat(Fp8Gemm.fits(64, -16)).isFalse();
    }

    @Test
    void autoLeavesDecodePassesOfAtMost8RowsToTheGemv() {
        var qkv = new DeviceMatrix(256, 512, DeviceMatrix.Format.FP8, 6144, 4096, 4096);
        assertThat(Projections.takesFp8(true, true, qkv, 1)).as("a decode row, auto").isFalse();
        assertThat(Projections.takesFp8(true, true, qkv, Gemv.MAX_ROWS)).as("8 decode rows, auto").isFalse();
        assertThat(Projections.takesFp8(true, true, qkv, Gemv.MAX_ROWS + 1)).as("9 decode rows, auto").isTrue();
        assertThat(Projections.takesFp8(true, false, qkv, 1)).as("a prompt's row, or mode true").isTrue();
        assertThat(Projections.takesFp8(true, false, qkv, 8192)).isTrue();
        assertThat(Projections.takesFp8(false, false, qkv, 256)).as("W8A8 off").isFalse();
        assertThat(Projections.takesFp8(true, false, qkv, 0)).isFalse();
        var int8 = new DeviceMatrix(256, 512, DeviceMatrix.Format.INT8, 6144, 4096, 4096);
        assertThat(Projections.takesFp8(true, false, int8, 256)).as("an INT8 matrix").isFalse();
        var odd = new DeviceMatrix(256, 512, DeviceMatrix.Format.FP8, 1000, 4096, 4096);
        assertThat(Projections.takesFp8(true, false, odd, 256)).as("outputs not a multiple of 16").isFalse();
    }

    @Test
    void modeDefaultsToAutoAndNamesABadValue() {
        assertThat(Fp8GemmMode.parse(null)).isEqualTo(Fp8GemmMode.AUTO);
        assertThat(Fp8GemmMode.parse("  ")).isEqualTo(Fp8GemmMode.AUTO);
        assertThat(Fp8GemmMode.parse("auto")).isEqualTo(Fp8GemmMode.AUTO);
        assertThat(Fp8GemmMode.parse(" TRUE ")).isEqualTo(Fp8GemmMode.ALL);
        assertThat(Fp8GemmMode.parse("false")).isEqualTo(Fp8GemmMode.WEIGHT_ONLY);
        assertThatIllegalArgumentException().isThrownBy(() -> Fp8GemmMode.parse("yes"))
                .withMessageContaining("trtllm.cuda.fp8Gemm").withMessageContaining("'yes'");
        assertThatIllegalArgumentException().isThrownBy(() -> Fp8GemmMode.parse("x".repeat(10_000)))
                .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(120));
    }

    @Test
    void fastAccumIsOnUnlessThePropertySaysFalse() {
        assertThat(Fp8Gemm.fastAccumByDefault()).isTrue();
        System.setProperty(Fp8Gemm.FAST_ACCUM_PROPERTY, "false");
        try {
            assertThat(Fp8Gemm.fastAccumByDefault()).isFalse();
        } finally {
            System.clearProperty(Fp8Gemm.FAST_ACCUM_PROPERTY);
        }
    }
}
