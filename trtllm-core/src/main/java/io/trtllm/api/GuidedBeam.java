package io.trtllm.api;

import io.trtllm.executor.BeamGuide;
import io.trtllm.sampling.TokenBitmask;
import io.trtllm.sampling.guided.GuideMatcher;
import org.jspecify.annotations.Nullable;

/** A beam's place in a compiled guide: its matcher, never advanced in place (each step forks it). */
record GuidedBeam(GuideMatcher matcher) implements BeamGuide {

    @Override
    public void mask(float[] row, int offset, int vocab) {
        long[] words = new long[TokenBitmask.words(vocab)];
        matcher.fillNextTokenMask(words);
        TokenBitmask.apply(words, row, offset, vocab);
    }

    @Override
    public @Nullable BeamGuide after(int token) {
        GuideMatcher next = matcher.fork();
        return next.accept(token) ? new GuidedBeam(next) : null;
    }

    @Override
    public boolean terminated() {
        return matcher.isTerminated();
    }
}
