package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.jspecify.annotations.Nullable;

/**
 * The per-pass inputs of {@link CudaModelRunner}, staged in a pinned host buffer and copied to the
 * device in one copy: ints at offsets fixed by the capacities of the activations ({@code rows}) and of
 * the logits ({@code logitRows}), so that a captured graph finds them where it was recorded:
 * <pre>
 * tokens | positions | KV slots | row → sequence   {@code rows} each
 * decode rows                                       {@code rows}: the rows of attention_decode ({@link AttentionPlan})
 * attention tiles                                   {@code 4·rows}: attention_tc's tiles, 4 ints each (16-byte aligned)
 * chained rows                                      {@code rows}: per row, the previous pass's ids row whose token is
 *                                                   its token, or -1 (chain_tokens; written only when some row chains)
 * logits rows                                       {@code logitRows}: the row of each logits row
 * block-table stride                                1
 * block tables                                      sequence-major, stride entries each
 * </pre>
 * Grown on demand; owns its memory.
 */
final class PassInputs implements AutoCloseable {
    private final DeviceMemory memory;
    /** Run before buffers are replaced: whatever holds their addresses (captured graphs) lets go, the stream drains. */
    private final Runnable beforeReplace;
    /** The layout's capacities: activation rows and logits rows. */
    private int rows;
    private int logitRows;
    private long capacity;
    private long device;
    private MemorySegment host = MemorySegment.NULL;

    PassInputs(DeviceMemory memory, Runnable beforeReplace) {
        this.memory = memory;
        this.beforeReplace = beforeReplace;
    }

    /**
     * Lays the inputs out for activations of {@code rows} rows and logits of {@code logitRows} rows, and
     * grows the buffers to the block tables of {@code sequences} sequences of {@code stride} entries.
     */
    void ensure(int rows, int logitRows, int sequences, int stride) {
        this.rows = rows;
        this.logitRows = logitRows;
        long ints = tableOff() + (long) sequences * stride;
        if (ints <= capacity) {
            return;
        }
        long cap = Math.max(1024, Long.highestOneBit(ints - 1) << 1);
        beforeReplace.run();
        free();
        device = memory.alloc(cap * Integer.BYTES, "per-pass inputs");
        host = memory.allocHost(cap * Integer.BYTES);
        capacity = cap;
    }

    /**
     * Writes the pass's inputs to the pinned host buffer and copies them to the device on {@code stream};
     * with {@code padded} > 0, rows beyond the batch up to {@code padded} are padding: token 0 at position
     * 0 of a sequence of their own whose only block is the scratch block past the executor's
     * ({@code kvSpec.numBlocks()}). {@code plan}: the pass's attention tiles and decode rows. {@code chained}: per
     * row of the batch, the ids row of the previous pass whose token replaces the row's placeholder, or -1; null
     * when no row chains.
     */
    void write(List<SequenceChunk> chunks, int stride, int padded, KvCacheSpec kvSpec, AttentionPlan plan,
               int @Nullable [] chained, CUstream_st stream) {
        MemorySegment m = host;
        int bs = kvSpec.blockSize();
        int row = 0;
        int r = 0;
        for (int s = 0; s < chunks.size(); s++) {
            SequenceChunk chunk = chunks.get(s);
            int firstRow = row;
            for (int i = 0; i < chunk.length(); i++, row++) {
                int pos = chunk.startPosition() + i;
                m.setAtIndex(ValueLayout.JAVA_INT, row, chunk.tokenId(i));
                m.setAtIndex(ValueLayout.JAVA_INT, posOff() + row, pos);
                m.setAtIndex(ValueLayout.JAVA_INT, slotOff() + row, chunk.block(pos / bs) * bs + pos % bs);
                m.setAtIndex(ValueLayout.JAVA_INT, seqOff() + row, s);
            }
            int from = chunk.firstLogitsRow();
            for (int i = 0; i < chunk.logitsRows(); i++) {
                m.setAtIndex(ValueLayout.JAVA_INT, rowsOff() + r++, firstRow + from + i);
            }
            int needed = kvSpec.blocksFor(chunk.endPosition());
            for (int b = 0; b < needed; b++) {
                m.setAtIndex(ValueLayout.JAVA_INT, tableOff() + (long) s * stride + b, chunk.block(b));
            }
        }
        int scratchBlock = kvSpec.numBlocks();
        for (int p = chunks.size(); p < padded; p++, row++, r++) {
            m.setAtIndex(ValueLayout.JAVA_INT, row, 0);
            m.setAtIndex(ValueLayout.JAVA_INT, posOff() + row, 0);
            m.setAtIndex(ValueLayout.JAVA_INT, slotOff() + row, scratchBlock * bs);
            m.setAtIndex(ValueLayout.JAVA_INT, seqOff() + row, p);
            m.setAtIndex(ValueLayout.JAVA_INT, rowsOff() + r, row);
            m.setAtIndex(ValueLayout.JAVA_INT, tableOff() + (long) p * stride, scratchBlock);
        }
        MemorySegment.copy(plan.decodeRows(), 0, m, ValueLayout.JAVA_INT, 4 * decodeOff(), plan.decodeRows().length);
        MemorySegment.copy(plan.tiles(), 0, m, ValueLayout.JAVA_INT, 4 * tileOff(), plan.tiles().length);
        if (chained != null) {
            MemorySegment.copy(chained, 0, m, ValueLayout.JAVA_INT, 4 * chainOff(), chained.length);
        }
        m.setAtIndex(ValueLayout.JAVA_INT, strideOff(), stride);
        long ints = tableOff() + (long) Math.max(chunks.size(), padded) * stride;
        check(cudaMemcpyAsync(at(device), at(m.address()), ints * Integer.BYTES, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync(inputs)");
    }

    // Device addresses of the inputs, for the launches.

    long tokens() {
        return device;
    }

    long positions() {
        return device + 4 * posOff();
    }

    long slots() {
        return device + 4 * slotOff();
    }

    long rowSequence() {
        return device + 4 * seqOff();
    }

    long logitsRows() {
        return device + 4 * rowsOff();
    }

    long decodeRows() {
        return device + 4 * decodeOff();
    }

    long tiles() {
        return device + 4 * tileOff();
    }

    long stride() {
        return device + 4 * strideOff();
    }

    long tables() {
        return device + 4 * tableOff();
    }

    long chained() {
        return device + 4 * chainOff();
    }

    // Offsets in ints.

    private long posOff() {
        return rows;
    }

    private long slotOff() {
        return 2L * rows;
    }

    private long seqOff() {
        return 3L * rows;
    }

    private long decodeOff() {
        return 4L * rows;
    }

    /** A multiple of 4 ints (rows is a power of two of at least 64): int4 loads. */
    private long tileOff() {
        return 5L * rows;
    }

    private long chainOff() {
        return 9L * rows;
    }

    private long rowsOff() {
        return 10L * rows;
    }

    private long strideOff() {
        return 10L * rows + logitRows;
    }

    private long tableOff() {
        return strideOff() + 1;
    }

    private void free() {
        memory.free(device);
        memory.freeHost(host);
        device = 0;
        host = MemorySegment.NULL;
        capacity = 0;
    }

    /** Frees the buffers; idempotent. */
    @Override
    public void close() {
        free();
    }
}
