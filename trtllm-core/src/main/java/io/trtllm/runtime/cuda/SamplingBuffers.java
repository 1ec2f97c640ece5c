package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.at;
import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.trtllm.runtime.SequenceChunk;
import io.trtllm.sampling.TokenSampling;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * The parameters of the draws the kernel {@code sample_rows} makes on the device: per logits row, the
 * {@code SampleParams} of kernels.cu ({@value #PARAMS_BYTES} bytes), on the device and pinned on the
 * host, as many rows as the logits hold. Allocated on the first draw; owns its memory.
 */
final class SamplingBuffers implements AutoCloseable {
    /** {@code sizeof(SampleParams)} in kernels.cu. */
    static final int PARAMS_BYTES = 32;

    private final DeviceMemory memory;
    /** Run before buffers are replaced: whatever holds their addresses (captured graphs) lets go, the stream drains. */
    private final Runnable beforeReplace;
    private int capacity;
    /** {@code SampleParams[rows]}. */
    long params;
    private MemorySegment hostParams = MemorySegment.NULL;

    SamplingBuffers(DeviceMemory memory, Runnable beforeReplace) {
        this.memory = memory;
        this.beforeReplace = beforeReplace;
    }

    /**
     * Writes each logits row's {@code SampleParams} to the pinned buffer and copies them to the device
     * on {@code stream}: a SAMPLE row's parameters; temperature 0 (not drawn) for every other row up to
     * {@code rows} (graph padding included). {@code logitsCapacity}: the rows the logits hold.
     */
    void write(List<SequenceChunk> chunks, int rows, int logitsCapacity, CUstream_st stream) {
        ensure(logitsCapacity);
        MemorySegment m = hostParams;
        int r = 0;
        for (SequenceChunk chunk : chunks) {
            TokenSampling s = chunk.sampling();
            for (int i = 0; i < chunk.logitsRows(); i++, r++) {
                long at = (long) r * PARAMS_BYTES;
                if (s == null) {
                    m.set(ValueLayout.JAVA_FLOAT, at, 0f);
                    continue;
                }
                m.set(ValueLayout.JAVA_FLOAT, at, s.temperature());
                m.set(ValueLayout.JAVA_INT, at + 4, s.topK());
                m.set(ValueLayout.JAVA_FLOAT, at + 8, s.topP());
                m.set(ValueLayout.JAVA_INT, at + 12, s.step());
                m.set(ValueLayout.JAVA_DOUBLE, at + 16, s.logMinP());
                m.set(ValueLayout.JAVA_LONG, at + 24, s.key());
            }
        }
        for (; r < rows; r++) {
            m.set(ValueLayout.JAVA_FLOAT, (long) r * PARAMS_BYTES, 0f);
        }
        check(cudaMemcpyAsync(at(params), at(m.address()), (long) rows * PARAMS_BYTES, cudaMemcpyHostToDevice,
                stream), "cudaMemcpyAsync(sampling parameters)");
    }

    /** Grows the parameters to {@code rows} rows. */
    private void ensure(int rows) {
        if (capacity >= rows) {
            return;
        }
        beforeReplace.run(); // graphs that draw hold the address of the buffer replaced below
        free();
        params = memory.alloc((long) rows * PARAMS_BYTES, "sampling parameters");
        hostParams = memory.allocHost((long) rows * PARAMS_BYTES);
        capacity = rows;
    }

    private void free() {
        memory.free(params);
        memory.freeHost(hostParams);
        params = 0;
        hostParams = MemorySegment.NULL;
        capacity = 0;
    }

    /** Frees the buffers; idempotent. */
    @Override
    public void close() {
        free();
    }
}
