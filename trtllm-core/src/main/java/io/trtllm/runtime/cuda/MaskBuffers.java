package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.runtime.MaskSlots;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.sampling.Bitmask;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.jspecify.annotations.Nullable;

/**
 * The token masks of guided decoding for the kernel {@code mask_rows}: per logits row the index of its
 * bitmask ({@code -1}: none), and the bitmasks ({@code ceil(vocab / 64)} 64-bit words each) in slots, on the device
 * and pinned on the host. A slot keeps its mask from pass to pass ({@link MaskSlots}): a row whose mask is one the
 * device already holds (the same shared instance: a guide's, per automaton state) costs neither a copy nor an
 * upload, and the row indices travel only when they change. Allocated on the first masked pass (a server that never
 * guides pays nothing); owns its memory.
 */
final class MaskBuffers implements AutoCloseable {
    /** Fewest mask slots: 256 masks of a 128k vocabulary are 4 MiB on the device and as much pinned. */
    static final int MIN_SLOTS = 256;
    private final DeviceMemory memory;
    /** Run before buffers are replaced: the stream drains (and graphs holding addresses let go). */
    private final Runnable beforeReplace;
    private final int wordsPerRow;
    private int capacity;
    /** {@code int[rows]}: the bitmask of each logits row, or -1. */
    long maskOf;
    /** {@code u64[slots][wordsPerRow]}, {@code slots = max(256, 2 × rows)}: room for a guide's working set of masks. */
    long words;
    private MemorySegment hostMaskOf = MemorySegment.NULL;
    private MemorySegment hostWords = MemorySegment.NULL;
    private MaskSlots slots;
    private long uploadedBytes;

    MaskBuffers(DeviceMemory memory, int vocab, Runnable beforeReplace) {
        this.memory = memory;
        this.beforeReplace = beforeReplace;
        this.wordsPerRow = (vocab + 63) >>> 6;
    }

    int wordsPerRow() {
        return wordsPerRow;
    }

    /** Whether any chunk of the pass restricts its argmax or draw with a token mask. */
    static boolean anyMasked(List<SequenceChunk> chunks) {
        for (SequenceChunk chunk : chunks) {
            if (chunk.masked()) {
                return true;
            }
        }
        return false;
    }

    /** Whether any chunk has a mask of its own or one of {@code later} (given after the launch; entries may be null). */
    static boolean anyMasked(List<SequenceChunk> chunks, List<? extends @Nullable Bitmask> later) {
        if (anyMasked(chunks)) {
            return true;
        }
        for (Bitmask mask : later) {
            if (mask != null) {
                return true;
            }
        }
        return false;
    }

    /**
     * Stages each logits row's mask index and the masks new to the device in the pinned buffers ({@link MaskSlots})
     * and copies what changed to the device on {@code stream}; rows up to {@code rows} without a mask get -1 (a
     * decode graph's padding rows included). The previous pass's copies must be done: the runner waits for its
     * {@code uploaded} event, recorded after them, before staging a pass (an overlapped pass may still be computing).
     */
    void write(List<SequenceChunk> chunks, int rows, CUstream_st stream) {
        write(chunks, null, rows, stream);
    }

    /**
     * As {@link #write(List, int, CUstream_st)}, chunk {@code i}'s mask being {@code later.get(i)} where that is not
     * null (given after the pass's launch), else its own.
     */
    void write(List<SequenceChunk> chunks, @Nullable List<@Nullable Bitmask> later, int rows, CUstream_st stream) {
        ensure(rows);
        slots.stage(chunks, later, rows);
        if (slots.rowsChanged()) {
            check(cudaMemcpyAsync(at(maskOf), at(hostMaskOf.address()), (long) rows * Integer.BYTES, cudaMemcpyHostToDevice,
                    stream), "cudaMemcpyAsync(token mask rows)");
            uploadedBytes += (long) rows * Integer.BYTES;
        }
        for (int i = 0; i < slots.runs(); i++) {
            long offset = (long) slots.runFrom(i) * wordsPerRow * Long.BYTES;
            long bytes = (long) (slots.runTo(i) - slots.runFrom(i)) * wordsPerRow * Long.BYTES;
            check(cudaMemcpyAsync(at(words + offset), at(hostWords.address() + offset), bytes, cudaMemcpyHostToDevice,
                    stream), "cudaMemcpyAsync(token masks)");
            uploadedBytes += bytes;
        }
    }

    /** Bytes copied to the device since construction (for tests). */
    long uploadedBytes() {
        return uploadedBytes;
    }

    /** Masks staged since the buffers were last replaced (for tests). */
    long stagedMasks() {
        return slots == null ? 0 : slots.stagedMasks();
    }

    /** Grows the buffers to {@code rows} rows. */
    private void ensure(int rows) {
        if (capacity >= rows) {
            return;
        }
        beforeReplace.run();
        free();
        int slotCount = Math.max(MIN_SLOTS, 2 * rows);
        maskOf = memory.alloc((long) rows * Integer.BYTES, "token mask rows");
        words = memory.alloc((long) slotCount * wordsPerRow * Long.BYTES, "token masks");
        hostMaskOf = memory.allocHost((long) rows * Integer.BYTES);
        hostWords = memory.allocHost((long) slotCount * wordsPerRow * Long.BYTES);
        slots = new MaskSlots(wordsPerRow, hostMaskOf, hostWords);
        capacity = rows;
    }

    private void free() {
        memory.free(maskOf);
        memory.free(words);
        memory.freeHost(hostMaskOf);
        memory.freeHost(hostWords);
        maskOf = 0;
        words = 0;
        hostMaskOf = MemorySegment.NULL;
        hostWords = MemorySegment.NULL;
        slots = null;
        capacity = 0;
    }

    /** Frees the buffers; idempotent. */
    @Override
    public void close() {
        free();
    }
}
