package io.trtllm.runtime;

import io.trtllm.model.ModelConfig;
import java.util.List;

/**
 * The work of one forward pass: chunks of several sequences (prefills and decodes mixed), computed
 * together. The executor decides what goes in; a {@link ModelRunner} only computes it.
 *
 * @param chunks   one entry per sequence, in the order of the pass's {@link ForwardResult}
 * @param previous per chunk, the chunk of the previously launched pass whose chosen token is this chunk's only
 *                 token ({@link #previousChunk}), or -1 when its tokens are the chunk's own; empty when no chunk
 *                 takes one
 */
public record Batch(List<SequenceChunk> chunks, int[] previous) {
    public Batch {
        if (chunks.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one sequence");
        }
        chunks = List.copyOf(chunks);
        if (previous.length != 0 && previous.length != chunks.size()) {
            throw new IllegalArgumentException("previous has " + previous.length + " entries for " + chunks.size()
                    + " chunks");
        }
        previous = previous.clone();
        for (int i = 0; i < previous.length; i++) {
            if (previous[i] < -1) {
                throw new IllegalArgumentException("previous chunk of chunk " + i + " must be >= -1, got " + previous[i]);
            }
            if (previous[i] >= 0 && chunks.get(i).length() != 1) {
                throw new IllegalArgumentException("chunk " + i + " takes its token from the previous pass but has "
                        + chunks.get(i).length() + " tokens; only a one-token chunk can");
            }
        }
    }

    /** A batch whose chunks' tokens are all their own. */
    public Batch(List<SequenceChunk> chunks) {
        this(chunks, new int[0]);
    }

    @Override
    public int[] previous() {
        return previous.clone();
    }

    /**
     * The chunk of the previously launched pass ({@link ModelRunner#launch}) whose chosen token is chunk {@code i}'s
     * only token, which then stands in {@link SequenceChunk#tokenIds()} as a placeholder (any id in the vocabulary);
     * -1 when the chunk's tokens are its own. Only a runner that {@link ModelRunner#overlaps()} accepts one.
     */
    public int previousChunk(int i) {
        return previous.length == 0 ? -1 : previous[i];
    }

    /** Whether some chunk takes its token from the previous pass. */
    public boolean chainsTokens() {
        for (int p : previous) {
            if (p >= 0) {
                return true;
            }
        }
        return false;
    }

    public static Batch of(SequenceChunk... chunks) {
        return new Batch(List.of(chunks));
    }

    /**
     * Checks every chunk against the model and the KV cache a runner owns.
     *
     * @throws IllegalArgumentException if a position is beyond the model's limit, a block table does not
     *                                  cover its chunk's positions, or a block or token id is out of range
     */
    public void checkAgainst(ModelConfig config, KvCacheSpec kvSpec) {
        for (SequenceChunk chunk : chunks) {
            if (chunk.endPosition() > config.maxPositionEmbeddings()) {
                throw new IllegalArgumentException("position " + (chunk.endPosition() - 1)
                        + " is beyond the model's max_position_embeddings " + config.maxPositionEmbeddings());
            }
            int needed = kvSpec.blocksFor(chunk.endPosition());
            if (chunk.blockCount() < needed) {
                throw new IllegalArgumentException("block table has " + chunk.blockCount() + " blocks but positions up to "
                        + chunk.endPosition() + " need " + needed);
            }
            for (int b = 0; b < needed; b++) {
                int id = chunk.block(b);
                if (id < 0 || id >= kvSpec.numBlocks()) {
                    throw new IllegalArgumentException("block id " + id + " is out of range [0, " + kvSpec.numBlocks() + ")");
                }
            }
            for (int i = 0; i < chunk.length(); i++) {
                int t = chunk.tokenId(i);
                if (t < 0 || t >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + t + " is out of range [0, " + config.vocabSize() + ")");
                }
            }
        }
    }

    /** Total number of tokens computed in this pass. */
    public int tokenCount() {
        int n = 0;
        for (SequenceChunk c : chunks) {
            n += c.length();
        }
        return n;
    }
}
