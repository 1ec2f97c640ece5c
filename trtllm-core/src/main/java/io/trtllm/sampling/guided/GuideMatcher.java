package io.trtllm.sampling.guided;

import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.guided.ConfigSpace.Config;

/**
 * Where one sequence stands in its guide: the sampler asks it for the mask of the next token, draws
 * among the allowed tokens, and tells it the token drawn.
 *
 * <pre>{@code
 * long[] mask = new long[TokenBitmask.words(vocab)];
 * matcher.fillNextTokenMask(mask);              // before the draw
 * TokenBitmask.apply(mask, logits, 0, vocab);   // or in the device's sampling kernel
 * int token = draw(logits);
 * matcher.accept(token);                        // after it; an end token in an accepting state ends it
 * }</pre>
 *
 * <p>End-of-sequence tokens (the vocabulary's) are allowed only where the output so far is a complete
 * match ({@link #canTerminate()}); a sampler that ends sequences on other stop tokens should allow them
 * under the same condition. Where {@link #isComplete()}, no further text is possible and the sequence
 * should end even if the vocabulary has no end token.
 *
 * <p>Not thread-safe: one per sequence. {@link #fork()} copies it in O(1) for n / best_of / beams.
 */
public final class GuideMatcher {
    private final CompiledGuide guide;
    private Config config;
    private boolean first;
    private boolean terminated;
    private int accepted;

    GuideMatcher(CompiledGuide guide) {
        this.guide = guide;
        reset();
    }

    private GuideMatcher(GuideMatcher other) {
        this.guide = other.guide;
        this.config = other.config;
        this.first = other.first;
        this.terminated = other.terminated;
        this.accepted = other.accepted;
    }

    public CompiledGuide guide() {
        return guide;
    }

    /**
     * Writes the allowed next tokens into {@code words} (see {@link TokenBitmask}; words past the
     * vocabulary are cleared, so the array may be as wide as the model's logits).
     *
     * @return how many tokens are allowed, end tokens included: 0 after termination, and where the
     *         guide's nesting limit left no way on (a grammar that needs deeper nesting to complete)
     */
    public int fillNextTokenMask(long[] words) {
        Bitmask mask = nextTokenBitmask();
        mask.copyTo(words);
        return mask.count();
    }

    /**
     * The allowed next tokens, end tokens included where the output may end, as the guide's shared instance for
     * this point ({@link Bitmask#NONE} after termination): nothing is copied, and sequences standing where the
     * same tokens are allowed get the same instance while the guide's caches keep it.
     */
    public Bitmask nextTokenBitmask() {
        return terminated ? Bitmask.NONE : guide.mask(config, first);
    }

    /** Whether {@code tokenId} may come next (without changing anything). */
    public boolean isTokenAllowed(int tokenId) {
        if (terminated) {
            return false;
        }
        if (guide.vocabulary().isEnd(tokenId)) {
            return config.accepting;
        }
        return guide.mask(config, first).allows(tokenId);
    }

    /**
     * Advances past {@code tokenId}: true when it was allowed; false, changing nothing, when it was not.
     * An end token in an accepting state terminates the matcher.
     */
    public boolean accept(int tokenId) {
        if (terminated) {
            return false;
        }
        GuideVocabulary vocab = guide.vocabulary();
        if (vocab.isEnd(tokenId)) {
            if (!config.accepting) {
                return false;
            }
            terminated = true;
            accepted++;
            return true;
        }
        byte[] bytes = vocab.effectiveBytes(tokenId, first);
        if (bytes == null) {
            return false;
        }
        ConfigSpace space = guide.space();
        Config next = space.walk(config, bytes, 0);
        if (next == space.dead) {
            return false;
        }
        config = next;
        first = false;
        accepted++;
        return true;
    }

    /** Whether the output so far is a complete match, so that an end token may come now. */
    public boolean canTerminate() {
        return !terminated && config.accepting;
    }

    /** Whether an end token was accepted. */
    public boolean isTerminated() {
        return terminated;
    }

    /** Whether no more text can follow (the output is complete, or the matcher terminated). */
    public boolean isComplete() {
        return terminated || config.isFinal();
    }

    /** Tokens accepted so far. */
    public int acceptedTokens() {
        return accepted;
    }

    /** An independent copy at the same point. */
    public GuideMatcher fork() {
        return new GuideMatcher(this);
    }

    /** Back to the start of the output. */
    public void reset() {
        config = guide.space().initial;
        first = true;
        terminated = false;
        accepted = 0;
    }

    /** Whether the text {@code bytes} could follow now (for tests). */
    boolean canFollow(byte[] bytes) {
        ConfigSpace space = guide.space();
        return !terminated && space.walk(config, bytes, 0) != space.dead;
    }

    Config config() {
        return config;
    }

    boolean isFirst() {
        return first;
    }
}
