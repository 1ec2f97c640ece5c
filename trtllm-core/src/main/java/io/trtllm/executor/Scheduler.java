package io.trtllm.executor;

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
 * <p>Under {@link SchedulerConfig.CapacityPolicy#GUARANTEED_NO_EVICT} a request is admitted only
 * with blocks for its whole length (prompt + max_tokens), so it always finishes. Under
 * {@code MAX_UTILIZATION} only the prompt's blocks are taken; when a running sequence cannot grow,
 * the newest running sequence is preempted: its blocks are freed and it goes back to the front of
 * the queue, to be recomputed (prefix reuse makes that cheap where blocks survived).
 *
 * <p>Not thread-safe: the executor loop owns it.
 */
final class Scheduler {
    private final SchedulerConfig config;
    private final KvCacheManager kv;
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();

    Scheduler(SchedulerConfig config, KvCacheManager kv) {
        this.config = config;
        this.kv = kv;
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

    boolean hasWork() {
        return !waiting.isEmpty() || !running.isEmpty();
    }

    /** Sequences in the scheduler (waiting and running), for abort and shutdown. */
    List<Sequence> all() {
        List<Sequence> all = new ArrayList<>(running);
        all.addAll(waiting);
        return all;
    }

    /** The next iteration's chunks; empty when nothing can run. */
    List<ScheduledChunk> schedule() {
        List<ScheduledChunk> out = new ArrayList<>();
        int budget = config.maxNumTokens();
        boolean guaranteed = config.policy() == SchedulerConfig.CapacityPolicy.GUARANTEED_NO_EVICT;

        // Running sequences, oldest first.
        for (int i = 0; i < running.size() && out.size() < config.maxBatchSize() && budget > 0; i++) {
            Sequence s = running.get(i);
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
        }

        // Admissions, in arrival order, never skipping the head.
        while (!waiting.isEmpty() && running.size() < config.maxBatchSize() && out.size() < config.maxBatchSize()
                && budget > 0) {
            Sequence s = waiting.peekFirst();
            int[] tokens = s.tokens();
            int cover = guaranteed ? s.maxLength() : s.length();
            if (!kv.canAllocate(tokens, cover)) {
                break;
            }
            int cached = kv.allocate(s.id, tokens, cover);
            if (s.request.promptLogprobs() >= 0 && s.generated() == 0) {
                // Prompt logprobs need every prompt position's logits: recompute the cached prefix
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
        }
        return out;
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
        s.status = Sequence.Status.WAITING;
        waiting.addFirst(s);
    }

    /** Records that a chunk's positions are now in the cache (and registers full blocks for reuse). */
    void computed(ScheduledChunk c) {
        Sequence s = c.sequence();
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
