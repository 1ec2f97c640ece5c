package io.trtllm.runtime.cpu;

import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.sampling.Sampler;
import io.trtllm.sampling.TokenSampler;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * The end of a {@link CpuModelRunner} pass: {@code logits = rmsnorm(x[rows]) · Wlmᵀ} over only the rows
 * whose chunks ask for logits, and what each chunk gets back: its argmax (found per thread while the
 * logits are in its cache), a token drawn as {@link TokenSampler} does, or its logits rows. Owns the
 * buffers of those rows, grown to the most rows seen, except in a pass whose every row goes back (a beam
 * step): that pass's rows are one array, which the result keeps and hands out in ranges until it is released
 * (then the next such pass writes it again).
 */
final class LogitsHead {
    private final ModelConfig config;
    private final Kernels kernels;
    private final ParallelLoops loops;
    private final PackedMatrix lmHead;
    private final float[] finalNorm;
    /** Draws of {@link SequenceChunk.LogitsMode#SAMPLE} chunks (one pass at a time, as the runner). */
    private final TokenSampler sampler = new TokenSampler();
    /** The logits rows of a pass, and the normalized hidden rows they are computed from. */
    private float[] logitsRows = new float[0];
    private float[] logitsInput = new float[0];
    /** The rows array of a released result ({@link ForwardResult#release}), for the next pass whose every row goes back. */
    private final AtomicReference<float @Nullable []> spare = new AtomicReference<>();
    /** Per worker and logits row: the best value and index in the worker's part of the vocabulary. */
    private final float[][] partialMax;
    private final int[][] partialArg;

    LogitsHead(ModelConfig config, Kernels kernels, ParallelLoops loops, CpuWeights weights) {
        this.config = config;
        this.kernels = kernels;
        this.loops = loops;
        this.lmHead = weights.lmHead();
        this.finalNorm = weights.finalNorm();
        this.partialMax = new float[loops.threads()][0];
        this.partialArg = new int[loops.threads()][0];
    }

    /** Per chunk of {@code batch}: its argmax, its draw, its logits rows, or nothing; {@code x} is the residual stream. */
    ForwardResult logits(Batch batch, float[] x) {
        int dim = config.hiddenSize();
        int vocab = config.vocabSize();
        int rows = 0;
        for (SequenceChunk c : batch.chunks()) {
            rows += c.logitsRows();
        }
        ForwardResult.Builder result = ForwardResult.builder(batch.chunks().size());
        if (rows == 0) {
            return result.build();
        }
        // Gather the rows that need logits, normalize them, and run the LM head over them only.
        if (logitsInput.length < rows * dim) {
            logitsInput = new float[rows * dim];
            for (int w = 0; w < partialMax.length; w++) {
                partialMax[w] = new float[rows];
                partialArg[w] = new int[rows];
            }
        }
        // When every row of the pass goes back (beam steps, logits requests), the LM head writes them into an
        // array the result keeps, each chunk's rows a range of it: no copy per chunk. Otherwise into the reused
        // rows, a returned chunk's copied out.
        boolean allReturned = true;
        for (SequenceChunk c : batch.chunks()) {
            allReturned &= c.logitsRows() == 0 || returnsRows(c);
        }
        if (!allReturned && logitsRows.length < rows * vocab + RunState.PAD) {
            logitsRows = new float[Math.multiplyExact(rows, vocab) + RunState.PAD];
        }
        float[] sel = logitsInput;
        float[] out = allReturned ? returnedRows(Math.addExact(Math.multiplyExact(rows, vocab), RunState.PAD)) : logitsRows;
        // Rows whose chunk only wants the argmax: each thread finds the best of its part of the
        // vocabulary while those logits are still in its cache; the parts are then compared in order.
        boolean[] argmaxRow = new boolean[rows];
        int r = 0;
        int firstRow = 0;
        for (SequenceChunk c : batch.chunks()) {
            int from = c.firstLogitsRow();
            for (int i = from; i < from + c.logitsRows(); i++, r++) {
                RowOps.rmsNorm(x, (firstRow + i) * dim, sel, r * dim, dim, finalNorm, (float) config.rmsNormEps());
                // A masked row's argmax comes after its mask, below.
                argmaxRow[r] = c.logits() == SequenceChunk.LogitsMode.ARGMAX && !c.masked();
            }
            firstRow += c.length();
        }
        int totalRows = rows;
        boolean[] partsUsed = new boolean[loops.threads()];
        loops.parallelFor(lmHead.panels(), (start, end, worker) -> {
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
        for (int i = 0; i < batch.chunks().size(); i++) {
            SequenceChunk chunk = batch.chunks().get(i);
            int n = chunk.logitsRows();
            if (chunk.masked()) {
                // Guided decoding: the banned tokens' logits become -Infinity before the argmax or the draw.
                chunk.applyTokenMask(out, r * vocab, vocab);
                if (chunk.logits() == SequenceChunk.LogitsMode.ARGMAX) {
                    int best = Sampler.argmax(out, r * vocab, vocab);
                    result.tokenId(i, out[r * vocab + best] == Float.NEGATIVE_INFINITY ? ForwardResult.NO_TOKEN : best);
                    r += n;
                    continue;
                }
            }
            switch (chunk.logits()) {
                case ARGMAX -> result.tokenId(i, combineArgmax(r, partsUsed));
                case SAMPLE -> result.tokenId(i, sampler.sample(out, r * vocab, vocab, chunk.sampling()));
                default -> {
                    if (allReturned) {
                        result.logits(i, out, r * vocab, n * vocab);
                    } else {
                        result.logits(i, Arrays.copyOfRange(out, r * vocab, (r + n) * vocab));
                    }
                }
            }
            r += n;
        }
        if (allReturned) {
            result.onRelease(() -> spare.set(out));
        }
        return result.build();
    }

    /**
     * The array a pass whose every row goes back writes its rows into: the one the last such result released,
     * when it is long enough, else a new one (the result keeps it until it is released).
     */
    private float[] returnedRows(int length) {
        float[] a = spare.getAndSet(null);
        return a != null && a.length >= length ? a : new float[length];
    }

    /** Whether chunk {@code c}'s logits rows go back to the caller, rather than its argmax or its draw. */
    private static boolean returnsRows(SequenceChunk c) {
        return c.logits() != SequenceChunk.LogitsMode.ARGMAX && c.logits() != SequenceChunk.LogitsMode.SAMPLE;
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
}
