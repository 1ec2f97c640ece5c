package io.trtllm.runtime;

import io.trtllm.model.ModelConfig;
import java.util.List;

/**
 * The work of one forward pass: chunks of several sequences (prefills and decodes mixed), computed
 * together. The executor decides what goes in; a {@link ModelRunner} only computes it.
 *
 * @param chunks one entry per sequence, in the order of the pass's {@link ForwardResult}
 */
public record Batch(List<SequenceChunk> chunks) {
    public Batch {
        if (chunks.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one sequence");
        }
        chunks = List.copyOf(chunks);
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
