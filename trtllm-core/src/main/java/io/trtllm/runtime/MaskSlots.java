package io.trtllm.runtime;

import io.trtllm.sampling.Bitmask;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The host's half of a device runner's token masks (guided decoding): which slot of the device's mask buffer
 * holds each logits row's {@link Bitmask}, kept from pass to pass so that a mask already on the device is neither
 * staged nor uploaded again. Masks are recognized by identity (a guide hands out one shared instance per point of
 * its automaton, and one per content while interned: {@code CompiledGuide}), so a slot is reused only for the very
 * mask it holds; a new instance of the same words is staged again, which is always correct.
 *
 * <p>Per pass, {@link #stage} writes into two host buffers that mirror the device's: {@code maskOf}
 * ({@code int[rows]}: each row's slot, or -1) and {@code words} ({@code u64[slots][wordsPerRow]}), and reports what
 * to copy: the rows' slot indices when any changed ({@link #rowsChanged}), and the slots staged in this pass as runs
 * of consecutive slots ({@link #runs}, {@link #runFrom}, {@link #runTo}). A mask new to the device takes the least
 * recently used slot that no row of this pass uses, so with at least one slot more than rows there is always one.
 *
 * <p>The host buffers are rewritten in place: the caller must have finished the previous pass's copies out of them
 * (the CUDA runner synchronizes every pass when it reads its tokens back). Not thread-safe; allocates nothing per
 * pass but when a mask is new.
 */
public final class MaskSlots {
    private static final int UNKNOWN = Integer.MIN_VALUE;

    private final int wordsPerRow;
    private final MemorySegment maskOf;
    private final MemorySegment words;
    private final int rows;
    private final Bitmask[] owner;
    private final long[] lastUsed;
    private final IdentityHashMap<Bitmask, Integer> slotOf;
    /** What {@code maskOf} holds per row (as the device has it after the last pass's copies). */
    private final int[] rowSlot;
    private long pass;
    private boolean rowsChanged;
    /** Slots staged by the last pass, then (after {@link #stage}) runs as from, to pairs. */
    private final int[] dirty;
    private int dirtyCount;
    private final int[] runBounds;
    private int runs;
    private long stagedMasks;

    /**
     * @param wordsPerRow words of one mask on the device ({@code ceil(vocab / 64)})
     * @param maskOf      host buffer of {@code rows} ints
     * @param words       host buffer of {@code slots × wordsPerRow} longs; {@code slots > rows}
     */
    public MaskSlots(int wordsPerRow, MemorySegment maskOf, MemorySegment words) {
        this.wordsPerRow = wordsPerRow;
        this.maskOf = maskOf;
        this.words = words;
        this.rows = Math.toIntExact(maskOf.byteSize() / Integer.BYTES);
        int slots = Math.toIntExact(words.byteSize() / ((long) wordsPerRow * Long.BYTES));
        if (slots <= rows) {
            throw new IllegalArgumentException("mask slots (" + slots + ") must outnumber the rows (" + rows + ")");
        }
        this.owner = new Bitmask[slots];
        this.lastUsed = new long[slots];
        Arrays.fill(lastUsed, -1);
        this.slotOf = new IdentityHashMap<>(2 * slots);
        this.rowSlot = new int[rows];
        Arrays.fill(rowSlot, UNKNOWN);
        this.dirty = new int[rows];
        this.runBounds = new int[2 * rows];
    }

    /** Slots of the words buffer ({@code slots × wordsPerRow} longs). */
    public int slots() {
        return owner.length;
    }

    /** Rows of the {@code maskOf} buffer. */
    public int rows() {
        return rows;
    }

    /**
     * Stages the masks of {@code chunks}' logits rows, then -1 for the rows after them up to {@code rows} (a decode
     * graph's padding).
     *
     * @throws IllegalArgumentException when the chunks have more logits rows than {@code rows}, or {@code rows} more
     *                                  than the buffers hold
     */
    public void stage(List<SequenceChunk> chunks, int rows) {
        stage(chunks, null, rows);
    }

    /**
     * As {@link #stage(List, int)}, chunk {@code i}'s mask being {@code later.get(i)} where that is not null (a mask
     * given after the pass was launched: {@link MaskedPass#masks}), else its own.
     */
    public void stage(List<SequenceChunk> chunks, @Nullable List<@Nullable Bitmask> later, int rows) {
        if (later != null && later.size() != chunks.size()) {
            throw new IllegalArgumentException(later.size() + " later masks for " + chunks.size() + " chunks");
        }
        if (rows > this.rows) {
            throw new IllegalArgumentException("rows " + rows + " past the mask buffers' " + this.rows);
        }
        pass++;
        rowsChanged = false;
        dirtyCount = 0;
        int r = 0;
        for (int c = 0; c < chunks.size(); c++) {
            SequenceChunk chunk = chunks.get(c);
            Bitmask given = later == null ? null : later.get(c);
            Bitmask mask = given != null ? given : chunk.mask();
            for (int i = 0; i < chunk.logitsRows(); i++, r++) {
                if (r >= rows) {
                    throw new IllegalArgumentException("the chunks have more logits rows than " + rows);
                }
                setRow(r, mask == null ? -1 : slotFor(mask));
            }
        }
        for (; r < rows; r++) {
            setRow(r, -1);
        }
        Arrays.sort(dirty, 0, dirtyCount);
        runs = 0;
        for (int i = 0; i < dirtyCount; i++) {
            if (runs > 0 && runBounds[2 * runs - 1] == dirty[i]) {
                runBounds[2 * runs - 1]++;
            } else {
                runBounds[2 * runs] = dirty[i];
                runBounds[2 * runs + 1] = dirty[i] + 1;
                runs++;
            }
        }
    }

    private void setRow(int r, int slot) {
        if (rowSlot[r] != slot) {
            rowSlot[r] = slot;
            maskOf.setAtIndex(ValueLayout.JAVA_INT, r, slot);
            rowsChanged = true;
        }
    }

    private int slotFor(Bitmask mask) {
        Integer known = slotOf.get(mask);
        if (known != null) {
            lastUsed[known] = pass;
            return known;
        }
        int victim = -1;
        for (int s = 0; s < owner.length; s++) {
            if (lastUsed[s] < pass && (victim < 0 || lastUsed[s] < lastUsed[victim])) {
                victim = s;
            }
        }
        if (owner[victim] != null) {
            slotOf.remove(owner[victim]);
        }
        owner[victim] = mask;
        slotOf.put(mask, victim);
        lastUsed[victim] = pass;
        mask.copyTo(words, (long) victim * wordsPerRow * Long.BYTES, wordsPerRow);
        dirty[dirtyCount++] = victim; // at most one per row: a slot staged now is used now, never a victim again
        stagedMasks++;
        return victim;
    }

    /** Whether the last pass changed any row's slot: the {@code maskOf} buffer must be copied (its first rows). */
    public boolean rowsChanged() {
        return rowsChanged;
    }

    /** Runs of consecutive slots the last pass staged: copy each ({@link #runFrom} to {@link #runTo}). */
    public int runs() {
        return runs;
    }

    /** First slot of run {@code i} of the last pass. */
    public int runFrom(int i) {
        return runBounds[2 * i];
    }

    /** One past the last slot of run {@code i} of the last pass. */
    public int runTo(int i) {
        return runBounds[2 * i + 1];
    }

    /** Masks staged since construction (for tests and benchmarks). */
    public long stagedMasks() {
        return stagedMasks;
    }
}
