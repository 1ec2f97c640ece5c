package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.runtime.cuda.DeviceMatrix.Format;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Which quantized projections the mixed-input GEMM takes, its tiles, grids and shared memory (no GPU needed). */
class MixedGemmTests {
    private static DeviceMatrix int8(long at, int rows, int cols) {
        return new DeviceMatrix(at, 0x9000, Format.INT8, rows, cols, cols);
    }

    private static DeviceMatrix int4(long at, int rows, int cols, int group) {
        return new DeviceMatrix(at, 0x9000, Format.INT4, rows, cols, group);
    }

    @Test
    void takesTheLlama8bAndStories15mShapes() {
        for (int[] s : new int[][] {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}, {864, 288}, {1536, 768},
                {288, 768}}) {
            assertThat(MixedGemm.applies(int8(0x1000, s[0], s[1]), 2048, 0x2000, 0x3000)).as("int8 %dx%d", s[0], s[1])
                    .isTrue();
            int group = QuantizedLayout.int4GroupSize("w", s[1]);
            assertThat(MixedGemm.applies(int4(0x1000, s[0], s[1], group), 9, 0x2000, 0x3000))
                    .as("int4 %dx%d groups of %d", s[0], s[1], group).isTrue();
        }
        assertThat(MixedGemm.applies(int8(0x1000, 1, 32), 1, 0x2000, 0x3004)).as("one row, one step").isTrue();
    }

    @Test
    void leavesTheRestToTheScratchPath() {
        assertThat(MixedGemm.applies(int8(0x1000, 64, 64), 0, 0x2000, 0x3000)).as("no rows").isFalse();
        assertThat(MixedGemm.applies(int8(0x1000, 64, 48), 16, 0x2000, 0x3000)).as("cols not whole steps").isFalse();
        assertThat(MixedGemm.applies(int4(0x1000, 64, 96, 48), 16, 0x2000, 0x3000)).as("int4 groups across steps")
                .isFalse();
        assertThat(MixedGemm.applies(int4(0x1000, 64, 64, 16), 16, 0x2000, 0x3000)).as("int4 groups within a step")
                .isFalse();
        assertThat(MixedGemm.applies(int8(0x1008, 64, 64), 16, 0x2000, 0x3000)).as("weights not 16-byte aligned")
                .isFalse();
        assertThat(MixedGemm.applies(int8(0x1000, 64, 64), 16, 0x2008, 0x3000)).as("input not 16-byte aligned").isFalse();
        assertThat(MixedGemm.applies(int8(0x1000, 64, 64), 16, 0x2000, 0x3002)).as("output not 4-byte aligned").isFalse();
        assertThat(MixedGemm.applies(new DeviceMatrix(0x1000, 0x9002, Format.INT8, 64, 64, 64), 16, 0x2000, 0x3000))
                .as("scales not 4-byte aligned").isFalse();
        assertThat(MixedGemm.applies(new DeviceMatrix(0x1000, 0x9000, Format.FP8, 64, 64, 64), 16, 0x2000, 0x3000))
                .as("FP8 (W8A8 or the scratch)").isFalse();
        assertThat(MixedGemm.applies(DeviceMatrix.floats(0x1000, 64, 64), 16, 0x2000, 0x3000)).as("float").isFalse();
        int tooMany = MixedGemm.MAX_GRID_Y * MixedGemm.Tile.SMALL.features + 1;
        assertThat(MixedGemm.applies(int8(0x1000, tooMany, 32), 16, 0x2000, 0x3000)).as("features past grid y").isFalse();
    }

    @Test
    void tilesAndGridsWithoutOverflow() {
        assertThat(MixedGemm.tile(9)).isEqualTo(MixedGemm.Tile.SMALL);
        assertThat(MixedGemm.tile(MixedGemm.LARGE_FROM_ROWS - 1)).isEqualTo(MixedGemm.Tile.SMALL);
        assertThat(MixedGemm.tile(MixedGemm.LARGE_FROM_ROWS)).isEqualTo(MixedGemm.Tile.LARGE);
        assertThat(MixedGemm.Tile.LARGE.gridX(2048)).isEqualTo(16);
        assertThat(MixedGemm.Tile.LARGE.gridX(2049)).isEqualTo(17);
        assertThat(MixedGemm.Tile.SMALL.gridX(16)).isEqualTo(1);
        assertThat(MixedGemm.Tile.SMALL.gridX(Integer.MAX_VALUE)).isEqualTo((int) ((Integer.MAX_VALUE + 63L) / 64));
        assertThat(MixedGemm.Tile.LARGE.gridY(28672)).isEqualTo(224);
        assertThat(MixedGemm.Tile.SMALL.gridY(864)).isEqualTo(14);
        assertThat(MixedGemm.Tile.SMALL.gridY(Integer.MAX_VALUE)).isEqualTo((int) ((Integer.MAX_VALUE + 63L) / 64));
        for (MixedGemm.Tile t : MixedGemm.Tile.values()) {
            for (Format f : new Format[] {Format.INT8, Format.INT4}) {
                assertThat(t.sharedBytes(f)).as("%s %s", t, f).isLessThanOrEqualTo(48 * 1024);
            }
        }
        // ptxas --resource-usage (sm_90): 49152, 43008, 36864, 32256 bytes smem
        assertThat(MixedGemm.Tile.LARGE.sharedBytes(Format.INT8)).isEqualTo(49_152);
        assertThat(MixedGemm.Tile.LARGE.sharedBytes(Format.INT4)).isEqualTo(43_008);
        assertThat(MixedGemm.Tile.SMALL.sharedBytes(Format.INT8)).isEqualTo(36_864);
        assertThat(MixedGemm.Tile.SMALL.sharedBytes(Format.INT4)).isEqualTo(32_256);
    }

    @Test
    void splitsDependOnTheShapeAndFitTheWorkspace() {
        assertThat(MixedGemm.splits(6144, 4096, 16)).isEqualTo(6);   // 96 tiles of 64 features
        assertThat(MixedGemm.splits(4096, 4096, 128)).isEqualTo(8);  // 64 tiles
        assertThat(MixedGemm.splits(28672, 4096, 256)).isEqualTo(2);  // 448 tiles
        assertThat(MixedGemm.splits(4096, 14336, 1)).isEqualTo(8);
        assertThat(MixedGemm.splits(64, 4096, 16)).isEqualTo(MixedGemm.MAX_SPLITS);
        assertThat(MixedGemm.splits(64, 64, 16)).as("no more splits than steps").isEqualTo(2);
        assertThat(MixedGemm.splits(128256, 4096, 16)).as("enough tiles").isEqualTo(1);
        assertThat(MixedGemm.splits(4096, 4096, MixedGemm.SPLIT_MAX_ROWS + 1)).as("many rows").isEqualTo(1);
        for (int rows : new int[] {1, 9, 100, MixedGemm.SPLIT_MAX_ROWS}) {
            assertThat(MixedGemm.splits(4096, 4096, rows)).as("the same at %d rows", rows).isEqualTo(8);
        }
        long worst = 0;
        for (int outDim = 1; outDim <= 70_000; outDim++) {
            for (int inDim : new int[] {32, 288, 4096, 14336}) {
                worst = Math.max(worst, MixedGemm.workspaceBytes(outDim, inDim, MixedGemm.SPLIT_MAX_ROWS));
                assertThat(MixedGemm.splits(outDim, inDim, 16)).isBetween(1, Math.min(MixedGemm.MAX_SPLITS, inDim / 32));
            }
        }
        assertThat(worst).isLessThan(MixedGemm.WORKSPACE_BYTES);
        assertThat(MixedGemm.workspaceBytes(4096, 4096, 2048)).isZero();
        assertThat(MixedGemm.workspaceBytes(4096, 4096, 128)).isEqualTo(8L * 128 * 4096 * 4);
    }

    @Test
    void kernelNamesAndTheSourceAgree() {
        String source = KernelSource.text();
        for (MixedGemm.Tile t : MixedGemm.Tile.values()) {
            for (Format f : new Format[] {Format.INT8, Format.INT4}) {
                String name = MixedGemm.name(f, t);
                Matcher m = Pattern.compile("MIXGEMM_KERNEL\\(" + name + ", (\\d), (\\d), (\\d), (\\d), (\\d)\\)")
                        .matcher(source);
                assertThat(m.find()).as(name).isTrue();
                int q = Integer.parseInt(m.group(1));
                int wf = Integer.parseInt(m.group(2));
                int wt = Integer.parseInt(m.group(3));
                int nt = Integer.parseInt(m.group(4));
                assertThat(q).isEqualTo(f == Format.INT8 ? 8 : 4);
                assertThat(32 * wf).as("%s features", name).isEqualTo(t.features);
                assertThat(8 * nt * wt).as("%s rows", name).isEqualTo(t.rows);
                assertThat(32 * wf * wt).as("%s threads", name).isEqualTo(t.threads);
                assertThat(Integer.parseInt(m.group(5))).as("%s stages", name).isEqualTo(t.stages);
            }
        }
        assertThat(source).contains("#define MG_BK " + MixedGemm.STEP);
        assertThatThrownBy(() -> MixedGemm.name(Format.FP8, MixedGemm.Tile.LARGE)).hasMessageContaining("FP8");
    }

    @Test
    void offUnlessAsked() {
        String before = System.getProperty(MixedGemm.PROPERTY);
        try {
            System.clearProperty(MixedGemm.PROPERTY);
            assertThat(MixedGemm.enabledByProperty()).isFalse();
            System.setProperty(MixedGemm.PROPERTY, "true");
            assertThat(MixedGemm.enabledByProperty()).isTrue();
        } finally {
            if (before == null) {
                System.clearProperty(MixedGemm.PROPERTY);
            } else {
                System.setProperty(MixedGemm.PROPERTY, before);
            }
        }
    }
}
