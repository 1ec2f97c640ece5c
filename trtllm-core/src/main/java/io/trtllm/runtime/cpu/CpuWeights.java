package io.trtllm.runtime.cpu;

import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.TensorSource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model's weights as {@link CpuModelRunner} multiplies them: linear weights in the kernels' panel
 * layout ({@link PackedMatrix}), an engine's used in place in the mapped file, a plain checkpoint's
 * repacked at load into off-heap panels of their dtype; norm scales and biases copied to float arrays;
 * the embedding table read in place (a tied, unquantized head of an engine serves the lookups from its
 * panels). Where the kernel offers transparent huge pages, an engine's matmul weights are copied onto
 * them (see {@link #hugePagesFor}); 16-bit matmul weights are widened to float32 at load where memory
 * allows (see {@link #widen}). Owns the memory of what it packed or copied; the checkpoint must
 * stay open while the weights are used.
 */
final class CpuWeights implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CpuWeights.class);
    private static final String EMBEDDING = "model.embed_tokens";
    private static final String LM_HEAD = "lm_head";
    /** Property: {@code false} keeps the matmul weights where they were loaded (mapped or packed). */
    static final String HUGE_PAGES_PROPERTY = io.trtllm.api.config.RuntimeConfig.CPU_HUGE_PAGES;
    /** The largest share of physical memory the copy of the weights onto huge pages may take. */
    private static final int HUGE_PAGES_MEMORY_SHARE = 8;
    /** Property: {@code false} keeps 16-bit matmul weights 16-bit (converted in the kernels' inner loop). */
    static final String WIDEN_PROPERTY = "trtllm.cpu.widen16";
    /** The largest share of physical memory the float32 copy of 16-bit matmul weights may take. */
    private static final int WIDEN_MEMORY_SHARE = 8;

    /**
     * One decoder layer's weights: matrices packed for the kernels (q, k and v as one), norm scales
     * and biases copied to float arrays.
     *
     * @param wqkv  {@code [Wq; Wk; Wv]}, {@code (qDim + 2·kvDim, dim)}
     * @param wo    {@code (dim, qDim)}
     * @param gate  {@code (inter, dim)}, as {@code up}
     * @param down  {@code (dim, inter)}
     * @param qNorm Qwen3's per-head norm of q ({@code headDim}), as {@code kNorm} of k; null for others
     */
    record Layer(
            float[] attnNorm,
            PackedMatrix wqkv, PackedMatrix wo,
            float @Nullable [] bq, float @Nullable [] bk, float @Nullable [] bv, float @Nullable [] bo,
            float @Nullable [] qNorm, float @Nullable [] kNorm,
            float[] ffnNorm,
            PackedMatrix gate, PackedMatrix up, PackedMatrix down) {
    }

    private final ModelConfig config;
    private final Kernels kernels;
    /** Owns the weights packed at load (none for an engine) and their copy on huge pages; closed with the weights. */
    private final Arena arena = Arena.ofShared();
    /** Bytes of weights packed at load (0 when every matrix was mapped in place). */
    private long packedBytes;
    /** Bytes of memory on huge pages holding the matmul weights, copied at load (0: used where loaded). */
    private final long hugePageBytes;
    /** Bytes of float32 panels widened at load from 16-bit ones (0: none). */
    private final long widenedBytes;
    private final RowSource embedding;
    private final PackedMatrix lmHead;
    private final float[] finalNorm;
    private final Layer[] layers;

    /**
     * Loads the weights of {@code config}'s model for {@code kernels}.
     *
     * @throws ModelFormatException when a tensor is missing or its panels were built for another SIMD width
     */
    CpuWeights(ModelConfig config, TensorSource weights, Kernels kernels, boolean allowHugePages) {
        this.config = config;
        this.kernels = kernels;
        boolean ok = false;
        try {
            int dim = config.hiddenSize();
            int vocab = config.vocabSize();
            PackedMatrix head;
            if (weights.contains(EMBEDDING + PanelLayout.PANELS)) {
                // An engine's tied, unquantized head: one copy of the table, in panels, serves both.
                PackedMatrix table = linear(weights, EMBEDDING, vocab, dim);
                this.embedding = table;
                head = config.tieWordEmbeddings() ? table : linear(weights, LM_HEAD, vocab, dim);
            } else {
                WeightMatrix table = WeightMatrix.of(weights.tensor(EMBEDDING + PanelLayout.WEIGHT), vocab, dim);
                this.embedding = table;
                head = config.tieWordEmbeddings() && !hasModule(weights, LM_HEAD) ? check(pack(table))
                        : linear(weights, LM_HEAD, vocab, dim);
            }
            this.finalNorm = WeightMatrix.vector(weights.tensor("model.norm.weight"), dim);
            this.layers = new Layer[config.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                layers[l] = loadLayer(weights, l);
            }
            boolean widen = widen(head, layers);
            long moved = movedBytes(head, layers, widen);
            MemorySegment hugePages = allowHugePages ? hugePagesFor(moved, widen) : null;
            this.hugePageBytes = hugePages == null ? 0 : hugePages.byteSize();
            this.widenedBytes = widen ? moved : 0;
            MemorySegment target = hugePages != null ? hugePages : widen ? arena.allocate(moved, 64) : null;
            if (target != null) {
                // 16-bit weights are widened onto their new memory when `widen`; the others copied as they are.
                var memory = SegmentAllocator.slicingAllocator(target);
                head = move(head, memory, widen);
                for (int l = 0; l < layers.length; l++) {
                    Layer w = layers[l];
                    layers[l] = new Layer(w.attnNorm(), move(w.wqkv(), memory, widen), move(w.wo(), memory, widen),
                            w.bq(), w.bk(), w.bv(), w.bo(), w.qNorm(), w.kNorm(), w.ffnNorm(),
                            move(w.gate(), memory, widen), move(w.up(), memory, widen), move(w.down(), memory, widen));
                }
            }
            this.lmHead = head;
            ok = true;
        } finally {
            if (!ok) {
                arena.close();
            }
        }
    }

    /** The token embedding table, {@code (vocab, dim)}. */
    RowSource embedding() {
        return embedding;
    }

    /** The LM head, {@code (vocab, dim)}. */
    PackedMatrix lmHead() {
        return lmHead;
    }

    /** The final norm's scales, {@code dim}. */
    float[] finalNorm() {
        return finalNorm;
    }

    Layer layer(int l) {
        return layers[l];
    }

    int layers() {
        return layers.length;
    }

    /** Bytes packed at load; 0 when every matrix is an engine's, mapped in place. */
    long packedBytes() {
        return packedBytes;
    }

    /** Bytes of the copy of the matmul weights on huge pages; 0 when they are used where loaded. */
    long hugePageBytes() {
        return hugePageBytes;
    }

    /** Bytes of float32 panels widened at load from 16-bit ones; 0 when none were. */
    long widenedBytes() {
        return widenedBytes;
    }

    /** Where the matmul weights live, in words (for the runner's log line). */
    String placement() {
        return (packedBytes == 0 ? "mapped in place" : "packed at load, " + (packedBytes >> 20) + " MiB")
                + (hugePageBytes == 0 ? "" : ", matmul weights copied onto huge pages (" + (hugePageBytes >> 20) + " MiB)")
                + (widenedBytes == 0 ? "" : ", 16-bit matmul weights widened to float32 (" + (widenedBytes >> 20) + " MiB)");
    }

    /** {@code m} widened to float32 (when {@code widen} and it is 16-bit) or copied as it is, into {@code memory}. */
    private static PackedMatrix move(PackedMatrix m, SegmentAllocator memory, boolean widen) {
        return widen && m.halfWidth() ? m.widenInto(memory) : m.copyInto(memory);
    }

    /** Bytes {@link #move} takes for the head and every layer's matrices. */
    private static long movedBytes(PackedMatrix head, Layer[] layers, boolean widen) {
        long bytes = 0;
        for (PackedMatrix m : matrices(head, layers)) {
            // copyInto: the matrix, and each panel's slices aligned to 64 bytes
            bytes += widen && m.halfWidth() ? m.widenedBytes() : m.byteSize() + 2L * 64 * m.panels();
        }
        return bytes;
    }

    private static List<PackedMatrix> matrices(PackedMatrix head, Layer[] layers) {
        List<PackedMatrix> all = new ArrayList<>(List.of(head));
        for (Layer w : layers) {
            all.addAll(List.of(w.wqkv(), w.wo(), w.gate(), w.up(), w.down()));
        }
        return all;
    }

    /**
     * Physical memory in bytes, or 0 when this runtime cannot tell: a jlink'd runtime without the
     * {@code jdk.management} module has no {@code com.sun.management} (weights then stay where they were loaded).
     */
    private static long physicalMemory() {
        try {
            return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                    .getTotalMemorySize();
        } catch (LinkageError | ClassCastException e) {
            LOG.debug("Physical memory unknown ({}): weights are neither widened nor moved to huge pages", e.toString());
            return 0;
        }
    }

    /**
     * Decides whether 16-bit (BF16, F16) matmul weights are widened to float32 panels at load: unless
     * {@value #WIDEN_PROPERTY} is {@code false}, when any matrix is 16-bit and the float32 copy of them all
     * takes at most an eighth of physical memory. Why: the Vector API offers no half-to-float conversion
     * that C2 compiles to one instruction (the short-to-int {@code convertShape} of a half-width vector ran a
     * Java fallback in a profile), so a batched pass over 16-bit panels spent most of its time converting
     * (prefill ≈ 9x slower than float32); widened once, they run the float32 kernels at float32 speed with
     * the same bits (the conversion is exact). A model too large for that keeps its 16-bit panels.
     */
    private static boolean widen(PackedMatrix head, Layer[] layers) {
        if ("false".equals(System.getProperty(WIDEN_PROPERTY))
                || matrices(head, layers).stream().noneMatch(PackedMatrix::halfWidth)) {
            return false;
        }
        long bytes = movedBytes(head, layers, true);
        if (bytes > physicalMemory() / WIDEN_MEMORY_SHARE) {
            LOG.info("16-bit weights stay 16-bit: their float32 copy ({} MiB) would take more than 1/{} of physical memory "
                    + "(batched passes then run slower than with float32 weights)", bytes >> 20, WIDEN_MEMORY_SHARE);
            return false;
        }
        return true;
    }

    /**
     * Decides whether the matmul weights move onto transparent huge pages (see {@link HugePages}):
     * where the kernel offers them (and the runner allows it: {@code RuntimeConfig.cpuHugePages}, the system
     * property {@value #HUGE_PAGES_PROPERTY} by default), when they are an engine's panels mapped in place
     * or 16-bit ones being widened (weights packed at load otherwise took memory of their own already), and
     * when the copy takes at most an eighth of physical memory (a large model stays mapped in place, where
     * the page cache shares it). Returns memory on huge pages with room for {@code bytes}, or null.
     */
    private @Nullable MemorySegment hugePagesFor(long bytes, boolean widen) {
        if ((packedBytes > 0 && !widen) || !HugePages.available()) {
            return null;
        }
        if (bytes > physicalMemory() / HUGE_PAGES_MEMORY_SHARE) {
            LOG.debug("Weights ({} MiB) stay in place: more than 1/{} of physical memory", bytes >> 20, HUGE_PAGES_MEMORY_SHARE);
            return null;
        }
        return HugePages.allocate(arena, bytes);
    }

    private Layer loadLayer(TensorSource w, int l) {
        ModelConfig c = config;
        String p = "model.layers." + l + ".";
        int dim = c.hiddenSize();
        float[] bq = null, bk = null, bv = null, bo = null, qn = null, kn = null;
        if (c.attentionBias()) {
            bq = WeightMatrix.vector(w.tensor(p + "self_attn.q_proj.bias"), c.qDim());
            bk = WeightMatrix.vector(w.tensor(p + "self_attn.k_proj.bias"), c.kvDim());
            bv = WeightMatrix.vector(w.tensor(p + "self_attn.v_proj.bias"), c.kvDim());
        }
        if (c.outputBias()) {
            bo = WeightMatrix.vector(w.tensor(p + "self_attn.o_proj.bias"), dim);
        }
        if (c.qkNorm()) {
            qn = WeightMatrix.vector(w.tensor(p + "self_attn.q_norm.weight"), c.headDim());
            kn = WeightMatrix.vector(w.tensor(p + "self_attn.k_norm.weight"), c.headDim());
        }
        String attn = p + "self_attn.";
        String mlp = p + "mlp.";
        return new Layer(
                WeightMatrix.vector(w.tensor(p + "input_layernorm.weight"), dim),
                PackedMatrix.join(linear(w, attn + "q_proj", c.qDim(), dim), linear(w, attn + "k_proj", c.kvDim(), dim),
                        linear(w, attn + "v_proj", c.kvDim(), dim)),
                linear(w, attn + "o_proj", dim, c.qDim()),
                bq, bk, bv, bo, qn, kn,
                WeightMatrix.vector(w.tensor(p + "post_attention_layernorm.weight"), dim),
                linear(w, mlp + "gate_proj", c.intermediateSize(), dim),
                linear(w, mlp + "up_proj", c.intermediateSize(), dim),
                linear(w, mlp + "down_proj", dim, c.intermediateSize()));
    }

    /** Whether the checkpoint holds the linear weight of {@code module} in any layout. */
    private static boolean hasModule(TensorSource w, String module) {
        return w.contains(module + PanelLayout.WEIGHT) || w.contains(module + PanelLayout.PANELS)
                || w.contains(module + PanelLayout.QWEIGHT);
    }

    /**
     * The linear weight {@code (rows, cols)} of {@code module}: an engine's panels or quantized panels
     * in place, or a checkpoint's row-major {@code module.weight} packed now.
     */
    private PackedMatrix linear(TensorSource w, String module, int rows, int cols) {
        if (w.contains(module + PanelLayout.WEIGHT)) {
            return check(pack(WeightMatrix.of(w.tensor(module + PanelLayout.WEIGHT), rows, cols)));
        }
        if (w.contains(module + PanelLayout.PANELS)) {
            return check(PackedMatrix.mapped(module, rows, cols, w.tensor(module + PanelLayout.PANELS), null, null));
        }
        if (w.contains(module + PanelLayout.QWEIGHT)) {
            String scales = module + PanelLayout.SCALES;
            if (!w.contains(scales)) {
                throw new ModelFormatException("tensor '" + scales + "' not found in " + w.location() + " (the scales of '"
                        + module + PanelLayout.QWEIGHT + "')");
            }
            return check(PackedMatrix.mapped(module, rows, cols, null, w.tensor(module + PanelLayout.QWEIGHT),
                    w.tensor(scales)));
        }
        throw new ModelFormatException("tensor '" + module + PanelLayout.WEIGHT + "' not found in checkpoint "
                + w.location() + " (nor an engine's '" + module + PanelLayout.PANELS + "' or '" + module
                + PanelLayout.QWEIGHT + "')");
    }

    /** Refuses panels these kernels cannot multiply (an engine built for another SIMD width). */
    private PackedMatrix check(PackedMatrix m) {
        if (!kernels.supportsPanelRows(m.panelRows())) {
            throw new ModelFormatException("'" + m.name() + "' is stored in panels of " + m.panelRows()
                    + " rows, built for another SIMD width; this JVM's kernels (" + kernels.description()
                    + ") need panels of " + kernels.panelRows() + ": rebuild the engine on this machine");
        }
        return m;
    }

    private PackedMatrix pack(WeightMatrix... parts) {
        PackedMatrix m = PackedMatrix.pack(arena, kernels.panelRows(), parts);
        packedBytes += m.byteSize();
        return m;
    }

    /** Frees what was packed or copied at load (an engine's mapped panels belong to the checkpoint). */
    @Override
    public void close() {
        arena.close();
    }
}
