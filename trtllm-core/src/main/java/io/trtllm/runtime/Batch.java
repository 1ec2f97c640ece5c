package io.trtllm.runtime;

import java.util.List;

/**
 * The work of one forward pass: chunks of several sequences (prefills and decodes mixed), computed
 * together. The executor decides what goes in; a {@link ModelRunner} only computes it.
 *
 * @param chunks one entry per sequence, in the order the logits come back
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

    /** Total number of tokens computed in this pass. */
    public int tokenCount() {
        int n = 0;
        for (SequenceChunk c : chunks) {
            n += c.length();
        }
        return n;
    }
}
