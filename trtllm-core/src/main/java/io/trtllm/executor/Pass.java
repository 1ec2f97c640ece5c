package io.trtllm.executor;

import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import io.trtllm.sampling.Bitmask;
import io.trtllm.sampling.SampledToken;
import io.trtllm.sampling.Sampler;
import io.trtllm.sampling.TokenSampling;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

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
    /** Whether the runner takes token masks after the launch ({@link io.trtllm.runtime.ModelRunner#takesMasksLater}). */
    private final boolean masksLater;
    /** Per chunk: whether its token mask is given after the launch ({@link #masksLater}), once its guide has caught up. */
    private final boolean[] later;
    /** Per chunk with {@link #later}: the mask given to the runner after the launch (null: none, its sequence ended). */
    private final @Nullable Bitmask[] laterMasks;
    private boolean anyLater;
    private boolean chains;
    private int tokens;

    /** A pass of up to {@code capacity} chunks whose runner does not take token masks after the launch. */
    Pass(int capacity) {
        this(capacity, false);
    }

    /**
     * @param masksLater whether the runner takes token masks after the launch: a guided sequence whose last token is
     *                   still being chosen by the pass in flight then gets its mask after that pass is awaited
     */
    Pass(int capacity, boolean masksLater) {
        scheduled = new ArrayList<>(capacity);
        chunks = new ArrayList<>(capacity);
        previous = new int[capacity];
        preemptions = new int[capacity];
        this.masksLater = masksLater;
        later = new boolean[capacity];
        laterMasks = new Bitmask[capacity];
    }

    /**
     * Whether the token chosen for chunk {@code c} can feed the next pass on the device (overlapped decoding): the
     * runner chooses it (argmax or draw) with nothing the host must compute first: no beam search, and no token mask
     * (which the chosen token advances) unless the runner takes masks after the launch ({@code masksLater}).
     */
    static boolean chainable(ScheduledChunk c, boolean masksLater) {
        LogitsMode mode = logitsMode(c);
        return c.sequence().group == null && (masksLater || c.sequence().sampling.mask() == null)
                && (mode == LogitsMode.ARGMAX || mode == LogitsMode.SAMPLE);
    }

    /**
     * Whether the pass can stay in flight while the next one is scheduled and launched: nothing of it comes back
     * but chosen tokens (no logits rows, no beam search; no token masks unless the runner takes them after the
     * launch), so the next pass depends on the host for nothing of this one but what it can give late.
     */
    boolean overlappable() {
        for (int i = 0; i < chunks.size(); i++) {
            SequenceChunk chunk = chunks.get(i);
            LogitsMode mode = chunk.logits();
            if (scheduled.get(i).sequence().group != null || (!masksLater && (chunk.masked() || later[i]))
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
     * runner chooses gets its mask's bitmask over {@code vocab} tokens, now, or after the launch
     * ({@link #giveLaterMask}) when its last token is still being chosen by the pass in flight and the runner takes
     * masks late.
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
        // The guide must first see the token the pass in flight is choosing: the mask comes after that pass.
        boolean maskLater = chosenByRunner && masksLater && s.pending > 0 && s.sampling.mask() != null;
        chunks.add(new SequenceChunk(c.tokens(), c.start(), blockTable, mode, sampling,
                chosenByRunner && !maskLater ? Sampler.bitmask(s.sampling, vocab) : null));
        later[scheduled.size()] = maskLater;
        anyLater |= maskLater;
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

    /** Whether some chunk's token mask is given after the launch ({@link #giveLaterMask}). */
    boolean hasLaterMasks() {
        return anyLater;
    }

    /** Per chunk, whether its token mask is given after the launch: {@code masksLater} of the runner's launch. */
    boolean[] laterMaskFlags() {
        return java.util.Arrays.copyOf(later, chunks.size());
    }

    /** Whether chunk {@code i}'s token mask is given after the launch. */
    boolean masksLater(int i) {
        return later[i];
    }

    /**
     * Sets the token mask of chunk {@code i}, launched with its mask to come (null: none, for a sequence that ended
     * meanwhile): what the runner chooses from, and what {@link #nextToken} checks the chosen token against.
     */
    void giveLaterMask(int i, @Nullable Bitmask mask) {
        if (!later[i]) {
            throw new IllegalStateException("chunk " + i + " came with its token mask");
        }
        laterMasks[i] = mask;
    }

    /** Per chunk, its mask given after the launch, or null: the runner's {@link io.trtllm.runtime.MaskedPass#masks}. */
    List<@Nullable Bitmask> laterMasks() {
        return java.util.Arrays.asList(java.util.Arrays.copyOf(laterMasks, chunks.size()));
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
                if (token >= 0 && !(later[i] ? laterMasks[i] == null || laterMasks[i].allows(token) : chunk.allows(token))) {
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
