package io.trtllm.executor;

import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.MaskedPass;
import io.trtllm.runtime.ModelRunner;
import io.trtllm.runtime.PendingPass;
import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.Sampler;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One iteration of the {@link Executor}'s loop, the three calls of its class comment:
 * {@code schedule → forward(pass) → postprocess}. What one sequence's part throws fails that request
 * alone; a failed pass fails the requests in it, unless the runner reports itself unusable
 * ({@link ModelRunner#failure()}): then the error goes up and stops the loop. Used by the loop's thread only.
 */
final class Step {
    // The executor's logger, as before the step had a class of its own: log configurations name it.
    private static final Logger LOG = LoggerFactory.getLogger(Executor.class);

    private final ModelRunner runner;
    private final KvCacheManager kv;
    private final Scheduler scheduler;
    private final Requests requests;
    private final int maxSeqLen;
    private final int vocab;
    private final Sampler sampler = new Sampler();
    /** Whether passes overlap ({@link ModelRunner#overlaps()}): one may stay in flight while the next is launched. */
    private final boolean overlap;
    /**
     * Whether guided sequences overlap too ({@link ModelRunner#takesMasksLater()}): a pass is launched before the
     * masks of its guided chunks are known, and gets them once the pass before it is awaited.
     */
    private final boolean masksLater;
    /** The pass in flight (overlapped decoding), or null. */
    private @Nullable Launched inFlight;
    // Read by Executor.stats() snapshots, which the loop's thread takes.
    private long iterations;
    private int lastBatchSize;
    private int lastBatchTokens;
    private long promptTokens;
    private long generatedTokens;

    Step(ModelRunner runner, KvCacheManager kv, Scheduler scheduler, Requests requests, int maxSeqLen) {
        this.runner = runner;
        this.kv = kv;
        this.scheduler = scheduler;
        this.requests = requests;
        this.maxSeqLen = maxSeqLen;
        this.vocab = runner.config().vocabSize();
        this.overlap = runner.overlaps();
        this.masksLater = overlap && runner.takesMasksLater();
        scheduler.copiesBlocks(runner.copiesBlocks());
    }

    /** Forward passes run so far. */
    long iterations() {
        return iterations;
    }

    /** Sequences in the last pass; 0 when the last iteration ran none (nothing scheduled, or it failed). */
    int lastBatchSize() {
        return lastBatchSize;
    }

    /** Tokens in the last pass; 0 when the last iteration ran none. */
    int lastBatchTokens() {
        return lastBatchTokens;
    }

    /** Prompt tokens of the sequences that produced their first token so far (each sequence once). */
    long promptTokens() {
        return promptTokens;
    }

    /** Tokens generated so far, over all sequences. */
    long generatedTokens() {
        return generatedTokens;
    }

    /** One iteration. False when nothing was scheduled (and no pass was in flight). */
    boolean run() {
        lastBatchSize = 0;
        lastBatchTokens = 0; // aborts and finishes change the counts without a pass
        if (overlap) {
            return runOverlapped();
        }
        List<ScheduledChunk> scheduled = schedule();
        if (scheduled.isEmpty()) {
            return false;
        }
        Pass pass = pass(scheduled);
        ForwardResult result = forward(pass);
        if (result != null) {
            postprocess(pass, result);
            result.release(); // nothing keeps the rows read in place: the runner may write their array again
            lastBatchSize = pass.size();
            lastBatchTokens = pass.tokens();
        }
        return true;
    }

    /**
     * One iteration of overlapped decoding (TensorRT-LLM's overlap scheduler): pass n is in flight; pass n + 1 is
     * scheduled, staged and launched, its decodes taking their tokens from n's choices on the device; then n's
     * tokens are read and processed (finish checks, listeners) while n + 1 computes. A sequence that n ends (an
     * end token) has computed one more position in n + 1, whose token is dropped: its blocks were freed after n + 1
     * was queued, so the next pass that reuses them writes after it. A pass that needs the host between passes
     * (logits rows, beams, token masks where the runner cannot take them late: {@link Pass#overlappable}) is awaited
     * as soon as the one before it is.
     *
     * <p>Guided sequences, with a runner that {@link ModelRunner#takesMasksLater takes masks late}: n + 1 is launched
     * without the masks of the guided chunks whose token n is still choosing; once n is processed (each guide then
     * knows its token), their masks are computed and given to n + 1 ({@link #giveLaterMasks}), which chooses its
     * tokens only then. The device computes n + 1's layers meanwhile: the host's guide work no longer sits between
     * two passes.
     */
    private boolean runOverlapped() {
        List<ScheduledChunk> scheduled = schedule();
        if (scheduled.isEmpty()) {
            return finishInFlight();
        }
        if (inFlight != null && needsHostTokens(scheduled)) {
            finishInFlight(); // a placeholder's next chunk cannot chain: its token must be on the host first
        }
        Pass pass = pass(scheduled);
        Launched launched = launch(pass);
        finishInFlight();
        // Only a pass launched with masks to come gets them (a runner's passes may all be MaskedPasses).
        if (launched != null && launched.pass().hasLaterMasks() && !giveLaterMasks(launched)) {
            launched = null; // the masks could not be given: the pass's requests failed
        }
        if (launched != null) {
            lastBatchSize = pass.size();
            lastBatchTokens = pass.tokens();
            if (launched.kept) {
                inFlight = launched;
            } else {
                complete(launched);
            }
        }
        return true;
    }

    /**
     * Gives the pass launched with masks to come ({@link Pass#hasLaterMasks}) the masks of its guided chunks, now that
     * the pass before it is processed; false when the runner refused them (the pass's requests then failed, as for a
     * failed launch). A sequence that ended meanwhile gets none (its token is dropped); one whose guide fails here
     * fails alone.
     */
    private boolean giveLaterMasks(Launched launched) {
        Pass pass = launched.pass();
        if (!(launched.pending() instanceof MaskedPass masked)) {
            throw new IllegalStateException(runner.backend() + " runner launched a pass with masks to come as a "
                    + launched.pending().getClass().getSimpleName() + ", not a MaskedPass");
        }
        for (int i = 0; i < pass.size(); i++) {
            if (!pass.masksLater(i)) {
                continue;
            }
            Sequence s = pass.scheduled(i).sequence();
            Bitmask mask = null;
            if (s.status != Sequence.Status.FINISHED) {
                try {
                    mask = Sampler.bitmask(s.sampling, vocab);
                } catch (RuntimeException | Error e) {
                    requests.failStep(s, "computing its token mask", e);
                }
            }
            pass.giveLaterMask(i, mask);
        }
        try {
            masked.masks(pass.laterMasks());
            return true;
        } catch (RuntimeException e) {
            if (runner.failure() == null) {
                try {
                    masked.await(); // the runner lets go of the pass (it chose nothing): the next launch may come
                } catch (RuntimeException expected) {
                    e.addSuppressed(expected);
                }
            }
            failLaunched(launched, e);
            return false;
        }
    }

    /** Whether a chunk of a sequence whose last token is still a placeholder cannot take it from the device. */
    private boolean needsHostTokens(List<ScheduledChunk> scheduled) {
        for (ScheduledChunk c : scheduled) {
            if (c.sequence().pending > 0 && !Pass.chainable(c, masksLater)) {
                return true;
            }
        }
        return false;
    }

    /** A launched pass, kept in flight ({@code kept}) or to be awaited right away. */
    private record Launched(Pass pass, PendingPass pending, boolean kept) {
    }

    /**
     * Launches {@code pass}; null when it is empty or its launch failed (as {@link #forward}). A pass that can stay in
     * flight has its positions counted as computed now and a placeholder for each token it chains to the next pass.
     */
    private @Nullable Launched launch(Pass pass) {
        if (pass.size() == 0) {
            return null;
        }
        PendingPass pending;
        try {
            int[] copies = scheduler.takeBlockCopies();
            if (copies.length > 0) {
                runner.copyBlocks(copies);
            }
            pending = pass.hasLaterMasks() ? runner.launch(pass.batch(), pass.laterMaskFlags()) : runner.launch(pass.batch());
            iterations++;
        } catch (RuntimeException e) {
            if (runner.failure() != null) {
                throw e;
            }
            LOG.warn("Forward pass of {} sequences failed: {}", pass.size(), e.toString());
            for (int i = 0; i < pass.size(); i++) {
                requests.fail(pass.scheduled(i).sequence(), e);
            }
            return null;
        }
        boolean kept = pass.overlappable();
        if (kept) {
            for (int i = 0; i < pass.size(); i++) {
                ScheduledChunk c = pass.scheduled(i);
                Sequence s = c.sequence();
                scheduler.launched(c);
                s.inFlight++;
                int end = c.start() + c.length();
                if (c.sample() && Pass.chainable(c, masksLater) && !s.endsByLength(end + 1, maxSeqLen)) {
                    s.appendPending(i); // the next pass computes position `end` with the token this pass chooses
                }
            }
        }
        return new Launched(pass, pending, kept);
    }

    /** Awaits and processes the pass in flight, if any; false when there was none. */
    private boolean finishInFlight() {
        Launched l = inFlight;
        if (l == null) {
            return false;
        }
        inFlight = null;
        complete(l);
        return true;
    }

    /** Awaits a launched pass and processes its result; a failed pass fails its requests (as {@link #forward}). */
    private void complete(Launched l) {
        Pass pass = l.pass();
        ForwardResult result;
        try {
            result = l.pending().await();
        } catch (RuntimeException e) {
            failLaunched(l, e);
            return;
        }
        if (l.kept()) {
            postprocessKept(pass, result);
        } else {
            postprocess(pass, result);
        }
        result.release();
    }

    /**
     * Fails the requests of a launched pass that failed ({@code e}), its in-flight counts undone; rethrows when the
     * runner is unusable.
     */
    private void failLaunched(Launched l, RuntimeException e) {
        Pass pass = l.pass();
        if (l.kept()) {
            for (int i = 0; i < pass.size(); i++) {
                pass.scheduled(i).sequence().inFlight--;
            }
        }
        if (runner.failure() != null) {
            throw e;
        }
        LOG.warn("Forward pass of {} sequences failed: {}", pass.size(), e.toString());
        for (int i = 0; i < pass.size(); i++) {
            requests.fail(pass.scheduled(i).sequence(), e);
        }
    }

    /** Awaits the pass in flight (the loop stops, or is idle); nothing when there is none. */
    void drain() {
        if (overlap) {
            finishInFlight();
        }
    }

    /**
     * {@link #postprocess} of a pass that was in flight: its positions were counted when it was launched
     * ({@link Scheduler#launched}), so they are only registered here; sequences that ended meanwhile (an end token
     * in the pass before, an abort) get nothing more.
     */
    private void postprocessKept(Pass pass, ForwardResult result) {
        for (int i = 0; i < pass.size(); i++) {
            ScheduledChunk c = pass.scheduled(i);
            Sequence s = c.sequence();
            s.inFlight--;
            if (s.status == Sequence.Status.FINISHED) {
                continue; // its token is dropped
            }
            try {
                scheduler.committed(c, pass.preemptionsAtLaunch(i));
                if (c.sample()) {
                    append(s, c.start() + c.length(), pass.nextToken(i, result, sampler, vocab));
                }
            } catch (RuntimeException | Error e) {
                requests.failStep(s, "after the forward pass", e);
            }
        }
    }

    /** The scheduler's chunks; the sequences whose admission or growth threw fail here. */
    private List<ScheduledChunk> schedule() {
        List<ScheduledChunk> scheduled = scheduler.hasWork() ? scheduler.schedule() : List.of();
        requests.failScheduled(scheduler.takeFailures());
        return scheduled;
    }

    /** The runner's chunks of the scheduled ones; a sequence whose chunk cannot be built fails and stays out. */
    private Pass pass(List<ScheduledChunk> scheduled) {
        var pass = new Pass(scheduled.size(), masksLater);
        for (ScheduledChunk c : scheduled) {
            Sequence s = c.sequence();
            if (s.status == Sequence.Status.FINISHED) {
                continue; // overlapped decoding: ended by the pass awaited since it was scheduled
            }
            requests.admitted(s);
            if (s.scheduledNanos == 0) {
                s.scheduledNanos = System.nanoTime();
            }
            try {
                pass.add(c, kv.blockTable(c.kvId()), vocab);
            } catch (RuntimeException | Error e) {
                requests.failStep(s, "preparing its chunk", e);
            }
        }
        return pass;
    }

    /**
     * Runs the pass; null when it is empty or failed. A failed pass fails the requests in it and the loop
     * serves on, unless the runner reports itself unusable: then the error goes on up and stops the loop.
     */
    private @Nullable ForwardResult forward(Pass pass) {
        if (pass.size() == 0) {
            return null;
        }
        try {
            int[] copies = scheduler.takeBlockCopies(); // copy on write of beams' shared blocks, before they are written
            if (copies.length > 0) {
                runner.copyBlocks(copies);
            }
            ForwardResult result = runner.forward(pass.batch());
            iterations++;
            return result;
        } catch (RuntimeException e) {
            if (runner.failure() != null) {
                throw e; // the runner is unusable: the loop stops, failing every request and refusing new ones
            }
            LOG.warn("Forward pass of {} sequences failed: {}", pass.size(), e.toString());
            for (int i = 0; i < pass.size(); i++) {
                requests.fail(pass.scheduled(i).sequence(), e);
            }
            return null;
        }
    }

    /**
     * Per chunk, in batch order: its positions committed to the KV cache, its prompt log-probabilities
     * reported, its next token chosen and reported, its end. What one sequence's step throws fails it alone.
     */
    private void postprocess(Pass pass, ForwardResult result) {
        Map<Sequence, List<Integer>> beamRows = new LinkedHashMap<>();
        for (int i = 0; i < pass.size(); i++) {
            ScheduledChunk c = pass.scheduled(i);
            Sequence s = c.sequence();
            if (s.status == Sequence.Status.FINISHED) {
                continue; // overlapped decoding: it ended in the pass before this one; its token is dropped
            }
            try {
                scheduler.computed(c);
                if (s.group != null) {
                    if (c.sample()) {
                        beamRows.computeIfAbsent(s, k -> new ArrayList<>()).add(i);
                    }
                    continue;
                }
                if (c.hasPromptLogprobRows()) {
                    pass.reportPromptLogprobs(i, result, vocab);
                }
                if (c.sample()) {
                    if (s.request.returnGenerationLogits()) {
                        pass.reportGenerationLogits(i, result, vocab);
                    }
                    append(s, c.start() + c.length(), pass.nextToken(i, result, sampler, vocab));
                }
            } catch (RuntimeException | Error e) {
                requests.failStep(s, "after the forward pass", e);
            }
        }
        for (Map.Entry<Sequence, List<Integer>> e : beamRows.entrySet()) {
            Sequence s = e.getKey();
            if (s.status == Sequence.Status.FINISHED) {
                continue; // one of its chunks failed it above
            }
            try {
                stepBeams(s, e.getValue(), pass, result);
            } catch (RuntimeException | Error error) {
                requests.failStep(s, "in its beam search step", error);
            }
        }
    }

    /** One step of a beam search from its beams' rows (chunks {@code rows} of the pass, in beam order). */
    private void stepBeams(Sequence s, List<Integer> rows, Pass pass, ForwardResult result) {
        BeamGroup group = s.group;
        if (!group.decoding()) {
            group.start(s.id, s.tokens(), s.computed); // the prompt is prefilled: its row starts the search
        }
        float[][] logits = new float[rows.size()][];
        int[] offsets = new int[rows.size()];
        for (int r = 0; r < rows.size(); r++) {
            // In place: the rows of a beam pass are ranges of one array that the result keeps (no copy per beam).
            logits[r] = result.logitsArray(rows.get(r));
            offsets[r] = result.logitsOffset(rows.get(r)) + pass.lastRowOffset(rows.get(r), vocab);
        }
        boolean done = group.advance(logits, offsets, vocab, kv);
        if (s.firstTokenNanos == 0) {
            s.firstTokenNanos = System.nanoTime();
        }
        if (done || group.config.reportEachStep()) {
            s.listener.onBeams(group.ranked(), done);
        }
        if (done) {
            requests.finish(s, group.finishReason());
        }
    }

    /**
     * Records a sequence's next token at {@code position} (a new last token, or its placeholder's), reports it, and
     * ends the sequence when the token does.
     */
    private void append(Sequence s, int position, SampledToken token) {
        s.place(position, token.tokenId());
        generatedTokens++;
        if (s.firstTokenNanos == 0) {
            s.firstTokenNanos = System.nanoTime();
            promptTokens += s.promptLength; // prefilled once: a recompute after preemption is not counted again
        }
        FinishReason reason = s.finishReason(token.tokenId(), maxSeqLen);
        s.listener.onToken(token, reason);
        if (reason != null) {
            requests.finish(s, reason);
        }
    }
}
