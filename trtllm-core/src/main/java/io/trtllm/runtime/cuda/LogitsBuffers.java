package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.sampling.TokenSampler;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * What a {@link CudaModelRunner} pass computes for the rows that need logits, and how it comes back:
 * the normed rows, the logits rows and the token ids (argmax or device draws) on the device, pinned
 * host copies of the logits and ids, and {@link #results}, which copies back what each chunk asked
 * for. Grown on demand to a power of two of rows; owns its memory.
 */
final class LogitsBuffers implements AutoCloseable {
    private final ModelConfig config;
    private final DeviceMemory memory;
    /** Run before buffers are replaced: whatever holds their addresses (captured graphs) lets go, the stream drains. */
    private final Runnable beforeReplace;
    /** Draws of SAMPLE rows on the host, when device sampling is off. */
    private final TokenSampler hostSampler = new TokenSampler();
    private int capacity;
    /** {@code rmsnorm(x)} of the rows that need logits, {@code (rows, dim)} bf16. */
    long normed;
    /** {@code (rows, vocab)} f32. */
    long logits;
    /** Per row: its argmax or its draw. */
    long tokenIds;
    private MemorySegment hostLogits = MemorySegment.NULL;
    /**
     * Two pinned copies of the ids, used in turn by consecutive passes ({@link #copyBack}'s slot): an overlapped pass
     * copies its ids back while the host still reads the ids of the pass before.
     */
    private final MemorySegment[] hostTokenIds = {MemorySegment.NULL, MemorySegment.NULL};
    /** Logits rows copied to the host so far (SAMPLE and ARGMAX rows copy none while drawn on the device). */
    private long rowsCopied;

    LogitsBuffers(ModelConfig config, DeviceMemory memory, Runnable beforeReplace) {
        this.config = config;
        this.memory = memory;
        this.beforeReplace = beforeReplace;
    }

    /** Rows the buffers hold now. */
    int capacity() {
        return capacity;
    }

    /** Logits rows copied to the host since construction. */
    long rowsCopied() {
        return rowsCopied;
    }

    /**
     * Grows the buffers to at least {@code rows} rows. The device's token ids are kept (an overlapped pass reads
     * the ids the pass before chose: {@code chain_tokens}); the host copies are not.
     */
    void ensure(int rows) {
        if (rows <= capacity) {
            return;
        }
        ModelConfig c = config;
        int cap = Math.max(ActivationBuffers.MIN_ROWS, Integer.highestOneBit(rows - 1) << 1);
        beforeReplace.run();
        long keptIds = tokenIds;
        int keptRows = capacity;
        tokenIds = 0;
        free(); // as for the activations: nothing held until the new buffers exist
        try {
            String what = "logits of " + cap + " rows";
            normed = memory.alloc((long) cap * c.hiddenSize() * Short.BYTES, what);
            logits = memory.alloc((long) cap * c.vocabSize() * Float.BYTES, what);
            tokenIds = memory.alloc((long) cap * Integer.BYTES, what);
            if (keptIds != 0) {
                check(cudaMemcpy(at(tokenIds), at(keptIds), (long) keptRows * Integer.BYTES, cudaMemcpyDeviceToDevice),
                        "cudaMemcpy(token ids)");
            }
            hostLogits = memory.allocHost((long) cap * c.vocabSize() * Float.BYTES);
            hostTokenIds[0] = memory.allocHost((long) cap * Integer.BYTES);
            hostTokenIds[1] = memory.allocHost((long) cap * Integer.BYTES);
            capacity = cap;
        } finally {
            memory.free(keptIds);
        }
    }

    /**
     * Copies back what each chunk asked for (token ids of argmax rows and of rows drawn on the device,
     * logits rows), waits for {@code stream}, and hands them out; SAMPLE rows not drawn on the device are
     * drawn here.
     */
    ForwardResult results(List<SequenceChunk> chunks, boolean argmaxDone, boolean drawn, CUstream_st stream) {
        copyBack(chunks, argmaxDone, drawn, 0, stream);
        Cuda.sync(stream);
        return collect(chunks, drawn, 0);
    }

    /**
     * Enqueues on {@code stream} the copies of what each chunk asked for (as {@link #results}), the ids into host
     * slot {@code slot} (0 or 1); {@link #collect} hands them out once the stream has done them.
     */
    void copyBack(List<SequenceChunk> chunks, boolean argmaxDone, boolean drawn, int slot, CUstream_st stream) {
        int vocab = config.vocabSize();
        int logitRows = 0;
        long offset = 0;
        for (SequenceChunk chunk : chunks) {
            long bytes = (long) chunk.logitsRows() * vocab * Float.BYTES;
            if (!idOnly(chunk, drawn) && bytes > 0) {
                check(cudaMemcpyAsync(at(hostLogits.address() + offset), at(logits + offset), bytes, cudaMemcpyDeviceToHost,
                        stream), "cudaMemcpyAsync(logits)");
                rowsCopied += chunk.logitsRows();
            }
            offset += bytes;
            logitRows += chunk.logitsRows();
        }
        if ((argmaxDone || drawn) && logitRows > 0) {
            check(cudaMemcpyAsync(at(hostTokenIds[slot].address()), at(tokenIds), (long) logitRows * Integer.BYTES,
                    cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync(token ids)");
        }
    }

    /**
     * The result of a pass whose {@link #copyBack} into {@code slot} the device has done (the caller waited for it);
     * SAMPLE rows not drawn on the device are drawn here.
     */
    ForwardResult collect(List<SequenceChunk> chunks, boolean drawn, int slot) {
        int vocab = config.vocabSize();
        ForwardResult.Builder result = ForwardResult.builder(chunks.size());
        int row = 0;
        for (int s = 0; s < chunks.size(); s++) {
            SequenceChunk chunk = chunks.get(s);
            int n = chunk.logitsRows();
            if (idOnly(chunk, drawn)) {
                result.tokenId(s, hostTokenIds[slot].getAtIndex(ValueLayout.JAVA_INT, row));
            } else {
                float[] rows = new float[n * vocab];
                MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, (long) row * vocab * Float.BYTES, rows, 0, n * vocab);
                if (chunk.logits() == SequenceChunk.LogitsMode.SAMPLE) {
                    result.tokenId(s, hostSampler.sample(rows, 0, vocab, chunk.sampling()));
                } else {
                    result.logits(s, rows);
                }
            }
            row += n;
        }
        return result.build();
    }

    /**
     * The first {@code rows} logits rows, {@code (rows, vocab)}, copied to the host once {@code stream} is done (a
     * tensor-parallel rank's share of the vocabulary).
     */
    float[] copyLogits(int rows, CUstream_st stream) {
        int vocab = config.vocabSize();
        long bytes = (long) rows * vocab * Float.BYTES;
        if (bytes > 0) {
            check(cudaMemcpyAsync(at(hostLogits.address()), at(logits), bytes, cudaMemcpyDeviceToHost, stream),
                    "cudaMemcpyAsync(logits)");
        }
        Cuda.sync(stream);
        float[] out = new float[rows * vocab];
        MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, 0, out, 0, rows * vocab);
        rowsCopied += rows;
        return out;
    }

    /** Whether only a token id of this chunk comes back: an argmax, or a draw made on the device. */
    static boolean idOnly(SequenceChunk chunk, boolean drawn) {
        return chunk.logits() == SequenceChunk.LogitsMode.ARGMAX
                || (drawn && chunk.logits() == SequenceChunk.LogitsMode.SAMPLE);
    }

    private void free() {
        memory.free(normed);
        memory.free(logits);
        memory.free(tokenIds);
        memory.freeHost(hostLogits);
        memory.freeHost(hostTokenIds[0]);
        memory.freeHost(hostTokenIds[1]);
        hostLogits = MemorySegment.NULL;
        hostTokenIds[0] = MemorySegment.NULL;
        hostTokenIds[1] = MemorySegment.NULL;
        capacity = 0;
        normed = logits = tokenIds = 0;
    }

    /** Frees the buffers; idempotent. */
    @Override
    public void close() {
        free();
    }
}
