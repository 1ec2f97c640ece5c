package io.trtllm.tokenizer;

/**
 * Turns a stream of token ids into a stream of text deltas, never emitting a broken UTF-8 sequence
 * (a byte-fallback or byte-level token that ends mid-character is held back until it completes).
 */
public final class IncrementalDetokenizer {
    // TODO(helper): implement

    /** Adds one token; returns the text it completes (possibly empty). */
    public String add(int tokenId) {
        throw new UnsupportedOperationException("TODO");
    }

    /** The text decoded so far. */
    public String text() {
        throw new UnsupportedOperationException("TODO");
    }
}
