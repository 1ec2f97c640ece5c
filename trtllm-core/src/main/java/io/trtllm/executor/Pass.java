package io.trtllm.executor;

import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.Sampler;
import io.trtllm.sampling.TokenSampling;
import java.util.ArrayList;
import java.util.List;

/**
 * One forward pass as the executor hands it to the runner: per scheduled chunk the runner's chunk, whose
 * logits mode asks for what the sequence needs ({@link #logitsMode}: the sampler decides, this maps); and
 * after the pass, what each sequence gets of the result: its next token ({@link #nextToken}), its prompt's
 * log-probabilities ({@link #reportPromptLogprobs}).
 */
final class Pass {
    private final List<ScheduledChunk> scheduled;
    private final List<SequenceChunk> chunks;
    /** Per chunk: the chunk of the pass in flight whose token is its token ({@link Batch#previousChunk}), or -1. */
    private final int[] previous;
    /** Per chunk: its sequence's preemptions when the pass was built (a later preemption drops its KV). */
    private final int[] preemptions;
    private boolean chains;
    private int tokens;

    Pass(int capacity) {
        scheduled = new ArrayList<>(capacity);
        chunks = new ArrayList<>(capacity);
        previous = new int[capacity];
        preemptions = new int[capacity];
    }

    /**
     * Whether the token chosen for chunk {@code c} can feed the next pass on the device (overlapped decoding): the
     * runner chooses it (argmax or draw) with nothing the host must compute first (no token mask, which the
     * chosen token advances; no beam search).
     */
    static boolean chainable(ScheduledChunk c) {
        LogitsMode mode = logitsMode(c);
        return c.sequence().group == null && c.sequence().sampling.mask() == null
                && (mode == LogitsMode.ARGMAX || mode == LogitsMode.SAMPLE);
    }

    /**
     * Whether the pass can stay in flight while the next one is scheduled and launched: nothing of it comes back
     * but chosen tokens (no logits rows, no token masks, no beam search), so the next pass depends on the host for
     * nothing of this one.
     */
    boolean overlappable() {
        for (int i = 0; i < chunks.size(); i++) {
            SequenceChunk chunk = chunks.get(i);
            LogitsMode mode = chunk.logits();
            if (scheduled.get(i).sequence().group != null || chunk.masked()
                    || !(mode == LogitsMode.NONE || mode == LogitsMode.ARGMAX || mode == LogitsMode.SAMPLE)) {
                return false;
            }
        }
        return true;
    }

    /**
     * What the runner computes for chunk {@code c}: every row when the request wants its prompt's
     * log-probabilities and the chunk holds prompt positions; nothing when no token follows the chunk; else
     * what the sampler needs of the next token's row ({@link Sampler#need}).
     */
    static LogitsMode logitsMode(ScheduledChunk c) {
        if (c.sequence().group != null) {
            return c.sample() ? LogitsMode.LAST : LogitsMode.NONE; // beam steps score whole rows
        }
        if (c.hasPromptLogprobRows()) {
            return LogitsMode.ALL;
        }
        if (!c.sample()) {
            return LogitsMode.NONE;
        }
        if (c.sequence().request.returnGenerationLogits()) {
            return LogitsMode.LAST;
        }
        return switch (Sampler.need(c.sequence().sampling)) {
            case ARGMAX -> LogitsMode.ARGMAX;
            case DRAW -> LogitsMode.SAMPLE;
            case ROW -> LogitsMode.LAST;
        };
    }

    /**
     * Adds chunk {@code c}, whose sequence's KV blocks are {@code blockTable}; a guided sequence whose token the
     * runner chooses gets its mask's bitmask over {@code vocab} tokens.
     */
    void add(ScheduledChunk c, int[] blockTable, int vocab) {
        Sequence s = c.sequence();
        LogitsMode mode = logitsMode(c);
        boolean chosenByRunner = mode == LogitsMode.ARGMAX || mode == LogitsMode.SAMPLE;
        // Overlapped decoding: a placeholder's token comes from the pass in flight, and its draw is the step after it.
        int chained = s.pending > 0 && c.start() == s.length() - 1 ? s.chainedChunk : -1;
        TokenSampling sampling = null;
        if (mode == LogitsMode.SAMPLE) {
            sampling = Sampler.tokenSampling(s.sampling);
            if (s.pending > 0) {
                sampling = new TokenSampling(sampling.temperature(), sampling.topK(), sampling.topP(), sampling.minP(),
                        sampling.key(), sampling.step() + s.pending);
            }
        }
        chunks.add(new SequenceChunk(c.tokens(), c.start(), blockTable, mode, sampling,
                chosenByRunner ? Sampler.bitmask(s.sampling, vocab) : null));
        previous[scheduled.size()] = chained;
        preemptions[scheduled.size()] = s.preemptions;
        chains |= chained >= 0;
        scheduled.add(c);
        tokens += c.length();
    }

