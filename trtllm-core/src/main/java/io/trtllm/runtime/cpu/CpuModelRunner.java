package io.trtllm.runtime.cpu;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.RopeScaling;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.TokenSampler;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pure-Java forward pass of a Llama-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3) over a
 * paged KV cache. Every chunk of a {@link Batch} is computed in one pass: the matmuls run over all
 * rows of the batch at once, so a weight byte is read once per pass, not once per sequence.
 *
 * <p>Linear weights run in the kernels' panel layout ({@link PackedMatrix}, {@link PanelLayout}):
 * an engine built for the CPU stores them so (F32, BF16, F16, or quantized INT8 / INT4), and they
 * are used in place in the mapped file, with no copy; a plain checkpoint's row-major matrices are
 * repacked at load into off-heap panels of their dtype. Weights are converted to F32 inside the
 * kernels. Embeddings are read in place from the mapped files (a tied, unquantized head of an
 * engine serves the lookups from its panels); activations are F32 on the heap, the paged KV cache F32 on the
 * heap or 16-bit off it, laid out as {@link Kernels#keyIndex} and {@link Kernels#valueIndex} say.
 *
 * <pre>
 * x = embed[tokens]                                   (T, dim)
 * for each layer:
 *   h = rmsnorm(x) ; q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ (+bias) ; [q,k = rmsnorm per head]   (Qwen3)
 *   q,k = rope(q,k, position) ; cache[k,v] at the sequence's slots
 *   a = softmax(q·Kᵀ/√d, causal, window) · V ; x += a·Woᵀ
 *   h = rmsnorm(x) ; x += (silu(h·Wgᵀ) * h·Wuᵀ)·Wdᵀ
 * logits = rmsnorm(x[rows]) · Wlmᵀ
 * </pre>
 */
public final class CpuModelRunner implements ModelRunner {
    private static final Logger LOG = LoggerFactory.getLogger(CpuModelRunner.class);
    /** Floats of slack after scratch arrays that masked vector accesses reach into (one 512-bit vector and more). */
    private static final int PAD = 64;
    private static final String EMBEDDING = "model.embed_tokens";
    private static final String LM_HEAD = "lm_head";

    /**
     * One decoder layer's weights: matrices packed for the kernels (q, k and v as one), norm scales
     * and biases copied to float arrays.
     */
    private record Layer(
            float[] attnNorm,
            PackedMatrix wqkv, PackedMatrix wo,
            float @Nullable [] bq, float @Nullable [] bk, float @Nullable [] bv, float @Nullable [] bo,
            float @Nullable [] qNorm, float @Nullable [] kNorm,
            float[] ffnNorm,
            PackedMatrix gate, PackedMatrix up, PackedMatrix down) {
    }

    private final ModelConfig config;
    private final KvCacheSpec kvSpec;
    private final Kernels kernels;
    private final ParallelRunner pool;
    private final RowSource embedding;
    private final PackedMatrix lmHead;
    /** Owns the weights packed at load (none for an engine); closed with the runner. */
    private final Arena arena = Arena.ofShared();
    /** Draws of {@link SequenceChunk.LogitsMode#SAMPLE} chunks (one pass at a time, as the runner). */
    private final TokenSampler sampler = new TokenSampler();
    /** Bytes of weights packed at load (0 when every matrix was mapped in place). */
    private long packedBytes;
    /** Bytes of memory on huge pages holding the matmul weights, copied at load (0: used where loaded). */
    private final long hugePageBytes;
    private final float[] finalNorm;
    private final Layer[] layers;
    private final float[] invFreq;
    /**
     * Per layer: cached keys and values as {@link Kernels#keyIndex} and {@link Kernels#valueIndex} lay
     * them out (keys transposed inside each block): floats, or (16-bit caches) {@code kvType} bits.
     */
    private final float[][] keyCache;
    private final float[][] valueCache;
    private final MemorySegment[] keyCache16;
    private final MemorySegment[] valueCache16;
    private final DType kvType;

    // Activations, grown on demand to the largest batch seen (forward allocates nothing otherwise).
    private int capacity;
    private float[] x = new float[0];
    private float[] xb = new float[0];
    private float[] qkv = new float[0];
    private float[] att = new float[0];
    private float[] gateUp = new float[0];
    private float[] hidden = new float[0];
    private int[] rowPosition = new int[0];
    private int[] rowChunk = new int[0];
    private int[] rowToken = new int[0];
    /** Attention tasks of a pass: first row and number of rows. */
    private int[] taskRow = new int[0];
    private int[] taskRows = new int[0];
    /** Per chunk of the pass: whether it has a single row (a decode step). */
    private boolean[] singleRow = new boolean[0];
    /** Per row: cos then sin of its position times each rotary frequency ({@code headDim} floats). */
    private float[] rotary = new float[0];
    /** The logits rows of a pass, and the normalized hidden rows they are computed from. */
    private float[] logitsRows = new float[0];
    private float[] logitsInput = new float[0];
    /** Per worker and logits row: the best value and index in the worker's part of the vocabulary. */
    private float[][] partialMax;
    private int[][] partialArg;
    /** Per worker: attention scores of the heads of the row being attended ({@link Kernels#scoresLength}). */
    private float[][] scores;
    private int scoresCapacity;
    /** Per worker, 16-bit caches only: one block's widened keys or values (odd block sizes or head dimensions). */
    private final float[][] kvTiles;

    /**
     * Builds a runner over an open checkpoint. The checkpoint must stay open while the runner is
     * used (weights are read in place); the caller owns and closes it.
     *
     * @param threads worker threads for the parallel loops (the calling thread counts as one)
     */
    public CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, int threads) {
        this(config, weights, kvSpec, DType.F32, threads);
    }

    /**
     * A runner whose KV cache holds {@code kvType} elements: {@link DType#F32}, or {@link DType#BF16}
     * / {@link DType#F16} for half the memory and half the bytes attention reads (keys and values
     * rounded to nearest even when stored).
     */
    public CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, DType kvType, int threads) {
        this(config, weights, kvSpec, kvType, threads, CpuKernels.best());
    }

    CpuModelRunner(ModelConfig config, Checkpoint weights, KvCacheSpec kvSpec, DType kvType, int threads, Kernels kernels) {
        if (!kvType.isFloatingPoint()) {
            throw new IllegalArgumentException("KV cache dtype must be F32, F16 or BF16, got " + kvType);
        }
        this.config = config;
        this.kvSpec = kvSpec;
        this.kvType = kvType;
        this.kernels = kernels;
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
        MemorySegment hugePages = hugePagesFor(head, layers);
        this.hugePageBytes = hugePages == null ? 0 : hugePages.byteSize();
        if (hugePages != null) {
            var memory = java.lang.foreign.SegmentAllocator.slicingAllocator(hugePages);
            head = head.copyInto(memory);
            for (int l = 0; l < layers.length; l++) {
                Layer w = layers[l];
                layers[l] = new Layer(w.attnNorm(), w.wqkv().copyInto(memory), w.wo().copyInto(memory),
                        w.bq(), w.bk(), w.bv(), w.bo(), w.qNorm(), w.kNorm(), w.ffnNorm(),
                        w.gate().copyInto(memory), w.up().copyInto(memory), w.down().copyInto(memory));
            }
        }
        this.lmHead = head;
        this.invFreq = RopeScaling.inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());

        long slots = kvSpec.capacityTokens() * config.kvDim() + Kernels.CACHE_PAD;
        if (slots > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + kvSpec.capacityTokens() + " tokens × " + config.kvDim()
                    + " floats per layer exceeds the CPU backend's 2^31-element arrays; lower max_tokens");
        }
        boolean f32 = kvType == DType.F32;
        this.keyCache = new float[f32 ? layers.length : 0][(int) slots];
        this.valueCache = new float[f32 ? layers.length : 0][(int) slots];
        // 16-bit caches live off the heap: the kernels load their element pairs as int vectors.
        this.keyCache16 = new MemorySegment[f32 ? 0 : layers.length];
        this.valueCache16 = new MemorySegment[f32 ? 0 : layers.length];
        for (int l = 0; l < keyCache16.length; l++) {
            keyCache16[l] = arena.allocate(slots * 2, 64);
            valueCache16[l] = arena.allocate(slots * 2, 64);
        }
        this.pool = new ParallelRunner(threads, "trtllm-cpu");
        this.scores = new float[threads][0];
        this.partialMax = new float[threads][0];
        this.partialArg = new int[threads][0];
        this.kvTiles = new float[f32 ? 0 : threads][Kernels.tileLength(config.kvDim(), kvSpec.blockSize())];
        LOG.debug("CPU runner: {} layers, {} threads, kernels {}, weights {} ({}), KV cache {} blocks × {} tokens, {} ({} MiB)",
                layers.length, threads, kernels.description(), lmHead.format(),
                (packedBytes == 0 ? "mapped in place" : "packed at load, " + (packedBytes >> 20) + " MiB")
                        + (hugePageBytes == 0 ? "" : ", matmul weights copied onto huge pages (" + (hugePageBytes >> 20) + " MiB)"),
                kvSpec.numBlocks(), kvSpec.blockSize(), kvType, 2L * layers.length * slots * kvType.byteSize() / (1 << 20));
    }

    /** Property: {@code false} keeps the matmul weights where they were loaded (mapped or packed). */
    static final String HUGE_PAGES_PROPERTY = "trtllm.cpu.hugePages";
    /** The largest share of physical memory the copy of the weights onto huge pages may take. */
    private static final int HUGE_PAGES_MEMORY_SHARE = 8;

    /**
     * Decides whether the matmul weights move onto transparent huge pages (see {@link HugePages}):
     * where the kernel offers them, unless {@value #HUGE_PAGES_PROPERTY} is {@code false}, when they
     * are an engine's panels mapped in place (weights packed at load already took memory of their
     * own), and when the copy takes at most an eighth of physical memory (a large model stays mapped
     * in place, where the page cache shares it). Returns memory on huge pages with room for them all,
     * or null.
     */
    private @Nullable MemorySegment hugePagesFor(PackedMatrix head, Layer[] layers) {
        if ("false".equals(System.getProperty(HUGE_PAGES_PROPERTY)) || packedBytes > 0 || !HugePages.available()) {
            return null;
        }
        long bytes = copyBytes(head);
        for (Layer w : layers) {
            bytes += copyBytes(w.wqkv()) + copyBytes(w.wo()) + copyBytes(w.gate()) + copyBytes(w.up()) + copyBytes(w.down());
        }
        long physical = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getTotalMemorySize();
        if (bytes > physical / HUGE_PAGES_MEMORY_SHARE) {
            LOG.debug("Weights ({} MiB) stay in place: more than 1/{} of physical memory", bytes >> 20, HUGE_PAGES_MEMORY_SHARE);
            return null;
        }
        return HugePages.allocate(arena, bytes);
    }

    /** Bytes {@link PackedMatrix#copyInto} takes: the matrix, and each panel's slices aligned to 64 bytes. */
    private static long copyBytes(PackedMatrix m) {
        return m.byteSize() + 2L * 64 * m.panels();
    }

    private Layer loadLayer(Checkpoint w, int l) {
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
    private static boolean hasModule(Checkpoint w, String module) {
        return w.contains(module + PanelLayout.WEIGHT) || w.contains(module + PanelLayout.PANELS)
                || w.contains(module + PanelLayout.QWEIGHT);
    }

    /**
     * The linear weight {@code (rows, cols)} of {@code module}: an engine's panels or quantized panels
     * in place, or a checkpoint's row-major {@code module.weight} packed now.
     */
    private PackedMatrix linear(Checkpoint w, String module, int rows, int cols) {
        if (w.contains(module + PanelLayout.WEIGHT)) {
            return check(pack(WeightMatrix.of(w.tensor(module + PanelLayout.WEIGHT), rows, cols)));
        }
        if (w.contains(module + PanelLayout.PANELS)) {
            return check(PackedMatrix.mapped(module, rows, cols, w.tensor(module + PanelLayout.PANELS), null, null));
        }
        if (w.contains(module + PanelLayout.QWEIGHT)) {
            String scales = module + PanelLayout.SCALES;
            if (!w.contains(scales)) {
                throw new ModelFormatException("tensor '" + scales + "' not found in " + w.directory() + " (the scales of '"
                        + module + PanelLayout.QWEIGHT + "')");
            }
            return check(PackedMatrix.mapped(module, rows, cols, null, w.tensor(module + PanelLayout.QWEIGHT),
                    w.tensor(scales)));
        }
        throw new ModelFormatException("tensor '" + module + PanelLayout.WEIGHT + "' not found in checkpoint "
                + w.directory() + " (nor an engine's '" + module + PanelLayout.PANELS + "' or '" + module
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

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public KvCacheSpec kvCache() {
        return kvSpec;
    }

    @Override
    public String backend() {
        return "cpu";
    }

    @Override
    public String description() {
        return kernelDescription() + (hugePageBytes == 0 ? "" : ", huge pages") + (kvType == DType.F32 ? "" : ", KV cache " + kvType);
    }

    /** Which kernels this runner uses (for logs). */
    public String kernelDescription() {
        return kernels.description() + ", " + pool.threads() + " threads";
    }

    @Override
    public float[][] forward(Batch batch) {
        int tokens = batch.tokenCount();
        batch.checkAgainst(config, kvSpec);
        ensureCapacity(tokens, batch);
        int dim = config.hiddenSize();

        int row = 0;
        int[][] blockTables = new int[batch.chunks().size()][];
        if (singleRow.length < blockTables.length) {
            singleRow = new boolean[blockTables.length];
        }
        for (int c = 0; c < batch.chunks().size(); c++) {
            SequenceChunk chunk = batch.chunks().get(c);
            blockTables[c] = chunk.blockTable();
            singleRow[c] = chunk.length() == 1;
            for (int i = 0; i < chunk.length(); i++, row++) {
                rowPosition[row] = chunk.startPosition() + i;
                rowChunk[row] = c;
                rowToken[row] = chunk.tokenId(i);
            }
        }
        forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                embedding.row(rowToken[t], x, t * dim);
                rotaryAngles(t);
            }
        });

        for (int l = 0; l < layers.length; l++) {
            attentionBlock(l, blockTables, tokens);
            mlpBlock(layers[l], tokens);
        }
        return logits(batch);
    }

    private void ensureCapacity(int tokens, Batch batch) {
        int maxContext = 0;
        for (SequenceChunk c : batch.chunks()) {
            maxContext = Math.max(maxContext, c.endPosition());
        }
        if (scoresCapacity < maxContext) {
            scoresCapacity = maxContext;
            for (int i = 0; i < scores.length; i++) {
                scores[i] = new float[Kernels.scoresLength(Kernels.ROW_TILE * config.numHeads(), maxContext, kvSpec.blockSize())];
            }
        }
        if (tokens <= capacity) {
            return;
        }
        ModelConfig c = config;
        capacity = tokens;
        // multiplyExact: a batch too large for Java arrays fails here with a clear exception.
        x = new float[Math.multiplyExact(tokens, c.hiddenSize())];
        xb = new float[Math.multiplyExact(tokens, Math.max(c.hiddenSize(), c.qDim())) + PAD];
        qkv = new float[Math.multiplyExact(tokens, c.qDim() + 2 * c.kvDim()) + PAD];
        att = new float[Math.multiplyExact(tokens, c.qDim()) + PAD];
        gateUp = new float[Math.multiplyExact(tokens, 2 * c.intermediateSize()) + PAD];
        hidden = new float[Math.multiplyExact(tokens, c.intermediateSize()) + PAD];
        rowPosition = new int[tokens];
        rowChunk = new int[tokens];
        rowToken = new int[tokens];
        taskRow = new int[tokens];
        taskRows = new int[tokens];
        rotary = new float[Math.multiplyExact(tokens, c.headDim())];
    }

    private void attentionBlock(int l, int[][] blockTables, int tokens) {
        Layer w = layers[l];
        ModelConfig c = config;
        int dim = c.hiddenSize();
        int qDim = c.qDim();
        int kvDim = c.kvDim();
        int qkvDim = qDim + 2 * kvDim;
        int headDim = c.headDim();
        int bs = kvSpec.blockSize();

        rmsNormRows(x, xb, tokens, dim, dim, w.attnNorm(), (float) c.rmsNormEps());

        // q, k and v side by side in one row of qkvDim: one matmul of the packed [Wq; Wk; Wv].
        matmul(xb, tokens, w.wqkv(), qkv, qkvDim, 0);

        // Each row's q and k are rotated and its k and v stored in the cache before any row attends.
        // A row alone in its chunk (a decode) is only attended by itself: its task does that work (in
        // parallel, the stored lines still in cache when it reads them); other rows are done here first.
        int heads = c.numHeads();
        int kvHeads = c.numKvHeads();
        int splits = Math.min(kvHeads, Math.max(1, (4 * pool.threads() + tokens - 1) / tokens));
        boolean inTask = splits == 1;
        forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                if (!inTask || !singleRow[rowChunk[t]]) {
                    prepareRow(l, t, blockTables); // rows write their own q/k/v and cache slots only
                }
            }
        });
        // Attention of every row over its sequence's cached positions. Tasks are rows (each cached block
        // then read once, front to back, for all heads); small batches split a row's KV heads so that
        // every thread has work. Rows of different lengths cost differently, so threads take tasks as
        // they finish.
        int group = heads / kvHeads;
        boolean f32 = kvType == DType.F32;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        Integer window = c.slidingWindow();
        float[] kc = f32 ? keyCache[l] : null;
        float[] vc = f32 ? valueCache[l] : null;
        MemorySegment kc16 = f32 ? null : keyCache16[l];
        MemorySegment vc16 = f32 ? null : valueCache16[l];
        // Tasks: a row (or, split, part of its heads), or ROW_TILE consecutive rows of a prompt chunk, which
        // attend together (each cached key and value row then serves them all; float32 caches).
        int tasks = 0;
        for (int t = 0; t < tokens; ) {
            int n = 1;
            if (f32 && splits == 1 && !singleRow[rowChunk[t]] && t + Kernels.ROW_TILE <= tokens
                    && rowChunk[t + Kernels.ROW_TILE - 1] == rowChunk[t]) {
                n = Kernels.ROW_TILE;
            }
            taskRow[tasks] = t;
            taskRows[tasks++] = n;
            t += n;
        }
        pool.parallelForDynamic(tasks * splits, 1, (start, end, worker) -> {
            float[] s = scores[worker];
            for (int task = start; task < end; task++) {
                int t = taskRow[task / splits];
                int rows = taskRows[task / splits];
                int b = task % splits;
                int h0 = b * kvHeads / splits * group;
                int h1 = (b + 1) * kvHeads / splits * group;
                int pos = rowPosition[t];
                int[] blocks = blockTables[rowChunk[t]];
                if (rows > 1) {
                    kernels.attendRows(qkv, t * qkvDim + h0 * headDim, qkvDim, rows, kc, vc, blocks, bs, kvDim, h0, h1, group,
                            headDim, pos, window == null ? 0 : window, scale, s, att, t * qDim + h0 * headDim, qDim);
                    continue;
                }
                int from = window == null ? 0 : Math.max(0, pos - window + 1);
                if (inTask && singleRow[rowChunk[t]]) {
                    prepareRow(l, t, blockTables);
                }
                if (f32) {
                    kernels.attend(qkv, t * qkvDim + h0 * headDim, kc, vc, blocks, bs, kvDim, h0, h1, group, headDim, from,
                            pos + 1, scale, s, att, t * qDim + h0 * headDim);
                } else {
                    kernels.attend(qkv, t * qkvDim + h0 * headDim, kc16, vc16, kvType, blocks, bs, kvDim, h0, h1, group,
                            headDim, from, pos + 1, scale, s, kvTiles[worker], att, t * qDim + h0 * headDim);
                }
            }
        });

        // x += att · Woᵀ (+ bias)
        matmul(att, tokens, w.wo(), xb, dim, 0);
        forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                addBias(xb, t * dim, w.bo(), dim);
            }
            addInPlace(x, xb, t0 * dim, t1 * dim);
        });
    }

    /**
     * Row {@code t} of layer {@code l} after the qkv matmul: biases, Qwen3's q/k norms, rotary
     * embedding of q and k, and k and v stored at the row's cache slot.
     */
    private void prepareRow(int l, int t, int[][] blockTables) {
        Layer w = layers[l];
        ModelConfig c = config;
        int qDim = c.qDim();
        int kvDim = c.kvDim();
        int headDim = c.headDim();
        int bs = kvSpec.blockSize();
        int base = t * (qDim + 2 * kvDim);
        addBias(qkv, base, w.bq(), qDim);
        addBias(qkv, base + qDim, w.bk(), kvDim);
        addBias(qkv, base + qDim + kvDim, w.bv(), kvDim);
        if (w.qNorm() != null) {
            for (int h = 0; h < c.numHeads(); h++) {
                rmsNormInPlace(qkv, base + h * headDim, headDim, w.qNorm(), (float) c.rmsNormEps());
            }
            for (int h = 0; h < c.numKvHeads(); h++) {
                rmsNormInPlace(qkv, base + qDim + h * headDim, headDim, w.kNorm(), (float) c.rmsNormEps());
            }
        }
        rope(qkv, base, c.numHeads(), t);
        rope(qkv, base + qDim, c.numKvHeads(), t);
        int pos = rowPosition[t];
        int block = blockTables[rowChunk[t]][pos / bs];
        int keyAt = Kernels.keyIndex(block, pos % bs, 0, bs, kvDim);
        boolean f32 = kvType == DType.F32;
        if (f32) {
            float[] kc = keyCache[l];
            for (int i = 0; i < kvDim; i++) {
                kc[keyAt + i * bs] = qkv[base + qDim + i];
            }
        } else {
            KvStore.store(kvType, qkv, base + qDim, keyCache16[l], keyAt, bs, kvDim);
        }
        for (int g = 0; g < c.numKvHeads(); g++) {
            int valueAt = Kernels.valueIndex(block, pos % bs, g, 0, bs, kvDim, headDim);
            if (f32) {
                System.arraycopy(qkv, base + qDim + kvDim + g * headDim, valueCache[l], valueAt, headDim);
            } else {
                KvStore.store(kvType, qkv, base + qDim + kvDim + g * headDim, valueCache16[l], valueAt, 1, headDim);
            }
        }
    }

    private void mlpBlock(Layer w, int tokens) {
        ModelConfig c = config;
        int dim = c.hiddenSize();
        int inter = c.intermediateSize();
        rmsNormRows(x, xb, tokens, dim, dim, w.ffnNorm(), (float) c.rmsNormEps());
        // gate, up and silu(gate) * up for one range of features (panels) per thread, in one region.
        forEachUnit(w.gate(), tokens, (t0, t1, start, end) -> {
            kernels.matmul(xb, t0, t1, w.gate(), start, end, gateUp, 2 * inter, 0);
            kernels.matmul(xb, t0, t1, w.up(), start, end, gateUp, 2 * inter, inter);
            int f0 = w.gate().firstRow(start);
            int f1 = end == w.gate().panels() ? inter : w.gate().firstRow(end);
            for (int t = t0; t < t1; t++) {
                int g = t * 2 * inter;
                kernels.siluMul(gateUp, g + f0, g + inter + f0, hidden, t * inter + f0, f1 - f0);
            }
        });
        matmul(hidden, tokens, w.down(), xb, dim, 0);
        forRows(tokens, (t0, t1) -> addInPlace(x, xb, t0 * dim, t1 * dim));
    }

    /** Tokens per unit of a {@link #matmul}'s work when panels alone would not divide it evenly. */
    private static final int TOKEN_GROUP = 8;
    /**
     * Tokens per block of a long pass's matmuls: a block's input rows (64 × 288 floats = 72 KiB for
     * stories15M) stay in the core's L2 cache while every panel of the matrix streams past them; over
     * all of a prefill's rows at once, each panel would read the whole input back from L3 or memory.
     */
    private static final int TOKEN_BLOCK = 64;

    /**
     * {@code out = x · wᵀ} for {@code tokens} rows, in parallel. Units of work are (block of up to 64
     * tokens, panel) pairs in block order; in a pass of one block they are panels, or, when a matrix has
     * few panels for the threads (a 288-row matrix has 9), (panel, group of 8 tokens) pairs in panel
     * order: 9 panels × 4 groups split 18 / 18 over two threads where panels alone split 5 / 4.
     */
    private void matmul(float[] in, int tokens, PackedMatrix w, float[] out, int outStride, int outOffset) {
        forEachUnit(w, tokens, (t0, t1, p0, p1) -> kernels.matmul(in, t0, t1, w, p0, p1, out, outStride, outOffset));
    }

    /** A piece of a matmul: tokens {@code [t0, t1)} × panels {@code [p0, p1)}. */
    @FunctionalInterface
    private interface MatmulUnit {
        void run(int t0, int t1, int p0, int p1);
    }

    /** Runs {@code unit} over all of {@code tokens} × {@code w}'s panels in parallel, split as {@link #matmul} says. */
    private void forEachUnit(PackedMatrix w, int tokens, MatmulUnit unit) {
        int panels = w.panels();
        int blocks = (tokens + TOKEN_BLOCK - 1) / TOKEN_BLOCK;
        if (blocks > 1) {
            pool.parallelFor(blocks * panels, (start, end, worker) -> {
                for (int u = start; u < end; ) {
                    int b = u / panels;
                    int p0 = u % panels;
                    int p1 = Math.min(panels, p0 + end - u); // this block's panels inside [start, end)
                    unit.run(b * TOKEN_BLOCK, Math.min(tokens, (b + 1) * TOKEN_BLOCK), p0, p1);
                    u += p1 - p0;
                }
            });
            return;
        }
        int groups = panels >= 8 * pool.threads() ? 1 : (tokens + TOKEN_GROUP - 1) / TOKEN_GROUP;
        if (groups <= 1) {
            pool.parallelFor(panels, (start, end, worker) -> unit.run(0, tokens, start, end));
            return;
        }
        pool.parallelFor(panels * groups, (start, end, worker) -> {
            for (int u = start; u < end; ) {
                int p = u / groups;
                int g0 = u % groups;
                int g1 = Math.min(groups, g0 + end - u); // this panel's groups inside [start, end)
                unit.run(g0 * TOKEN_GROUP, Math.min(tokens, g1 * TOKEN_GROUP), p, p + 1);
                u += g1 - g0;
            }
        });
    }

    private static void addInPlace(float[] x, float[] y, int from, int to) {
        for (int i = from; i < to; i++) {
            x[i] += y[i];
        }
    }

    /** Rows of a pass from which per-row work (norms, residual adds, rope and k/v stores) runs in parallel. */
    private static final int PARALLEL_ROWS = 64;

    /** A range {@code [t0, t1)} of rows. */
    @FunctionalInterface
    private interface RowRange {
        void run(int t0, int t1);
    }

    /**
     * Runs {@code body} over rows {@code [0, tokens)}: on this thread for a few rows (a decode step's
     * few microseconds would not pay for a parallel region), split over the threads for a prefill's.
     */
    private void forRows(int tokens, RowRange body) {
        if (tokens < PARALLEL_ROWS) {
            body.run(0, tokens);
        } else {
            pool.parallelFor(tokens, (start, end, worker) -> body.run(start, end));
        }
    }

    private float[][] logits(Batch batch) {
        int dim = config.hiddenSize();
        int vocab = config.vocabSize();
        int rows = 0;
        for (SequenceChunk c : batch.chunks()) {
            rows += c.logitsRows();
        }
        float[][] result = new float[batch.chunks().size()][];
        if (rows == 0) {
            for (int i = 0; i < result.length; i++) {
                result[i] = new float[0];
            }
            return result;
        }
        // Gather the rows that need logits, normalize them, and run the LM head over them only.
        if (logitsInput.length < rows * dim) {
            logitsInput = new float[rows * dim];
            logitsRows = new float[Math.multiplyExact(rows, vocab) + PAD];
            for (int w = 0; w < partialMax.length; w++) {
                partialMax[w] = new float[rows];
                partialArg[w] = new int[rows];
            }
        }
        float[] sel = logitsInput;
        float[] out = logitsRows;
        // Rows whose chunk only wants the argmax: each thread finds the best of its part of the
        // vocabulary while those logits are still in its cache; the parts are then compared in order.
        boolean[] argmaxRow = new boolean[rows];
        int r = 0;
        int firstRow = 0;
        for (SequenceChunk c : batch.chunks()) {
            int from = c.firstLogitsRow();
            for (int i = from; i < from + c.logitsRows(); i++, r++) {
                rmsNorm(x, (firstRow + i) * dim, sel, r * dim, dim, finalNorm, (float) config.rmsNormEps());
                argmaxRow[r] = c.logits() == SequenceChunk.LogitsMode.ARGMAX;
            }
            firstRow += c.length();
        }
        int totalRows = rows;
        boolean[] partsUsed = new boolean[pool.threads()];
        pool.parallelFor(lmHead.panels(), (start, end, worker) -> {
            kernels.matmul(sel, totalRows, lmHead, start, end, out, vocab, 0);
            int v0 = lmHead.firstRow(start);
            int v1 = end == lmHead.panels() ? vocab : lmHead.firstRow(end);
            for (int row = 0; row < totalRows; row++) {
                if (argmaxRow[row]) {
                    int best = v0 + kernels.argmax(out, row * vocab + v0, v1 - v0);
                    if (v0 > 0 && Float.isNaN(out[row * vocab + best])) {
                        // A NaN wins only as a row's first logit; past it NaNs are passed over.
                        best = argmaxSkippingNaN(out, row * vocab, v0, v1);
                    }
                    partialArg[worker][row] = best;
                    partialMax[worker][row] = best < 0 ? Float.NaN : out[row * vocab + best];
                }
            }
            partsUsed[worker] = true;
        });
        r = 0;
        for (int i = 0; i < result.length; i++) {
            SequenceChunk chunk = batch.chunks().get(i);
            int n = chunk.logitsRows();
            result[i] = switch (chunk.logits()) {
                case ARGMAX -> new float[] {combineArgmax(r, partsUsed)};
                case SAMPLE -> new float[] {sampler.sample(out, r * vocab, vocab, chunk.sampling())};
                default -> java.util.Arrays.copyOfRange(out, r * vocab, (r + n) * vocab);
            };
            r += n;
        }
        return result;
    }

    /**
     * The argmax of logits row {@code row} from the threads' parts (ascending vocabulary ranges): a
     * later part wins only when strictly greater, so ties go to the lowest index, as one pass would.
     */
    private int combineArgmax(int row, boolean[] partsUsed) {
        int best = -1;
        float max = 0f;
        for (int w = 0; w < partsUsed.length; w++) {
            if (!partsUsed[w] || partialArg[w][row] < 0) {
                continue;
            }
            // Ordered by range: parallelFor gives worker w the w-th contiguous range.
            if (best < 0 || partialMax[w][row] > max) {
                best = partialArg[w][row];
                max = partialMax[w][row];
            }
        }
        return best;
    }

    /** The first index in {@code [v0, v1)} of the largest non-NaN {@code row[rowOff + v]}, or -1 when all are NaN. */
    private static int argmaxSkippingNaN(float[] row, int rowOff, int v0, int v1) {
        int best = -1;
        for (int v = v0; v < v1; v++) {
            float value = row[rowOff + v];
            if (!Float.isNaN(value) && (best < 0 || value > row[rowOff + best])) {
                best = v;
            }
        }
        return best;
    }

    // ---- small helpers (sequential: they are O(tokens × dim), the matmuls are O(tokens × dim²)) ----

    private static void addBias(float[] v, int off, float @Nullable [] bias, int n) {
        if (bias != null) {
            for (int i = 0; i < n; i++) {
                v[off + i] += bias[i];
            }
        }
    }

    private void rmsNormRows(float[] in, float[] out, int tokens, int dim, int outStride, float[] weight, float eps) {
        forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                rmsNorm(in, t * dim, out, t * outStride, dim, weight, eps);
            }
        });
    }

    /** {@code out = weight * in / sqrt(mean(in²) + eps)}, as Hugging Face's {@code LlamaRMSNorm}. */
    static void rmsNorm(float[] in, int inOff, float[] out, int outOff, int n, float[] weight, float eps) {
        double ss = 0;
        for (int i = 0; i < n; i++) {
            float v = in[inOff + i];
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt((float) (ss / n) + eps));
        for (int i = 0; i < n; i++) {
            out[outOff + i] = weight[i] * (in[inOff + i] * inv);
        }
    }

    private static void rmsNormInPlace(float[] v, int off, int n, float[] weight, float eps) {
        rmsNorm(v, off, v, off, n, weight, eps);
    }

    /** Fills row {@code t} of {@link #rotary}: the cos and then the sin of its position times each inverse frequency. */
    private void rotaryAngles(int t) {
        int headDim = config.headDim();
        int half = headDim / 2;
        int base = t * headDim;
        for (int i = 0; i < half; i++) {
            float angle = rowPosition[t] * invFreq[i];
            rotary[base + i] = (float) Math.cos(angle);
            rotary[base + half + i] = (float) Math.sin(angle);
        }
    }

    /**
     * Rotates {@code heads} heads starting at {@code off} by row {@code t}'s position, in Hugging Face's
     * half-split convention: pairs are {@code (i, i + headDim/2)}.
     */
    private void rope(float[] v, int off, int heads, int t) {
        int headDim = config.headDim();
        int half = headDim / 2;
        int angles = t * headDim;
        for (int h = 0; h < heads; h++) {
            int a = off + h * headDim;
            for (int i = 0; i < half; i++) {
                float cos = rotary[angles + i];
                float sin = rotary[angles + half + i];
                float x0 = v[a + i];
                float x1 = v[a + half + i];
                v[a + i] = x0 * cos - x1 * sin;
                v[a + half + i] = x1 * cos + x0 * sin;
            }
        }
    }

    @Override
    public void close() {
        pool.close();
        arena.close();
    }
}
