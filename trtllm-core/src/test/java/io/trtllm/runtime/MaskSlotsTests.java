package io.trtllm.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.Bitmask;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link MaskSlots}: a row's mask is staged once and then found in its slot, by identity only; what a pass reports
 * to copy, copied into a "device" mirror, always gives every row its own mask's words.
 */
class MaskSlotsTests {
    private static final int WORDS = 3;

    private static SequenceChunk row(Bitmask mask) {
        return new SequenceChunk(new int[] {1}, 0, new int[] {0}, LogitsMode.ARGMAX, null, mask);
    }

    private static Bitmask mask(long... words) {
        return Bitmask.copyOf(words);
    }

    /** Host buffers and the device's mirror of them, updated only with what each pass says to copy. */
    private static final class Mirror {
        final MemorySegment maskOf;
        final MemorySegment words;
        final MaskSlots slots;
        final int[] deviceMaskOf;
        final long[] deviceWords;
        long copiedWords;

        Mirror(Arena arena, int rows, int slots) {
            maskOf = arena.allocate((long) rows * Integer.BYTES);
            words = arena.allocate((long) slots * WORDS * Long.BYTES);
            this.slots = new MaskSlots(WORDS, maskOf, words);
            deviceMaskOf = new int[rows];
            deviceWords = new long[slots * WORDS];
            Arrays.fill(deviceMaskOf, 12345);
            Arrays.fill(deviceWords, 0xDEADL);
        }

        void pass(List<SequenceChunk> chunks, int rows) {
            pass(chunks, null, rows);
        }

        void pass(List<SequenceChunk> chunks, List<Bitmask> later, int rows) {
            if (later == null) {
                slots.stage(chunks, rows);
            } else {
                slots.stage(chunks, later, rows);
            }
            if (slots.rowsChanged()) {
                for (int r = 0; r < rows; r++) {
                    deviceMaskOf[r] = maskOf.getAtIndex(ValueLayout.JAVA_INT, r);
                }
            }
            for (int i = 0; i < slots.runs(); i++) {
                assertThat(slots.runTo(i)).isGreaterThan(slots.runFrom(i));
                for (int w = slots.runFrom(i) * WORDS; w < slots.runTo(i) * WORDS; w++) {
                    deviceWords[w] = words.getAtIndex(ValueLayout.JAVA_LONG, w);
                    copiedWords++;
                }
            }
        }

        /** Row r's mask as the device's mask_rows would read it, or null for -1. */
        long[] deviceMask(int r) {
            int slot = deviceMaskOf[r];
            return slot < 0 ? null : Arrays.copyOfRange(deviceWords, slot * WORDS, slot * WORDS + WORDS);
        }
    }

    @Test
    void aMaskTheDeviceHoldsIsNeitherStagedNorUploadedAgainAndUnchangedRowsCopyNothing() {
        try (Arena arena = Arena.ofConfined()) {
            var m = new Mirror(arena, 4, 8);
            Bitmask a = mask(1, 2, 3);
            Bitmask b = mask(4, 5, 6);
            m.pass(List.of(row(a), row(b), row(a)), 4);
            assertThat(m.slots.stagedMasks()).isEqualTo(2);
            assertThat(m.slots.rowsChanged()).isTrue();
            assertThat(m.deviceMask(0)).containsExactly(1, 2, 3);
            assertThat(m.deviceMask(1)).containsExactly(4, 5, 6);
            assertThat(m.deviceMask(2)).containsExactly(1, 2, 3);
            assertThat(m.deviceMask(3)).as("padding").isNull();

            long copied = m.copiedWords;
            m.pass(List.of(row(a), row(b), row(a)), 4);
            assertThat(m.slots.stagedMasks()).as("same instances: nothing staged").isEqualTo(2);
            assertThat(m.slots.rowsChanged()).as("same slots: maskOf not copied").isFalse();
            assertThat(m.slots.runs()).isZero();
            assertThat(m.copiedWords).isEqualTo(copied);

            m.pass(List.of(row(b), row(a), new SequenceChunk(new int[] {1}, 0, new int[] {0}, LogitsMode.ARGMAX)), 4);
            assertThat(m.slots.stagedMasks()).as("rows swapped masks: still nothing staged").isEqualTo(2);
            assertThat(m.slots.rowsChanged()).isTrue();
            assertThat(m.deviceMask(0)).containsExactly(4, 5, 6);
            assertThat(m.deviceMask(1)).containsExactly(1, 2, 3);
            assertThat(m.deviceMask(2)).as("an unmasked row").isNull();
        }
    }

    @Test
    void equalWordsInANewInstanceAreStagedAgainNeverTakenForTheOldOnesSlotByContent() {
        try (Arena arena = Arena.ofConfined()) {
            var m = new Mirror(arena, 2, 4);
            Bitmask a = mask(7, 7, 7);
            m.pass(List.of(row(a)), 2);
            Bitmask same = mask(7, 7, 7);
            m.pass(List.of(row(same)), 2);
            assertThat(m.slots.stagedMasks()).as("reuse is by identity only").isEqualTo(2);
            assertThat(m.deviceMask(0)).containsExactly(7, 7, 7);
        }
    }

