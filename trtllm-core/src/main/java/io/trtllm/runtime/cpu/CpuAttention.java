package io.trtllm.runtime.cpu;

import io.trtllm.model.ModelConfig;
import io.trtllm.model.RopeScaling;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import java.lang.foreign.MemorySegment;

/**
 * The attention of one layer of a {@link CpuModelRunner} pass, from {@code qkv} to {@code att}: each
 * row's biases, Qwen3's q/k norms and rotary embedding, its key and value stored at its cache slot,
 * then {@code softmax(q·Kᵀ/√d, causal, window)·V} over its sequence's cached positions, split over the
 * threads. Owns the per-thread scratch of the kernels and the pass's task list.
 */
final class CpuAttention {
    private final ModelConfig config;
    private final int blockSize;
    private final Kernels kernels;
    private final ParallelLoops loops;
    private final CpuKvCache cache;
    private final RunState s;
    private final float[] invFreq;
    /** Per worker: attention scores of the heads of the row being attended ({@link Kernels#scoresLength}). */
    private final float[][] scores;
    private int scoresCapacity;
    /** Per worker, 16-bit caches only: one block's widened keys or values (odd block sizes or head dimensions). */
    private final float[][] kvTiles;
    /** Tasks of a pass: first row, number of rows, and kind ({@link #ROW}, {@link #PROMPT_TILE}, {@link #SHARED}). */
    private int[] taskRow = new int[0];
    private int[] taskRows = new int[0];
    private byte[] taskKind = new byte[0];
    /** A task of one row. */
    private static final byte ROW = 0;
    /** A task of {@link Kernels#ROW_TILE} consecutive rows of a prompt chunk ({@link Kernels#attendRows}). */
    private static final byte PROMPT_TILE = 1;
    /** A task of {@link Kernels#ROW_TILE} decode rows at one position whose tables share blocks ({@link Kernels#attendShared}). */
    private static final byte SHARED = 2;
    /** Per worker: the block tables of a {@link #SHARED} task's rows. */
    private final int[][][] tables;

