package io.trtllm.sampling.guided;

import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.SamplingState;
import io.trtllm.sampling.TokenMask;

/**
 * A sequence's {@link TokenMask} from its guide: the sampler's seam ({@link SamplingState#mask}) over a
 * {@link GuideMatcher}. Before each mask it catches the matcher up with the tokens the sequence took since
 * (wherever they were chosen: on the host, or by a runner given the bitmask), so nothing else has to tell it
 * of them. Masks are the guide's shared {@link Bitmask}es (one per configuration), so applying one twice (the
 * draw, then the log-probabilities) costs a cache look-up, and handing one to a runner copies nothing.
 *
 * <p>End tokens (the vocabulary's end-of-sequence ids) are allowed only where the output is a complete match;
 * an output still inside a value when max_tokens runs out ends with finish reason {@code length}, as any other.
 * Not thread-safe: one per sequence, on the thread that samples it.
 */
public final class GuidedTokenMask implements TokenMask {
    private final GuideMatcher matcher;
    private final boolean masksLogprobs;
    /** Output tokens of the sequence the matcher has accepted. */
    private int synced;

    /**
     * A mask over {@code matcher}, which stands where the sequence's output starts (it is not copied).
     *
     * @param masksLogprobs whether the sequence's log-probabilities are of the masked row (beam search's steps)
     *                      rather than the raw one ({@link TokenMask#masksLogprobs})
     */
    public GuidedTokenMask(GuideMatcher matcher, boolean masksLogprobs) {
        this.matcher = matcher;
        this.masksLogprobs = masksLogprobs;
    }

    @Override
    public boolean masksLogprobs() {
        return masksLogprobs;
    }

    /** Where the sequence stands in its guide (caught up at the last mask). */
    public GuideMatcher matcher() {
        return matcher;
    }

    @Override
    public void apply(float[] logits, int offset, int vocab, SamplingState state) {
        current(state).apply(logits, offset, vocab);
    }

    @Override
    public boolean hasBitmask() {
        return true;
    }

    @Override
    public void fillBitmask(long[] target, SamplingState state) {
        current(state).copyTo(target);
    }

    /** The guide's shared mask for this point: nothing allocated or copied (the per-step path of a runner's row). */
    @Override
    public Bitmask bitmask(SamplingState state, int vocab) {
        return current(state);
    }

    /** The mask after the sequence's output so far: the matcher caught up, its configuration's shared mask. */
    private Bitmask current(SamplingState state) {
        catchUp(state);
        return matcher.nextTokenBitmask();
    }

    /** Advances the matcher past the output tokens the sequence took since the last mask. */
    private void catchUp(SamplingState state) {
        int generated = state.generatedTokens();
        for (; synced < generated; synced++) {
            int token = state.token(state.promptTokens() + synced);
            if (!matcher.accept(token)) {
                throw new IllegalStateException("guided decoding: output token " + synced + " (id " + token
                        + ") does not continue the guide's " + matcher.guide().params().kind().name().toLowerCase(
                        java.util.Locale.ROOT) + " output");
            }
        }
    }
}
