package io.trtllm.runtime;

/**
 * Shape of a paged KV cache: {@code numBlocks} blocks of {@code blockSize} token slots each, for
 * every layer. Block ids in a {@link SequenceChunk}'s block table index into it.
 *
 * @param numBlocks blocks available
 * @param blockSize tokens per block ({@code tokens_per_block})
 */
public record KvCacheSpec(int numBlocks, int blockSize) {
    public KvCacheSpec {
        if (numBlocks <= 0) {
            throw new IllegalArgumentException("numBlocks must be > 0, got " + numBlocks);
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be > 0, got " + blockSize);
        }
    }

    /** Token slots in all blocks together. */
    public long capacityTokens() {
        return (long) numBlocks * blockSize;
    }

    /** Blocks needed to hold {@code tokens} positions. */
    public int blocksFor(int tokens) {
        return Math.ceilDiv(tokens, blockSize); // (tokens + blockSize - 1) would wrap for tokens near 2^31
    }
}
