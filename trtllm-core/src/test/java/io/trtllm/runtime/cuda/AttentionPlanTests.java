package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** How a pass's rows are split between the attention kernels, and the split heuristic of decode rows (no GPU). */
class AttentionPlanTests {

    static SequenceChunk chunk(int start, int length) {
        return new SequenceChunk(new int[length], start, new int[(start + length + 15) / 16], LogitsMode.LAST);
    }

    @Test
    void prefillChunksBecomeTilesOfAtMost64RowsAndDecodeRowsARowList() {
        // rows 0..129: a 130-row prompt; 130: a decode row; 131..133: a 3-row chunk at 500; 134: a decode row
        AttentionPlan plan = AttentionPlan.of(List.of(chunk(0, 130), chunk(40, 1), chunk(500, 3), chunk(7, 1)), 0, true, 0);
        assertThat(plan.tiles()).containsExactly(
                0, 0, 64, 0,
                0, 64, 64, 64,
                0, 128, 2, 128,
                2, 131, 3, 500);
        assertThat(plan.tileCount()).isEqualTo(4);
        assertThat(plan.decodeRows()).containsExactly(130, 134);
        assertThat(plan.splitKeys()).isEqualTo(AttentionPlan.SPLIT_KEYS);
        assertThat(plan.splitCap()).isEqualTo(1);
        AttentionPlan small = AttentionPlan.of(List.of(chunk(0, 130), chunk(40, 1), chunk(500, 3), chunk(7, 1)), 0, true, 0,
                true);
        assertThat(small.splitKeys()).as("2 decode rows: a small pass").isEqualTo(AttentionPlan.SMALL_SPLIT_KEYS);
        assertThat(small.splitCap()).as("41 positions from 32 a split: 2 splits").isEqualTo(2);
    }

    @Test
    void attentionFaTilesHoldUpTo128RowsAndTheDecodeRowsStayTheSame() {
        List<SequenceChunk> chunks = List.of(chunk(0, 130), chunk(40, 1), chunk(500, 3), chunk(7, 1), chunk(1536, 512));
        AttentionPlan plan = AttentionPlan.of(chunks, 0, true, 0, false, AttentionPlan.FA_TILE_ROWS);
        assertThat(plan.tiles()).containsExactly(
                0, 0, 128, 0,
                0, 128, 2, 128,
                2, 131, 3, 500,
                4, 135, 128, 1536,
                4, 263, 128, 1664,
                4, 391, 128, 1792,
                4, 519, 128, 1920);
        AttentionPlan tc = AttentionPlan.of(chunks, 0, true, 0, false);
        assertThat(plan.decodeRows()).containsExactly(tc.decodeRows());
        assertThat(plan.splitCap()).isEqualTo(tc.splitCap());
        // every row in exactly one tile, as with attention_tc's 64-row tiles
        boolean[] seen = new boolean[647];
        for (int t = 0; t < plan.tileCount(); t++) {
            for (int r = 0; r < plan.tiles()[4 * t + 2]; r++) {
                assertThat(seen[plan.tiles()[4 * t + 1] + r]).isFalse();
                seen[plan.tiles()[4 * t + 1] + r] = true;
            }
        }
        for (int d : plan.decodeRows()) {
            assertThat(seen[d]).isFalse();
            seen[d] = true;
        }
        assertThat(seen).doesNotContain(false);
        assertThatThrownBy(() -> AttentionPlan.of(chunks, 0, true, 0, false, 96))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tileRows must be 64 or 128, got 96");
    }