    CpuAttention(ModelConfig config, KvCacheSpec kvSpec, Kernels kernels, ParallelLoops loops, CpuKvCache cache, RunState state) {
        this.config = config;
        this.blockSize = kvSpec.blockSize();
        this.kernels = kernels;
        this.loops = loops;
        this.cache = cache;
        this.s = state;
        this.invFreq = RopeScaling.inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());
        this.scores = new float[loops.threads()][0];
        this.kvTiles = new float[cache.f32() ? 0 : loops.threads()][Kernels.tileLength(config.kvDim(), blockSize)];
        this.tables = new int[loops.threads()][Kernels.ROW_TILE][];
    }

    /** Grows the scratch to {@code batch}: scores as long as its longest sequence, a task per row. */
    void prepare(Batch batch) {
        int maxContext = 0;
        for (SequenceChunk c : batch.chunks()) {
            maxContext = Math.max(maxContext, c.endPosition());
        }
        if (scoresCapacity < maxContext) {
            scoresCapacity = maxContext;
            for (int i = 0; i < scores.length; i++) {
                scores[i] = new float[Kernels.scoresLength(Kernels.ROW_TILE * config.numHeads(), maxContext, blockSize)];
            }
        }
        if (taskRow.length < batch.tokenCount()) {
            taskRow = new int[batch.tokenCount()];
            taskRows = new int[batch.tokenCount()];
            taskKind = new byte[batch.tokenCount()];
        }
    }

    /** Fills row {@code t} of {@link RunState#rotary}: the cos and then the sin of its position times each inverse frequency. */
    void rotaryAngles(int t) {
        int headDim = config.headDim();
        int half = headDim / 2;
        int base = t * headDim;
        for (int i = 0; i < half; i++) {
            float angle = s.rowPosition[t] * invFreq[i];
            s.rotary[base + i] = (float) Math.cos(angle);
            s.rotary[base + half + i] = (float) Math.sin(angle);
        }
    }

    /** {@code att} of layer {@code l} for {@code tokens} rows, from their {@code qkv} and the cache. */
    void run(int l, CpuWeights.Layer w, int tokens) {
        ModelConfig c = config;
        int qDim = c.qDim();
        int kvDim = c.kvDim();
        int qkvDim = qDim + 2 * kvDim;
        int headDim = c.headDim();
        int bs = blockSize;
        float[] qkv = s.qkv;
        float[] att = s.att;
        int[] rowPosition = s.rowPosition;
        int[] rowChunk = s.rowChunk;
        boolean[] singleRow = s.singleRow;
        int[][] blockTables = s.blockTables;

        // Each row's q and k are rotated and its k and v stored in the cache before any row attends.
        // A row alone in its chunk (a decode) is only attended by itself: its task does that work (in
        // parallel, the stored lines still in cache when it reads them); other rows are done here first.
        int heads = c.numHeads();
        int kvHeads = c.numKvHeads();
        boolean f32 = cache.f32();
        // Tasks: a row (or, split, part of its heads); ROW_TILE consecutive rows of a prompt chunk, which attend
        // together; or ROW_TILE decode rows at one position whose tables share blocks (beams), which read each
        // shared block once (float32 caches: each cached key and value row then serves them all).
        int rowSplits = Math.min(kvHeads, Math.max(1, (4 * loops.threads() + tokens - 1) / tokens));
        int tasks = 0;
        boolean groups = false;
        for (int t = 0; t < tokens; ) {
            int n = 1;
            byte kind = ROW;
            if (f32 && t + Kernels.ROW_TILE <= tokens) {
                if (rowSplits == 1 && !singleRow[rowChunk[t]] && rowChunk[t + Kernels.ROW_TILE - 1] == rowChunk[t]) {
                    n = Kernels.ROW_TILE;
                    kind = PROMPT_TILE;
                } else if (sharesBlocks(t)) {
                    n = Kernels.ROW_TILE;
                    kind = SHARED;
                    groups = true;
                }
            }
            taskRow[tasks] = t;
            taskRows[tasks] = n;
            taskKind[tasks++] = kind;
            t += n;
        }
        // Small batches split a task's KV heads so that every thread has work (not with prompt tiles: long passes).
        int splits = groups && rowSplits > 1 ? Math.min(kvHeads, Math.max(1, (4 * loops.threads() + tasks - 1) / tasks))
                : rowSplits;
        boolean inTask = splits == 1;
        loops.forRows(tokens, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                if (!inTask || !singleRow[rowChunk[t]]) {
                    prepareRow(l, w, t); // rows write their own q/k/v and cache slots only
                }
            }
        });
        // Attention of every row over its sequence's cached positions, task by task (each cached block then read
        // once, front to back, for all heads of the task). Rows of different lengths cost differently, so threads
        // take tasks as they finish.
        int group = heads / kvHeads;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        Integer window = c.slidingWindow();
        float[] kc = f32 ? cache.keys(l) : null;
        float[] vc = f32 ? cache.values(l) : null;
        MemorySegment kc16 = f32 ? null : cache.keys16(l);
        MemorySegment vc16 = f32 ? null : cache.values16(l);
        int[] taskRow = this.taskRow;
        int[] taskRows = this.taskRows;
        byte[] taskKind = this.taskKind;
        int[][][] tables = this.tables;
        loops.parallelForDynamic(tasks * splits, 1, (start, end, worker) -> {
            float[] sc = scores[worker];
            for (int task = start; task < end; task++) {
                int t = taskRow[task / splits];
                int rows = taskRows[task / splits];
                int b = task % splits;
                int h0 = b * kvHeads / splits * group;
                int h1 = (b + 1) * kvHeads / splits * group;
                int pos = rowPosition[t];
                int[] blocks = blockTables[rowChunk[t]];
                int from = window == null ? 0 : Math.max(0, pos - window + 1);
                if (taskKind[task / splits] == SHARED) {
                    int[][] rowTables = tables[worker];
                    for (int r = 0; r < rows; r++) {
                        if (inTask) {
                            prepareRow(l, w, t + r);
                        }
                        rowTables[r] = blockTables[rowChunk[t + r]];
                    }
                    kernels.attendShared(qkv, t * qkvDim + h0 * headDim, qkvDim, rows, kc, vc, rowTables, bs, kvDim, h0, h1,
                            group, headDim, from, pos + 1, scale, sc, att, t * qDim + h0 * headDim, qDim);
                    continue;
                }
                if (rows > 1) {
                    kernels.attendRows(qkv, t * qkvDim + h0 * headDim, qkvDim, rows, kc, vc, blocks, bs, kvDim, h0, h1, group,
                            headDim, pos, window == null ? 0 : window, scale, sc, att, t * qDim + h0 * headDim, qDim);
                    continue;
                }
                if (inTask && singleRow[rowChunk[t]]) {
                    prepareRow(l, w, t);
                }
                if (f32) {
                    kernels.attend(qkv, t * qkvDim + h0 * headDim, kc, vc, blocks, bs, kvDim, h0, h1, group, headDim, from,
                            pos + 1, scale, sc, att, t * qDim + h0 * headDim);
                } else {
                    kernels.attend(qkv, t * qkvDim + h0 * headDim, kc16, vc16, cache.type(), blocks, bs, kvDim, h0, h1, group,
                            headDim, from, pos + 1, scale, sc, kvTiles[worker], att, t * qDim + h0 * headDim);
                }
            }
        });
    }

    /**
     * Whether rows {@code [t, t + ROW_TILE)} are decode rows (each alone in its chunk) at one position whose block
     * tables hold the same first block of the attended range: the beams of a beam search, which share their common
     * prefix's blocks (copy-on-write), so that {@link Kernels#attendShared} reads those blocks once for all of them.
     */
    private boolean sharesBlocks(int t) {
        int pos = s.rowPosition[t];
        Integer window = config.slidingWindow();
        int firstBlock = (window == null ? 0 : Math.max(0, pos - window + 1)) / blockSize;
        int block = s.blockTables[s.rowChunk[t]][firstBlock];
        for (int r = t; r < t + Kernels.ROW_TILE; r++) {
            if (!s.singleRow[s.rowChunk[r]] || s.rowPosition[r] != pos || s.blockTables[s.rowChunk[r]][firstBlock] != block) {
                return false;
            }
        }
        return true;
    }

    /**
     * Row {@code t} of layer {@code l} after the qkv matmul: biases, Qwen3's q/k norms, rotary
     * embedding of q and k, and k and v stored at the row's cache slot.
     */
    private void prepareRow(int l, CpuWeights.Layer w, int t) {
        ModelConfig c = config;
        int qDim = c.qDim();
        int kvDim = c.kvDim();
        int headDim = c.headDim();
        float[] qkv = s.qkv;
        int base = t * (qDim + 2 * kvDim);
        RowOps.addBias(qkv, base, w.bq(), qDim);
        RowOps.addBias(qkv, base + qDim, w.bk(), kvDim);
        RowOps.addBias(qkv, base + qDim + kvDim, w.bv(), kvDim);
        if (w.qNorm() != null) {
            for (int h = 0; h < c.numHeads(); h++) {
                RowOps.rmsNorm(qkv, base + h * headDim, qkv, base + h * headDim, headDim, w.qNorm(), (float) c.rmsNormEps());
            }
            for (int h = 0; h < c.numKvHeads(); h++) {
                RowOps.rmsNorm(qkv, base + qDim + h * headDim, qkv, base + qDim + h * headDim, headDim, w.kNorm(),
                        (float) c.rmsNormEps());
            }
        }
        rope(qkv, base, c.numHeads(), t);
        rope(qkv, base + qDim, c.numKvHeads(), t);
        int pos = s.rowPosition[t];
        int block = s.blockTables[s.rowChunk[t]][pos / blockSize];
        cache.store(l, qkv, base + qDim, base + qDim + kvDim, block, pos % blockSize);
    }

    /**
     * Rotates {@code heads} heads starting at {@code off} by row {@code t}'s position, in Hugging Face's
     * half-split convention: pairs are {@code (i, i + headDim/2)}.
     */
    private void rope(float[] v, int off, int heads, int t) {
        int headDim = config.headDim();
        int half = headDim / 2;
        int angles = t * headDim;
        float[] rotary = s.rotary;
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
}
