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

    Scheduler(SchedulerConfig config, KvCacheManager kv) {
        this(config, kv, StepHook.NONE);
    }

    Scheduler(SchedulerConfig config, KvCacheManager kv, StepHook hook) {
        this.config = config;
        this.kv = kv;
        this.hook = hook;
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
            try {
                hook.before(StepHook.Step.ADMIT, s.request.requestId());
                int[] tokens = s.tokens();
                int cover = guaranteed ? s.maxLength() : s.length();
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
                s.reservedFullLength = guaranteed;
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
        if (kv.contains(s.id)) {
            kv.free(s.id);
        }
        s.status = Sequence.Status.FINISHED;
        failures.add(new Failure(s, error));
    }

    /**
     * Makes room for {@code s} to hold {@code length} positions, preempting the newest running
     * sequences if needed. Returns false if {@code s} itself had to be preempted.
     */
    private boolean growOrPreempt(Sequence s, int length) {
        while (!kv.canAppend(s.id, length)) {
            Sequence victim = running.getLast();
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        kv.append(s.id, length);
        return true;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        kv.free(s.id);
        s.computed = 0;
        s.preemptions++;
        preemptions++;
        s.status = Sequence.Status.WAITING;
        waiting.addFirst(s);
    }

    /** Records that a chunk's positions are now in the cache (and registers full blocks for reuse). */
    void computed(ScheduledChunk c) {
        Sequence s = c.sequence();
        hook.before(StepHook.Step.COMMIT, s.request.requestId());
        s.computed = c.start() + c.length();
        kv.commit(s.id, s.tokens(), s.computed);
    }

    /** Removes a sequence (finished, aborted or failed) and returns its blocks. */
    void remove(Sequence s) {
        if (running.remove(s)) {
            kv.free(s.id); // only running sequences hold blocks; waiting ones never or no longer do
        } else {
            waiting.remove(s);
        }
        s.status = Sequence.Status.FINISHED;
    }
}