    /**
     * kernels.cu's attention_fa loop transcribed (its key tiles from {@code lo}, a warp's {@code active} and
     * {@code edge}, the mask): over tiles of 128 and 64 rows of prompts and chunks, with and without a window, every
     * row sees exactly the keys [max(0, pos - window + 1), pos], a tile a warp skips holds none of its rows' keys,
     * and a tile it does not mask holds only keys of all of them.
     */
    @Test
    void attentionFaScheduleGivesEveryRowExactlyItsRange() {
        final int n = 64;  // FA_N
        Random random = new Random(15);
        for (int window : new int[] {0, 100, 300, 64}) {
            for (int tileRows : new int[] {AttentionPlan.FA_TILE_ROWS, AttentionPlan.TILE_ROWS}) {
                for (int trial = 0; trial < 40; trial++) {
                    int start = trial < 4 ? 0 : random.nextInt(3000);
                    int length = 2 + random.nextInt(trial < 20 ? 300 : 40);
                    AttentionPlan plan = AttentionPlan.of(List.of(chunk(start, length)), 0, true, window, false, tileRows);
                    for (int t = 0; t < plan.tileCount(); t++) {
                        int rows = plan.tiles()[4 * t + 2];
                        int first = plan.tiles()[4 * t + 3];
                        int last = first + rows - 1;
                        int lo = window > 0 ? Math.max(0, first - window + 1) : 0;
                        lo -= lo % n;
                        int[] seen = new int[rows];
                        for (int warp = 0; warp < tileRows / 16; warp++) {
                            boolean hasRows = warp * 16 < rows;
                            int wfirst = first + warp * 16;
                            int wlast = first + Math.min(warp * 16 + 15, rows - 1);
                            for (int k0 = lo; k0 <= last; k0 += n) {
                                boolean active = hasRows && k0 <= wlast && (window == 0 || k0 + n - 1 >= wfirst - window + 1);
                                boolean edge = k0 + n - 1 > wfirst || (window > 0 && k0 < wlast - window + 1);
                                for (int r = warp * 16; r < Math.min(warp * 16 + 16, rows); r++) {
                                    int pos = first + r;
                                    int from = window > 0 ? Math.max(0, pos - window + 1) : 0;
                                    for (int key = k0; key < k0 + n; key++) {
                                        boolean inRange = key >= from && key <= pos;
                                        if (!active) {
                                            assertThat(inRange).as("skipped tile %d of warp %d holds key %d of row at %d", k0,
                                                    warp, key, pos).isFalse();
                                        } else if (!edge) {
                                            assertThat(inRange).as("unmasked tile %d of warp %d: key %d of row at %d", k0, warp,
                                                    key, pos).isTrue();
                                        }
                                        boolean masked = key > pos || (window > 0 && key < pos - window + 1);
                                        if (active && !(edge && masked)) {
                                            seen[r]++;
                                        }
                                    }
                                }
                            }
                        }
                        for (int r = 0; r < rows; r++) {
                            assertThat(seen[r]).as("keys of row at %d (window %d, %d-row tiles)", first + r, window, tileRows)
                                    .isEqualTo(AttentionPlan.rangeLength(first + r, window));
                        }
                    }
                }
            }
        }
    }

