package io.trtllm.engine;

/**
 * Progress of an engine build, for UIs: called after each checkpoint tensor is written, from the
 * building thread. Bytes count the checkpoint's tensor bytes read.
 */
@FunctionalInterface
public interface BuildProgress {
    /** Ignores progress. */
    BuildProgress NONE = (tensorsDone, tensorsTotal, bytesDone, bytesTotal) -> { };

    void update(int tensorsDone, int tensorsTotal, long bytesDone, long bytesTotal);

    /**
     * Called once on the building thread when an engine is about to be built, before anything is
     * written: a check that throws here stops the build and leaves no cache entry behind (the
     * loader checks the tokenizer here, so that a missing {@code tokenizer.json} costs no build).
     */
    default void beforeBuild() {
    }
}
