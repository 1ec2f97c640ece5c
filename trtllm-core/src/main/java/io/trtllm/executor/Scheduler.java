package io.trtllm.executor;

import io.trtllm.api.config.SchedulerPolicy;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Decides each iteration's work: which sequences run, how many tokens each computes, and where
 * their keys and values go. Running sequences come first (oldest first: decodes and the rest of
 * chunked prompts), then waiting ones are admitted in arrival order while the budgets allow:
 * {@code max_batch_size} sequences, {@code max_num_tokens} tokens, free KV blocks. Admission never
 * skips the head of the queue, so no request starves.
 *
 * <p>Under {@link SchedulerPolicy#GUARANTEED_NO_EVICT} a request is admitted only
 * with blocks for its whole length (prompt + max_tokens), so it always finishes. Under
 * {@code MAX_UTILIZATION} only the prompt's blocks are taken; when a running sequence cannot grow,
 * the newest running sequence is preempted: its blocks are freed and it goes back to the front of
 * the queue, to be recomputed (prefix reuse makes that cheap where blocks survived).
 *
 * <p>A beam search is one sequence group ({@link BeamGroup}): its prompt is admitted and prefilled as one
 * sequence; then all its live beams are scheduled together or not at all, each beam's growth making its
 * blocks writable first (copy on write of a block its beams share: the runner copies it before the pass, or,
 * when it cannot, the beam recomputes that block's positions). A group is preempted as a whole, under either
 * policy, when it cannot grow: its blocks are freed and its search starts over from the prompt (beam search is
 * deterministic: it finds the same beams again). A guaranteed request is never preempted for a beam group.
 *
 * <p>Each sequence's step is confined: when admitting or growing one sequence throws (a bug, or data
 * the bookkeeping cannot handle), that sequence is taken out with its blocks freed and handed to the
 * executor through {@link #takeFailures}, and the iteration goes on for the others.
 *
 * <p>Not thread-safe: the executor loop owns it.
 */
final class Scheduler {
    /** A sequence taken out because its step threw; the executor fails its request with {@code error}. */
    record Failure(Sequence sequence, Throwable error) {
    }

    private final SchedulerConfig config;
    private final KvCacheManager kv;
    private final StepHook hook;
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private final List<Failure> failures = new ArrayList<>();
    /** Preemptions so far, over all sequences. */
    private long preemptions;
    /** Whether the runner copies KV blocks ({@code ModelRunner.copiesBlocks}); else beams recompute. */
    private boolean copiesBlocks;
    /** (source, target) pairs of blocks the runner copies before the next pass. */
    private final List<Integer> blockCopies = new ArrayList<>();

    Scheduler(SchedulerConfig config, KvCacheManager kv) {
        this(config, kv, StepHook.NONE);
    }

    Scheduler(SchedulerConfig config, KvCacheManager kv, StepHook hook) {
        this.config = config;
        this.kv = kv;
        this.hook = hook;
    }

    /** Whether copy-on-write blocks are copied by the runner (true) or recomputed (false, the default). */
    void copiesBlocks(boolean copies) {
        this.copiesBlocks = copies;
    }

    /** The blocks to copy before the pass of the last {@link #schedule}: (source, target) pairs. */
    int[] takeBlockCopies() {
        int[] pairs = blockCopies.stream().mapToInt(Integer::intValue).toArray();
        blockCopies.clear();
        return pairs;
    }

    void add(Sequence s) {
        waiting.addLast(s);
    }

    int waitingCount() {
        return waiting.size();
    }

    int runningCount() {
        return running.size();
    }

    long preemptions() {
        return preemptions;
    }

    boolean hasWork() {
        return !waiting.isEmpty() || !running.isEmpty();
    }

    /** Sequences in the scheduler (waiting and running), for abort and shutdown. */
    List<Sequence> all() {
        List<Sequence> all = new ArrayList<>(running);
        all.addAll(waiting);
        return all;
    }

    /**
     * The next iteration's chunks; empty when nothing can run. Sequences whose step threw are not in
     * them: they wait in {@link #takeFailures}.
     */
    List<ScheduledChunk> schedule() {
        List<ScheduledChunk> out = new ArrayList<>();
        int budget = config.maxNumTokens();
        boolean guaranteed = config.policy() == SchedulerPolicy.GUARANTEED_NO_EVICT;

        // Running sequences, oldest first.
        for (int i = 0; i < running.size() && out.size() < config.maxBatchSize() && budget > 0; i++) {
            Sequence s = running.get(i);
            try {
                hook.before(StepHook.Step.SCHEDULE, s.request.requestId());
                if (s.group != null && s.group.decoding()) {
                    int used = scheduleBeams(s, out, budget);
                    if (used < 0) {
                        i--; // the group was preempted: the list shifted
                    }
                    budget -= Math.max(used, 0);
                    continue;
                }
                if (s.uncomputed() == 0) {
                    continue; // overlapped decoding: its next token is being chosen in the pass in flight
                }
                int n = Math.min(s.uncomputed(), budget);
                if (n < s.uncomputed() && !config.enableChunkedPrefill()) {
                    continue; // a whole prompt does not fit this iteration; it runs when the budget allows
                }
                if (!s.reservedFullLength && !growOrPreempt(s, s.computed + n)) {
                    i--; // s itself was preempted: the list shifted
                    continue;
                }
                out.add(new ScheduledChunk(s, s.computed, n, s.computed + n == s.length()));
                budget -= n;
            } catch (RuntimeException | Error e) {
                takeOut(s, e, out);
                i--; // s was at i (preemption takes only from the tail, after it): the list shifted
            }
        }

        // Admissions, in arrival order, never skipping the head.
        while (!waiting.isEmpty() && running.size() < config.maxBatchSize() && out.size() < config.maxBatchSize()
                && budget > 0) {
            Sequence s = waiting.peekFirst();
            if (s.inFlight > 0) {
                break; // preempted while a pass in flight computes it: readmitted once that pass's result is in
            }
            try {
                hook.before(StepHook.Step.ADMIT, s.request.requestId());
                int[] tokens = s.tokens();
                // A beam group's growth is not reserved (its beams fork): it is admitted with its prompt's blocks.
                boolean reserve = guaranteed && s.group == null;
                int cover = reserve ? s.maxLength() : s.length();
                if (!kv.canAllocate(tokens, cover)) {
                    break;
                }
                int cached = kv.allocate(s.id, tokens, cover);
                if (s.request.needsPromptRows() && s.generated() == 0) {
                    // Prompt logprobs (and context logits) need every prompt position's logits: recompute the cached prefix
                    // (it writes the same keys and values into the shared blocks).
                    cached = 0;
                }
                int n = Math.min(s.length() - cached, budget);
                if (n < s.length() - cached && !config.enableChunkedPrefill()) {
                    kv.free(s.id);
                    break;
                }
                waiting.pollFirst();
                s.computed = cached;
                s.cachedPrefix = cached;
                s.reservedFullLength = reserve;
                s.status = Sequence.Status.RUNNING;
                running.add(s);
                out.add(new ScheduledChunk(s, cached, n, cached + n == s.length()));
                budget -= n;
            } catch (RuntimeException | Error e) {
                takeOut(s, e, out); // the head is gone: the next one gets its turn
            }
        }
        return out;
    }

    /** The sequences taken out since the last call, each with what its step threw. */
    List<Failure> takeFailures() {
        if (failures.isEmpty()) {
            return List.of();
        }
        List<Failure> taken = List.copyOf(failures);
        failures.clear();
        return taken;
    }

    /**
     * Takes {@code s} out after its step threw {@code error}: out of the queues and this iteration's
     * chunks, its blocks freed, recorded for {@link #takeFailures}. Errors of the JVM itself (out of
     * memory, stack overflow) are no one sequence's doing and go on up: they stop the loop.
     */
    private void takeOut(Sequence s, Throwable error, List<ScheduledChunk> out) {
        if (error instanceof VirtualMachineError fatal) {
            throw fatal;
        }
        running.remove(s);
        waiting.remove(s);
        out.removeIf(c -> c.sequence() == s);
        freeBlocks(s);
        s.status = Sequence.Status.FINISHED;
        failures.add(new Failure(s, error));
    }

    /**
     * Makes room for {@code s} to hold {@code length} positions, preempting the newest running
     * sequences if needed. Returns false if {@code s} itself had to be preempted.
     */
    private boolean growOrPreempt(Sequence s, int length) {
        while (!kv.canAppend(s.id, length)) {
            Sequence victim = victim(s);
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        kv.append(s.id, length);
        return true;
    }

    /**
     * Schedules every live beam of {@code s}'s group, or none: when the batch or the token budget cannot take
     * them all, the group waits for the next iteration (0). Each beam's blocks are made writable (copy on
     * write, growth), preempting the newest running sequences where blocks lack.
     *
     * @return tokens scheduled; -1 when the group itself was preempted
     */
    private int scheduleBeams(Sequence s, List<ScheduledChunk> out, int budget) {
        List<BeamGroup.Beam> beams = s.group.live();
        if (out.size() + beams.size() > config.maxBatchSize()) {
            return 0;
        }
        int blockSize = kv.blockSize();
        int tokens = 0;
        for (BeamGroup.Beam b : beams) {
            if (!copiesBlocks && b.computed % blockSize != 0 && kv.isShared(b.kvId, b.computed)) {
                b.computed -= b.computed % blockSize; // no copy: the beam recomputes the block's positions into its own
            }
            tokens += b.length() - b.computed;
        }
        if (tokens > budget) {
            return 0;
        }
        for (BeamGroup.Beam b : beams) {
            while (kv.blocksToWrite(b.kvId, b.computed, b.length()) > kv.freeBlocks()) {
                Sequence victim = victim(s);
                preempt(victim);
                if (victim == s) {
                    return -1;
                }
            }
            for (int id : kv.prepareWrite(b.kvId, b.computed, b.length())) {
                blockCopies.add(id);
            }
        }
        for (BeamGroup.Beam b : beams) {
            out.add(new ScheduledChunk(s, b.computed, b.length() - b.computed, true, b));
        }
        return tokens;
    }

    /**
     * Whom to preempt so that {@code s} can grow: the newest running sequence, but never a guaranteed one for a
     * beam group ({@code s} itself then, which is never guaranteed while it decodes).
     */
    private Sequence victim(Sequence s) {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence candidate = running.get(i);
            if (candidate == s || !candidate.reservedFullLength || s.reservedFullLength) {
                return candidate;
            }
        }
        return s;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        freeBlocks(s);
        if (s.group != null) {
            s.group.restart(kv);
        }
        s.computed = 0;
        s.preemptions++;
        preemptions++;
        s.status = Sequence.Status.WAITING;
        waiting.addFirst(s);
    }

    /**
     * Overlapped decoding: counts a chunk's positions as computed when its pass is launched, so that the next
     * schedule, made while the pass computes, goes on from them; {@link #committed} registers them afterwards.
     */
    void launched(ScheduledChunk c) {
        c.sequence().computed = c.start() + c.length();
    }

    /**
     * Overlapped decoding: registers the full blocks of a chunk counted by {@link #launched}, once its pass is done;
     * nothing when the sequence was preempted since ({@code preemptions} then differs: its blocks are gone).
     */
    void committed(ScheduledChunk c, int preemptionsAtLaunch) {
        Sequence s = c.sequence();
        hook.before(StepHook.Step.COMMIT, s.request.requestId());
        if (s.preemptions == preemptionsAtLaunch && s.status == Sequence.Status.RUNNING) {
            kv.commit(s.id, s.tokens(), c.start() + c.length());
        }
    }

    /** Records that a chunk's positions are now in the cache (and registers full blocks for reuse). */
    void computed(ScheduledChunk c) {
        Sequence s = c.sequence();
        hook.before(StepHook.Step.COMMIT, s.request.requestId());
        BeamGroup.Beam beam = c.beam();
        if (beam != null) {
            beam.computed = c.start() + c.length();
            kv.commit(beam.kvId, beam.tokens, beam.computed);
            return;
        }
        s.computed = c.start() + c.length();
        kv.commit(s.id, s.tokens(), s.computed);
    }

    /** Removes a sequence (finished, aborted or failed) and returns its blocks. */
    void remove(Sequence s) {
        if (running.remove(s)) {
            freeBlocks(s); // only running sequences hold blocks; waiting ones never or no longer do
        } else {
            waiting.remove(s);
        }
        s.status = Sequence.Status.FINISHED;
    }

    /** Frees what {@code s} holds: its own blocks, and its beams' (a beam may hold them under its id). */
    private void freeBlocks(Sequence s) {
        if (s.group != null) {
            s.group.release(kv);
        }
        if (kv.contains(s.id)) {
            kv.free(s.id);
        }
    }
}
