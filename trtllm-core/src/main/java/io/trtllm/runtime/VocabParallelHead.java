package io.trtllm.runtime;

import io.trtllm.model.RankShard;
import io.trtllm.sampling.Sampler;
import io.trtllm.sampling.TokenSampler;
import java.lang.foreign.MemorySegment;
import org.jspecify.annotations.Nullable;

/**
 * The end of a pass of a vocabulary-parallel LM head, shared by the backends' rank runners: each TP rank holds the
 * logits of its vocabulary rows ({@link RankShard#firstVocabRow()}, {@link RankShard#vocabRows()}) for every row that
 * needs logits; this turns them into what each chunk asked for, on TP rank 0. Argmax rows exchange one (value, id)
 * pair per rank, compared in vocabulary order as {@link Sampler#argmax} would over the whole row (the whole rows
 * never travel); other rows (logits, host draws) all-gather their logits into whole rows. Not thread-safe: its
 * rank's thread calls it.
 */
public final class VocabParallelHead {
    private final RankShard shard;
    private final Communicator tp;
    private final int vocab;
    private final TokenSampler sampler = new TokenSampler();

    /**
     * @param shard this rank's share of the model
     * @param tp    this rank's communicator among the TP ranks of its stage
     */
    public VocabParallelHead(RankShard shard, Communicator tp) {
        this.shard = shard;
        this.tp = tp;
        this.vocab = shard.model().vocabSize();
    }

    /**
     * What each chunk of {@code batch} gets back, on TP rank 0 (null on the others): every TP rank calls it with the
     * same batch.
     *
     * @param out this rank's logits, {@code (rows that need logits, vocabRows)} row-major, in the batch's order
     */
    public @Nullable ForwardResult gather(Batch batch, float[] out) {
        int rows = 0;
        int argmaxRows = 0;
        for (SequenceChunk c : batch.chunks()) {
            rows += c.logitsRows();
            if (c.logits() == SequenceChunk.LogitsMode.ARGMAX) {
                argmaxRows += c.logitsRows();
            }
        }
        ForwardResult.Builder result = ForwardResult.builder(batch.chunks().size());
        if (rows == 0) {
            return shard.tpRank() == 0 ? result.build() : null;
        }
        int localVocab = shard.vocabRows();
        if (out.length < (long) rows * localVocab) {
            throw new IllegalArgumentException(out.length + " logits for " + rows + " rows of " + localVocab);
        }
        int tpSize = tp.size();
        int v0 = shard.firstVocabRow();
        // Argmax rows: this rank's best (value, global id), gathered; compared in vocabulary order below.
        float[] pairs = new float[2 * argmaxRows];
        // Other rows: this rank's logits, at a stride of ceil(vocab / tp) so that every rank sends as many.
        int stride = shard.vocabStride();
        int fullRows = rows - argmaxRows;
        float[] part = new float[fullRows * stride];
        int r = 0;
        int a = 0;
        int f = 0;
        for (SequenceChunk c : batch.chunks()) {
            for (int i = 0; i < c.logitsRows(); i++, r++) {
                if (c.logits() == SequenceChunk.LogitsMode.ARGMAX) {
                    // Sampler.argmax's rule over the whole row: a NaN wins only as logit 0 (rank 0's first).
                    int best = shard.tpRank() == 0 ? Sampler.argmax(out, r * localVocab, localVocab)
                            : argmaxSkippingNaN(out, r * localVocab, localVocab);
                    pairs[2 * a] = best < 0 ? Float.NaN : out[r * localVocab + best];
                    pairs[2 * a + 1] = best < 0 ? -1 : v0 + best; // ids < 2^24 are exact as floats
                    a++;
                } else {
                    System.arraycopy(out, r * localVocab, part, f * stride, localVocab);
                    f++;
                }
            }
        }
        float[] allPairs = pairs;
        float[] allParts = part;
        if (tpSize > 1) {
            allPairs = new float[tpSize * pairs.length];
            if (pairs.length > 0) {
                tp.allGather(MemorySegment.ofArray(pairs), MemorySegment.ofArray(allPairs));
            }
            allParts = new float[tpSize * part.length];
            if (part.length > 0) {
                tp.allGather(MemorySegment.ofArray(part), MemorySegment.ofArray(allParts));
            }
        }
        if (shard.tpRank() != 0) {
            return null;
        }
        r = 0;
        a = 0;
        f = 0;
        for (int ci = 0; ci < batch.chunks().size(); ci++) {
            SequenceChunk c = batch.chunks().get(ci);
            int n = c.logitsRows();
            if (n == 0) {
                continue;
            }
            if (c.logits() == SequenceChunk.LogitsMode.ARGMAX) {
                result.tokenId(ci, combineArgmax(allPairs, a, argmaxRows, tpSize));
                a += n;
                continue;
            }
            float[] logits = new float[n * vocab];
            for (int i = 0; i < n; i++) {
                for (int rank = 0; rank < tpSize; rank++) {
                    int first = rank * stride;
                    int count = Math.min(vocab, first + stride) - first;
                    System.arraycopy(allParts, rank * part.length + (f + i) * stride, logits, i * vocab + first, count);
                }
            }
            f += n;
            if (c.logits() == SequenceChunk.LogitsMode.SAMPLE) {
                result.tokenId(ci, sampler.sample(logits, 0, vocab, c.sampling())); // its first row, as LogitsHead draws
            } else {
                result.logits(ci, logits);
            }
        }
        return result.build();
    }

    /** The argmax of argmax row {@code row} from the ranks' (value, id) pairs: a later rank wins only when greater. */
    private static int combineArgmax(float[] pairs, int row, int rowsPerRank, int ranks) {
        float max = pairs[2 * row];
        int best = (int) pairs[2 * row + 1];
        if (Float.isNaN(max)) {
            return best; // logit 0 is NaN: it wins, as in Sampler.argmax
        }
        for (int rank = 1; rank < ranks; rank++) {
            int at = 2 * (rank * rowsPerRank + row);
            int id = (int) pairs[at + 1];
            if (id >= 0 && pairs[at] > max) {
                max = pairs[at];
                best = id;
            }
        }
        return best;
    }

    /** The first index of the largest non-NaN logit of a row part, or -1 when all are NaN. */
    private static int argmaxSkippingNaN(float[] row, int offset, int n) {
        int best = -1;
        for (int v = 0; v < n; v++) {
            float value = row[offset + v];
            if (!Float.isNaN(value) && (best < 0 || value > row[offset + best])) {
                best = v;
            }
        }
        return best;
    }
}
