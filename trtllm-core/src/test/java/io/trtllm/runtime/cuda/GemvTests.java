package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Which projections go to the GEMV kernel and how it is launched (no GPU needed). */
class GemvTests {

    @Test
    void appliesToOneToEightRowsOfWholeAlignedVectors() {
        assertThat(Gemv.applies(1, 4096, 0x1000, 0x2000)).isTrue();
        assertThat(Gemv.applies(Gemv.MAX_ROWS, 288, 0x1000, 0x2000)).isTrue();
        assertThat(Gemv.applies(3, 8, 0x1000, 0x2010)).isTrue();
    }

    @Test
    void leavesTheRestToCublas() {
        assertThat(Gemv.applies(0, 4096, 0x1000, 0x2000)).as("no rows").isFalse();
        assertThat(Gemv.applies(Gemv.MAX_ROWS + 1, 4096, 0x1000, 0x2000)).as("too many rows").isFalse();
        assertThat(Gemv.applies(1, 4100, 0x1000, 0x2000)).as("in_dim not a multiple of 8").isFalse();
        assertThat(Gemv.applies(1, 0, 0x1000, 0x2000)).as("empty rows").isFalse();
        assertThat(Gemv.applies(1, 4096, 0x1008, 0x2000)).as("weights not 16-byte aligned").isFalse();
        assertThat(Gemv.applies(1, 4096, 0x1000, 0x2004)).as("input not 16-byte aligned").isFalse();
    }

    @Test
    void blockSizeGivesEachThreadAboutFourVectorsWithinOneToEightWarps() {
        assertThat(Gemv.threads(8)).isEqualTo(32);
        assertThat(Gemv.threads(288)).isEqualTo(32);       // stories15M: 36 vectors
        assertThat(Gemv.threads(4096)).isEqualTo(128);     // 512 vectors
        assertThat(Gemv.threads(4104)).isEqualTo(160);     // 513 vectors: 129 threads wanted
        assertThat(Gemv.threads(14336)).isEqualTo(Gemv.MAX_THREADS);
        assertThat(Gemv.threads(1 << 20)).isEqualTo(Gemv.MAX_THREADS);
    }

    @Test
    void blocksCoverEveryOutputRow() {
        assertThat(Gemv.blocks(1, Gemv.STORE)).isEqualTo(1);
        assertThat(Gemv.blocks(4096, Gemv.ACCUMULATE)).isEqualTo(4096 / Gemv.TILE);
        assertThat(Gemv.blocks(1001, Gemv.STORE)).isEqualTo(251);
        assertThat(Gemv.blocks(14336, Gemv.SWIGLU)).isEqualTo(14336 / (Gemv.TILE / 2));
        assertThat(Gemv.blocks(5, Gemv.SWIGLU)).isEqualTo(3);
    }

    @Test
    void onUnlessTurnedOff() {
        try {
            System.clearProperty("trtllm.cuda.gemv");
            assertThat(Gemv.enabled()).isTrue();
            System.setProperty("trtllm.cuda.gemv", "false");
            assertThat(Gemv.enabled()).isFalse();
        } finally {
            System.clearProperty("trtllm.cuda.gemv");
        }
    }
}
