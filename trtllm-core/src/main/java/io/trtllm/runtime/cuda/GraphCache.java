package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;

import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decode passes captured as CUDA graphs, per padded batch size, with and without the draw kernel, per
 * split count of the decode attention ({@link AttentionPlan#splitCap()}: its grid is part of the graph). A
 * size runs eagerly once before it is captured (cuBLAS's first call of a shape may load kernels, which
 * a capture must not do). Graphs hold the addresses of the buffers they were recorded over:
 * {@link #drop} them before a buffer is replaced.
 */
final class GraphCache implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GraphCache.class);

    private final CUstream_st stream;
    /** Captured decode passes by {@link #key}, and how often each ran eagerly. */
    private final Map<Integer, CUgraphExec_st> graphs = new HashMap<>();
    private final Map<Integer, Integer> eagerRuns = new HashMap<>();

    GraphCache(CUstream_st stream) {
        this.stream = stream;
    }

    /**
     * The graph of the decode pass of {@code batch} rows (with its draws when {@code draw}, its token masks
     * when {@code masked}, its attention split {@code splits} ways at most) to launch, or null to run it
     * eagerly: the first time at a size; the second time it is captured from {@code record}, which enqueues
     * the pass.
     */
    @Nullable CUgraphExec_st replayable(int batch, boolean draw, boolean masked, int splits, Runnable record) {
        return replayable(Part.WHOLE, batch, draw, masked, splits, record);
    }

    /** What of a decode pass a graph holds. */
    enum Part {
        /** The pass: layers, LM head, token masks, argmax, draws. */
        WHOLE,
        /** The layers and the LM head: the pass of a batch whose token masks come after its launch. */
        FORWARD,
        /** The token masks, the argmax and the draws over the LM head's rows: that pass's second half. */
        CHOICE
    }

    /** As {@link #replayable(int, boolean, boolean, int, Runnable)}, for {@code part} of the decode pass. */
    @Nullable CUgraphExec_st replayable(Part part, int batch, boolean draw, boolean masked, int splits, Runnable record) {
        int key = key(batch, draw, masked, splits) * Part.values().length + part.ordinal();
        CUgraphExec_st graph = graphs.get(key);
        if (graph == null && eagerRuns.merge(key, 1, Integer::sum) > 1) {
            graph = capture(key, batch, draw, masked, record);
        }
        return graph;
    }

    /**
     * Decode graphs are kept per padded batch size, with and without the draw kernel, with and without guided
     * decoding's {@code mask_rows} (its inputs live at fixed addresses: {@link MaskBuffers}), per attention split
     * count (< 64).
     */
    private static int key(int batch, boolean draw, boolean masked, int splits) {
        return (4 * batch + (masked ? 2 : 0) + (draw ? 1 : 0)) * 64 + splits;
    }

    /** Records the decode pass of {@code batch} rows (its token masks, its draws) as a graph. */
    private CUgraphExec_st capture(int key, int batch, boolean draw, boolean masked, Runnable record) {
        CUgraph_st graph = new CUgraph_st();
        CUgraphExec_st exec = new CUgraphExec_st();
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        try {
            record.run();
        } finally {
            check(cudaStreamEndCapture(stream, graph), "cudaStreamEndCapture");
        }
        try {
            check(cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate");
        } finally {
            cudaGraphDestroy(graph);
        }
        graphs.put(key, exec);
        LOG.debug("Captured the decode pass of {} sequences{}{} as a CUDA graph (key {})", batch,
                masked ? " with token masks" : "", draw ? " with its draws" : "", key);
        return exec;
    }

    /** Destroys every graph; sizes run eagerly once again before they are captured anew. */
    void drop() {
        for (CUgraphExec_st g : graphs.values()) {
            cudaGraphExecDestroy(g);
        }
        graphs.clear();
        eagerRuns.clear();
    }

    @Override
    public void close() {
        drop();
    }
}
