package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.runtime.SequenceChunk;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * The token masks of guided decoding for the kernel {@code mask_rows}: per logits row the index of its
 * bitmask ({@code -1}: none), and the bitmasks ({@code ceil(vocab / 64)} 64-bit words each), on the device
 * and pinned on the host. Allocated on the first masked pass (a server that never guides pays nothing);
 * owns its memory.
 */
final class MaskBuffers implements AutoCloseable {
    private final DeviceMemory memory;
    /** Run before buffers are replaced: the stream drains (and graphs holding addresses let go). */
    private final Runnable beforeReplace;
    private final int wordsPerRow;
    private int capacity;
    /** {@code int[rows]}: the bitmask of each logits row, or -1. */
    long maskOf;
    /** {@code u64[rows][wordsPerRow]}. */
    long words;
    private MemorySegment hostMaskOf = MemorySegment.NULL;
    private MemorySegment hostWords = MemorySegment.NULL;

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

    /**
     * Writes each logits row's mask index and the masked rows' bitmasks to the pinned buffers and copies them
     * to the device on {@code stream}; rows up to {@code rows} without a mask get -1 (a decode graph's padding
     * rows included). Only the masked rows' words travel.
     */
    void write(List<SequenceChunk> chunks, int rows, CUstream_st stream) {
        ensure(rows);
        int r = 0;
        int masks = 0;
        for (SequenceChunk chunk : chunks) {
            boolean masked = chunk.masked();
            for (int i = 0; i < chunk.logitsRows(); i++, r++) {
                if (!masked) {
                    hostMaskOf.setAtIndex(ValueLayout.JAVA_INT, r, -1);
                    continue;
                }
                hostMaskOf.setAtIndex(ValueLayout.JAVA_INT, r, masks);
                // One bulk copy per row, straight from the chunk's words (no per-word writes, no array copy).
                chunk.copyTokenMask(hostWords, (long) masks * wordsPerRow * Long.BYTES, wordsPerRow);
                masks++;
            }
        }
        for (; r < rows; r++) {
            hostMaskOf.setAtIndex(ValueLayout.JAVA_INT, r, -1);
        }
        check(cudaMemcpyAsync(at(maskOf), at(hostMaskOf.address()), (long) rows * Integer.BYTES, cudaMemcpyHostToDevice,
                stream), "cudaMemcpyAsync(token mask rows)");
        if (masks > 0) {
            check(cudaMemcpyAsync(at(words), at(hostWords.address()), (long) masks * wordsPerRow * Long.BYTES,
                    cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync(token masks)");
        }
    }

    /** Grows the buffers to {@code rows} rows. */
    private void ensure(int rows) {
        if (capacity >= rows) {
            return;
        }
        beforeReplace.run();
        free();
        maskOf = memory.alloc((long) rows * Integer.BYTES, "token mask rows");
        words = memory.alloc((long) rows * wordsPerRow * Long.BYTES, "token masks");
        hostMaskOf = memory.allocHost((long) rows * Integer.BYTES);
        hostWords = memory.allocHost((long) rows * wordsPerRow * Long.BYTES);
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
        capacity = 0;
    }

    /** Frees the buffers; idempotent. */
    @Override
    public void close() {
        free();
    }
}