    @Test
    void attentionFaGridsCountTilesTimesHeadsWithoutOverflow() {
        // a 2,048-token prompt on Llama-3.1-8B: 16 tiles of 128 rows, 32 heads
        assertThat(AttentionPlan.faBlocks(2048 / AttentionPlan.FA_TILE_ROWS, 32)).isEqualTo(512);
        assertThat(AttentionPlan.faBlocks(0, 32)).isZero();
        // a 1M-token pass of 2-row chunks on 128 heads still fits (2^18 · 2^7 = 2^25 blocks) ...
        assertThat(AttentionPlan.faBlocks(1 << 18, 128)).isEqualTo(1 << 25);
        // ... and a grid past 2^31 - 1 blocks is refused, not wrapped to a negative launch size
        assertThatThrownBy(() -> AttentionPlan.faBlocks(1 << 24, 128)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("exceeds a grid dimension");
        assertThatThrownBy(() -> AttentionPlan.faBlocks(-1, 32)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AttentionPlan.faBlocks(1, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void withoutTilesEveryRowIsADecodeRowSplitByItsOwnContext() {
        AttentionPlan plan = AttentionPlan.of(List.of(chunk(0, 3), chunk(4095, 1)), 0, false, 0);
        assertThat(plan.tiles()).isEmpty();
        assertThat(plan.decodeRows()).containsExactly(0, 1, 2, 3);
        assertThat(plan.splitCap()).isEqualTo(16);  // position 4095: 4096 positions, 16 splits
    }

    @Test
    void paddingRowsOfACapturedDecodePassAreDecodeRows() {
        AttentionPlan plan = AttentionPlan.of(List.of(chunk(10, 1), chunk(600, 1), chunk(3, 1)), 4, true, 0);
        assertThat(plan.tiles()).isEmpty();
        assertThat(plan.decodeRows()).containsExactly(0, 1, 2, 3);
        assertThat(plan.splitCap()).as("601 positions: 3 splits, rounded up").isEqualTo(4);
        AttentionPlan small = AttentionPlan.of(List.of(chunk(10, 1), chunk(600, 1), chunk(3, 1)), 4, true, 0, true);
        assertThat(small.splitCap()).as("601 positions in a small pass: 10 splits of 64, rounded up").isEqualTo(16);
    }

    @Test
    void passesOfMoreThanEightDecodeRowsSplitFrom256Positions() {
        List<SequenceChunk> nine = new java.util.ArrayList<>();
        for (int i = 0; i < 8; i++) {
            nine.add(chunk(10, 1));
        }
        nine.add(chunk(600, 1));
        AttentionPlan plan = AttentionPlan.of(nine, 0, true, 0, true);
        assertThat(plan.splitKeys()).isEqualTo(AttentionPlan.SPLIT_KEYS);
        assertThat(plan.splitCap()).as("601 positions: 3 splits, rounded up").isEqualTo(4);
        AttentionPlan padded = AttentionPlan.of(List.of(chunk(600, 1)), 9, true, 0, true);
        assertThat(padded.splitKeys()).as("padding rows count: the captured pass runs them").isEqualTo(AttentionPlan.SPLIT_KEYS);
        AttentionPlan eight = AttentionPlan.of(nine.subList(1, 9), 8, true, 0, true);
        assertThat(eight.splitKeys()).isEqualTo(AttentionPlan.SMALL_SPLIT_KEYS);
    }

    @Test
    void smallPassesSplitFromOneDecodeStep() {
        assertThat(AttentionPlan.splits(32, AttentionPlan.SMALL_SPLIT_KEYS)).isEqualTo(1);
        assertThat(AttentionPlan.splits(33, AttentionPlan.SMALL_SPLIT_KEYS)).isEqualTo(2);
        assertThat(AttentionPlan.splits(200, AttentionPlan.SMALL_SPLIT_KEYS)).as("the 8B single stream's 128/128").isEqualTo(7);
        assertThat(AttentionPlan.chunk(200, AttentionPlan.SMALL_SPLIT_KEYS)).isEqualTo(32);
        assertThat(AttentionPlan.splits(4096, AttentionPlan.SMALL_SPLIT_KEYS)).isEqualTo(AttentionPlan.MAX_SPLITS);
        assertThat(AttentionPlan.splits(200)).isEqualTo(1);
        assertThatThrownBy(() -> new AttentionPlan(new int[0], new int[0], 1, 64)).hasMessageContaining("splitKeys");
    }

    @Test
    void aSingleRowPromptIsADecodeRow() {
        AttentionPlan plan = AttentionPlan.of(List.of(chunk(0, 1), chunk(0, 2)), 0, true, 0);
        assertThat(plan.decodeRows()).containsExactly(0);
        assertThat(plan.tiles()).containsExactly(1, 1, 2, 0);
    }

    @Test
    void splitsGrowWithTheContextUpToSixteen() {
        assertThat(AttentionPlan.splits(1)).isEqualTo(1);
        assertThat(AttentionPlan.splits(256)).isEqualTo(1);
        assertThat(AttentionPlan.splits(257)).isEqualTo(2);
        assertThat(AttentionPlan.splits(4096)).isEqualTo(16);
        assertThat(AttentionPlan.splits(8192)).isEqualTo(16);
        assertThat(AttentionPlan.splits(1 << 20)).isEqualTo(16);
        assertThatThrownBy(() -> AttentionPlan.splits(0)).hasMessageContaining("got 0");
    }

    @Test
    void splitsCoverTheRangeWithNoneEmptyAndChunksOfWholeSteps() {
        for (int len = 1; len <= 20_000; len += len < 1100 ? 1 : 37) {
            int s = AttentionPlan.splits(len);
            int c = AttentionPlan.chunk(len);
            assertThat(c % AttentionPlan.DECODE_STEP).as("len %d", len).isZero();
            assertThat(s).as("len %d", len).isBetween(1, AttentionPlan.MAX_SPLITS);
            assertThat((long) s * c).as("len %d: splits cover the range", len).isGreaterThanOrEqualTo(len);
            assertThat((long) (s - 1) * c).as("len %d: the last split is not empty", len).isLessThan(len);
        }
    }

    @Test
    void theWindowLimitsADecodeRowsRange() {
        assertThat(AttentionPlan.rangeLength(99, 0)).isEqualTo(100);
        assertThat(AttentionPlan.rangeLength(99, 4096)).isEqualTo(100);
        assertThat(AttentionPlan.rangeLength(9999, 4096)).isEqualTo(4096);
        AttentionPlan plan = AttentionPlan.of(List.of(chunk(9999, 1)), 0, true, 300);
        assertThat(plan.splitCap()).as("300 positions in the window: 2 splits").isEqualTo(2);
        AttentionPlan small = AttentionPlan.of(List.of(chunk(9999, 1)), 0, true, 300, true);
        assertThat(small.splitCap()).as("300 positions in the window, a small pass: 10 splits of 32").isEqualTo(16);
    }

    @Test
    void aRowsPlanDoesNotDependOnTheRestOfTheBatch() {
        Random random = new Random(15);
        for (int trial = 0; trial < 200; trial++) {
            List<SequenceChunk> chunks = new ArrayList<>();
            int n = 1 + random.nextInt(6);
            for (int i = 0; i < n; i++) {
                chunks.add(chunk(random.nextInt(3000), random.nextBoolean() ? 1 : 1 + random.nextInt(200)));
            }
            AttentionPlan batched = AttentionPlan.of(chunks, 0, true, 0);
            int row = 0;
            int tile = 0;
            int decode = 0;
            for (SequenceChunk c : chunks) {
                AttentionPlan alone = AttentionPlan.of(List.of(c), 0, true, 0);
                for (int t = 0; t < alone.tileCount(); t++, tile++) {
                    assertThat(batched.tiles()[4 * tile + 1]).isEqualTo(alone.tiles()[4 * t + 1] + row);
                    assertThat(batched.tiles()[4 * tile + 2]).isEqualTo(alone.tiles()[4 * t + 2]);
                    assertThat(batched.tiles()[4 * tile + 3]).isEqualTo(alone.tiles()[4 * t + 3]);
                }
                for (int r : alone.decodeRows()) {
                    assertThat(batched.decodeRows()[decode++]).isEqualTo(r + row);
                }
                row += c.length();
            }
            assertThat(tile).isEqualTo(batched.tileCount());
            assertThat(decode).isEqualTo(batched.decodeRows().length);
        }
    }

    @Test
    void rejectsMalformedPlans() {
        assertThatThrownBy(() -> new AttentionPlan(new int[3], new int[0], 1)).hasMessageContaining("4 ints");
        assertThatThrownBy(() -> new AttentionPlan(new int[0], new int[0], 3)).hasMessageContaining("got 3");
        assertThatThrownBy(() -> new AttentionPlan(new int[0], new int[0], 32)).hasMessageContaining("got 32");
    }

    @Test
    void tensorCoreTilesTakeHeadDimsOfWholeMmaStepsUpTo128() {
        assertThat(AttentionPlan.tensorCores(128)).isTrue();
        assertThat(AttentionPlan.tensorCores(64)).isTrue();
        assertThat(AttentionPlan.tensorCores(48)).as("stories15M").isTrue();
        assertThat(AttentionPlan.tensorCores(16)).isTrue();
        assertThat(AttentionPlan.tensorCores(72)).isFalse();
        assertThat(AttentionPlan.tensorCores(256)).isFalse();
        assertThat(AttentionPlan.tensorCores(0)).isFalse();
    }

    @Test
    void gqaDecodeBlocksTakeUpToFourHeadsOfAGroup() {
        assertThat(AttentionPlan.decodeHeadsPerBlock(1)).isEqualTo(1);
        assertThat(AttentionPlan.decodeHeadsPerBlock(2)).isEqualTo(2);
        assertThat(AttentionPlan.decodeHeadsPerBlock(3)).isEqualTo(1);
        assertThat(AttentionPlan.decodeHeadsPerBlock(4)).isEqualTo(4);
        assertThat(AttentionPlan.decodeHeadsPerBlock(6)).isEqualTo(2);
        assertThat(AttentionPlan.decodeHeadsPerBlock(8)).isEqualTo(4);
        assertThat(KernelSource.text()).contains("#if GROUP % 4 == 0\n#define GQA_HEADS 4\n#elif GROUP % 2 == 0\n"
                + "#define GQA_HEADS 2\n#else\n#define GQA_HEADS 1\n#endif");
    }

    /** The constants the kernels and the plan share are the same on both sides. */
    @Test
    void constantsMatchKernelsCu() {
        String source = KernelSource.text();
        assertThat(define(source, "SPLIT_KEYS")).isEqualTo(AttentionPlan.SPLIT_KEYS);
        assertThat(define(source, "MAX_SPLITS")).isEqualTo(AttentionPlan.MAX_SPLITS);
        assertThat(define(source, "TC_N") % AttentionPlan.DECODE_STEP).isZero();
        assertThat(define(source, "ATT_WARPS") * 32 / define(source, "LANES")).isEqualTo(AttentionPlan.DECODE_STEP);
        assertThat(16 * define(source, "TC_WARPS")).isEqualTo(AttentionPlan.TILE_ROWS);
        assertThat(16 * define(source, "FA_WARPS")).isEqualTo(AttentionPlan.FA_TILE_ROWS);
        assertThat(32 * define(source, "FA_WARPS")).isEqualTo(AttentionPlan.FA_THREADS);
        assertThat(define(source, "FA_N")).as("attention_fa's key tiles start where attention_tc's do")
                .isEqualTo(define(source, "TC_N"));
        assertThat(source).contains("#if HEAD_DIM % 16 == 0 && HEAD_DIM <= 128");
    }

    private static int define(String source, String name) {
        Matcher m = Pattern.compile("(?m)^#define " + name + " (\\d+)$").matcher(source);
        assertThat(m.find()).as("#define %s in kernels.cu", name).isTrue();
        return Integer.parseInt(m.group(1));
    }
}