    @Test
    void aNewMaskTakesTheLeastRecentlyUsedSlotNotOneInUseThisPass() {
        try (Arena arena = Arena.ofConfined()) {
            var m = new Mirror(arena, 2, 3);
            Bitmask a = mask(1, 0, 0);
            Bitmask b = mask(2, 0, 0);
            Bitmask c = mask(3, 0, 0);
            Bitmask d = mask(4, 0, 0);
            m.pass(List.of(row(a), row(b)), 2);   // slots: a, b
            m.pass(List.of(row(c), row(a)), 2);   // c takes the free slot; a reused
            m.pass(List.of(row(d), row(a)), 2);   // d evicts b (least recently used), never a
            assertThat(m.slots.stagedMasks()).isEqualTo(4);
            assertThat(m.deviceMask(0)).containsExactly(4, 0, 0);
            assertThat(m.deviceMask(1)).containsExactly(1, 0, 0);
            m.pass(List.of(row(c), row(b)), 2);   // b comes back: staged again, into the first least recent slot (a.s)
            assertThat(m.slots.stagedMasks()).isEqualTo(5);
            assertThat(m.deviceMask(0)).containsExactly(3, 0, 0);
            assertThat(m.deviceMask(1)).containsExactly(2, 0, 0);
        }
    }

    @Test
    void randomPassesAlwaysLeaveEveryRowWithItsOwnMaskOnTheDevice() {
        var rnd = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            int rows = 6;
            var m = new Mirror(arena, rows, rows + 1);
            List<Bitmask> pool = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                pool.add(mask(rnd.nextLong(), rnd.nextLong(), i));
            }
            for (int pass = 0; pass < 500; pass++) {
                int n = 1 + rnd.nextInt(rows);
                List<SequenceChunk> chunks = new ArrayList<>();
                List<Bitmask> expected = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    Bitmask b = rnd.nextInt(5) == 0 ? null : pool.get(rnd.nextInt(pool.size()));
                    if (rnd.nextInt(40) == 0) {
                        b = mask(rnd.nextLong(), 0, 0);   // a fresh instance now and then
                    }
                    chunks.add(b == null ? new SequenceChunk(new int[] {1}, 0, new int[] {0}, LogitsMode.ARGMAX) : row(b));
                    expected.add(b);
                }
                m.pass(chunks, rows);
                for (int r = 0; r < rows; r++) {
                    Bitmask b = r < n ? expected.get(r) : null;
                    if (b == null) {
                        assertThat(m.deviceMask(r)).as("pass %d row %d", pass, r).isNull();
                    } else {
                        assertThat(m.deviceMask(r)).as("pass %d row %d", pass, r).containsExactly(b.toArray());
                    }
                }
            }
            assertThat(m.slots.stagedMasks()).as("most passes reuse slots").isLessThan(500L * rows / 2);
        }
    }

    @Test
    void buffersMustHoldMoreSlotsThanRowsAndPassesNoMoreRowsThanThey() {
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> new MaskSlots(WORDS, arena.allocate(4L * Integer.BYTES),
                    arena.allocate(4L * WORDS * Long.BYTES))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("outnumber");
            var slots = new MaskSlots(WORDS, arena.allocate(2L * Integer.BYTES), arena.allocate(3L * WORDS * Long.BYTES));
            Bitmask a = mask(1, 1, 1);
            assertThatThrownBy(() -> slots.stage(List.of(row(a), row(a), row(a)), 2))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("more logits rows");
            assertThatThrownBy(() -> slots.stage(List.of(row(a)), 3)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void masksGivenAfterTheLaunchStandForTheChunksOwnAndNullKeepsItsOwnOrNone() {
        try (Arena arena = Arena.ofConfined()) {
            var m = new Mirror(arena, 4, 8);
            Bitmask own = mask(1, 1, 1);
            Bitmask given = mask(2, 2, 2);
            var plain = new SequenceChunk(new int[] {1}, 0, new int[] {0}, LogitsMode.ARGMAX);
            // chunk 0 keeps its own mask, chunk 1 takes one given late, chunk 2 none (its sequence ended)
            m.pass(List.of(row(own), plain, plain), java.util.Arrays.asList(null, given, null), 4);
            assertThat(m.deviceMask(0)).containsExactly(1, 1, 1);
            assertThat(m.deviceMask(1)).containsExactly(2, 2, 2);
            assertThat(m.deviceMask(2)).isNull();
            m.pass(List.of(row(own), row(given), plain), 4); // the same masks the way a whole pass brings them
            assertThat(m.slots.stagedMasks()).as("staged once, then found in their slots").isEqualTo(2);
            assertThat(m.slots.rowsChanged()).isFalse();
            assertThatThrownBy(() -> m.slots.stage(List.of(plain, plain), java.util.Arrays.asList(given), 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 later masks for 2 chunks");
        }
    }
}
