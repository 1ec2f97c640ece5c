package io.trtllm.runtime;

/**
 * A forward pass that a {@link ModelRunner} has started ({@link ModelRunner#launch}) and may still be computing.
 * {@link #await} waits for it and hands out its result; the runner may be given the next pass before that
 * (overlapped decoding: {@link ModelRunner#overlaps()}).
 */
@FunctionalInterface
public interface PendingPass {

    /**
     * Waits until the pass is done and returns what {@link ModelRunner#forward} would have returned. Called once per
     * pass, in launch order, on the thread that drives the runner.
     *
     * @throws RuntimeException what the pass failed with (a device error is also the runner's
     *                          {@link ModelRunner#failure()})
     */
    ForwardResult await();
}
