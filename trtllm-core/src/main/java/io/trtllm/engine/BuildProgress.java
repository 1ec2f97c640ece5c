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
}