    /** Chunk {@code i}'s sequence's preemptions when it was added. */
    int preemptionsAtLaunch(int i) {
        return preemptions[i];
    }

    int size() {
        return scheduled.size();
    }

    /** Tokens computed in this pass. */
    int tokens() {
        return tokens;
    }

    ScheduledChunk scheduled(int i) {
        return scheduled.get(i);
    }

    Batch batch() {
        return chains ? new Batch(chunks, java.util.Arrays.copyOf(previous, chunks.size())) : new Batch(chunks);
    }

    /**
     * The next token of chunk {@code i}'s sequence, recorded in its sampling state: the one the runner chose,
     * or the sampler's choice from the chunk's last logits row.
     *
     * @throws IllegalStateException when the runner chose no token, or one outside the vocabulary (a device
     *                               fault): the sequence fails here, before its next pass could fail all
     */
    SampledToken nextToken(int i, ForwardResult result, Sampler sampler, int vocab) {
        SequenceChunk chunk = chunks.get(i);
        Sequence s = scheduled.get(i).sequence();
        return switch (chunk.logits()) {
            case ARGMAX, SAMPLE -> {
                int token = result.tokenId(i);
                if (token >= vocab) {
                    throw new IllegalStateException("the runner chose token id " + token + ", outside the vocabulary of "
                            + vocab);
                }
                if (token >= 0 && !chunk.allows(token)) {
                    throw new IllegalStateException("the runner chose token id " + token
                            + ", which the sequence's token mask does not allow");
                }
                yield sampler.chosen(token, s.sampling);
            }
            case LAST, ALL -> sampler.sample(result.logitsArray(i), result.logitsOffset(i) + (chunk.logitsRows() - 1) * vocab, vocab,
                    s.sampling);
            case NONE -> throw new IllegalStateException("chunk " + i + " of the pass asked for no logits; no token follows it");
        };
    }

    /** Where chunk {@code i}'s last logits row starts in {@code result.logits(i)} (from {@code result.logitsOffset(i)} in its array). */
    int lastRowOffset(int i, int vocab) {
        return (chunks.get(i).logitsRows() - 1) * vocab;
    }

    /** Hands chunk {@code i}'s listener a copy of the logits row its next token is chosen from. */
    void reportGenerationLogits(int i, ForwardResult result, int vocab) {
        int from = result.logitsOffset(i) + (chunks.get(i).logitsRows() - 1) * vocab;
        scheduled.get(i).sequence().listener.onGenerationLogits(java.util.Arrays.copyOfRange(result.logitsArray(i), from,
                from + vocab));
    }

    /**
     * Reports to chunk {@code i}'s listener the log-probabilities of the prompt positions it computed, each
     * position once (a preempted sequence recomputes its prompt). Row r of the chunk predicts the token at
     * position {@code start + r + 1}.
     */
    void reportPromptLogprobs(int i, ForwardResult result, int vocab) {
        ScheduledChunk c = scheduled.get(i);
        Sequence s = c.sequence();
        float[] logits = result.logits(i);
        if (s.request.returnContextLogits()) {
            // Row r of the chunk is position start + r; each position once, as for the logprobs.
            int from = Math.max(c.start(), s.contextLogitsReported);
            int to = Math.min(c.start() + c.length(), s.promptLength);
            if (from < to) {
                float[] rows = java.util.Arrays.copyOfRange(logits, (from - c.start()) * vocab, (to - c.start()) * vocab);
                s.contextLogitsReported = to;
                s.listener.onContextLogits(from, to - from, rows);
            }
        }
        if (s.request.promptLogprobs() < 0) {
            return;
        }
        List<SampledToken> out = new ArrayList<>();
        int from = Math.max(c.start() + 1, s.promptLogprobsReported);
        for (int p = from; p < c.start() + c.length() + 1 && p < s.promptLength; p++) {
            out.add(Sampler.logprobs(logits, (p - 1 - c.start()) * vocab, vocab, s.token(p), s.request.promptLogprobs()));
        }
        if (!out.isEmpty()) {
            s.promptLogprobsReported = from + out.size();
            s.listener.onPromptLogprobs(from, out);
        }
    }
}
