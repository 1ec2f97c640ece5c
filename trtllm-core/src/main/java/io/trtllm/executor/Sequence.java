package io.trtllm.executor;

import io.trtllm.sampling.SamplingState;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * One request's tokens and progress as the scheduler tracks them. State is counters: how many
 * positions have their keys/values in the cache ({@link #computed}), how many came from the
 * prefix cache, how many tokens were generated.
 */
final class Sequence {
    enum Status { WAITING, RUNNING, FINISHED }

    final long id;
    final GenerationRequest request;
    private int[] tokens;
    private int length;
    final int promptLength;
    /** Positions [0, computed) have KV in the cache. */
    int computed;
    /** Prompt tokens found in the prefix cache at the last admission. */
    int cachedPrefix;
    /** Times this sequence was preempted (its KV dropped, to be recomputed). */
    int preemptions;
    Status status = Status.WAITING;
    /** Whether it has run once (then it no longer counts against max_queue_size). */
    boolean admitted;
    final GenerationListener listener;
    /** Penalty counts and the random stream: kept across preemption, so a resumed draw continues it. */
    final SamplingState sampling;
    final long arrivalNanos = System.nanoTime();
    /** When it first ran in a forward pass (0 while it waits for that): the end of its queueing. */
    long scheduledNanos;
    long firstTokenNanos;
    /** Prompt positions whose log-probabilities went to the listener: [1, promptLogprobsReported). */
    int promptLogprobsReported = 1;
    /** Prompt positions whose logits rows went to the listener: [0, contextLogitsReported). */
    int contextLogitsReported;
    /** Set once the blocks for the whole length were reserved (GUARANTEED_NO_EVICT). */
    boolean reservedFullLength;
    /** The beams of a beam-search request (its prompt is this sequence's), or null for a sampled one. */
    final @Nullable BeamGroup group;
    /**
     * Overlapped decoding: placeholders at the end of the tokens for tokens a pass in flight is choosing on the
     * device (at most two: the pass in flight and the one launched after it), resolved in order
     * ({@link #place}). The scheduler counts them as tokens (the next pass computes them), the finish checks do not.
     */
    int pending;
    /** With {@link #pending} > 0: the chunk of the last launched pass whose chosen token the last placeholder is. */
    int chainedChunk = -1;
    /** Overlapped decoding: passes in flight (launched, not yet postprocessed) that compute this sequence. */
    int inFlight;

    Sequence(long id, GenerationRequest request, GenerationListener listener) {
        this(id, request, null, listener);
    }

    Sequence(long id, GenerationRequest request, @Nullable BeamSearchConfig beams, GenerationListener listener) {
        this.id = id;
        this.group = beams == null ? null
                : new BeamGroup(beams, request.promptTokenIds().length, request.maxTokens(), request.sampling());
        this.request = request;
        this.listener = listener;
        this.sampling = new SamplingState(request.sampling(), request.promptTokenIds(), request.sequenceIndex());
        this.promptLength = request.promptTokenIds().length;
        this.tokens = Arrays.copyOf(request.promptTokenIds(), promptLength + Math.min(request.maxTokens(), 256));
        this.length = promptLength;
    }

    int length() {
        return length;
    }

    /** Tokens generated so far; placeholders of tokens still being chosen ({@link #pending}) do not count. */
    int generated() {
        return length - pending - promptLength;
    }

    int token(int i) {
        return tokens[i];
    }

    /** Tokens [0, length) (a copy). */
    int[] tokens() {
        return Arrays.copyOf(tokens, length);
    }

    /** Tokens [from, to) (a copy). */
    int[] tokens(int from, int to) {
        return Arrays.copyOfRange(tokens, from, to);
    }

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, length + 1));
        }
        tokens[length++] = token;
    }

    /**
     * Appends a placeholder for the token a pass in flight chooses on the device for chunk {@code chunk} of that
     * pass: the next pass computes its position with the token the device chose ({@link #pending}).
     */
    void appendPending(int chunk) {
        append(0);
        pending++;
        chainedChunk = chunk;
    }

    /**
     * Records token {@code token} at position {@code position}: the oldest placeholder's ({@link #appendPending}),
     * or a new last token.
     *
     * @throws IllegalStateException when {@code position} is neither (a bug of the overlapped bookkeeping)
     */
    void place(int position, int token) {
        if (pending > 0 && position == length - pending) {
            tokens[position] = token;
            pending--;
        } else if (pending == 0 && position == length) {
            append(token);
        } else {
            throw new IllegalStateException("token for position " + position + " of a sequence of " + length
                    + " positions with " + pending + " placeholders");
        }
    }

    /**
     * Why the sequence ends with its last token {@code token}, or null when it goes on: an end token
     * ({@code STOP}), or max_tokens or {@code maxSeqLen} reached ({@code LENGTH}). Placeholders ({@link #pending})
     * do not count.
     */
    @Nullable FinishReason finishReason(int token, int maxSeqLen) {
        if (sampling.config().isEndToken(token)) {
            return FinishReason.STOP;
        }
        if (endsByLength(length - pending, maxSeqLen)) {
            return FinishReason.LENGTH;
        }
        return null;
    }

    /** Whether the sequence ends by length once it holds {@code positions} tokens (max_tokens or {@code maxSeqLen}). */
    boolean endsByLength(int positions, int maxSeqLen) {
        return positions - promptLength >= request.maxTokens() || positions >= maxSeqLen;
    }

    /** Tokens still to compute before the next token can be sampled. */
    int uncomputed() {
        return length - computed;
    }

    /**
     * Positions this sequence can reach: prompt + max_tokens. {@link Executor#submit} keeps that within
     * max_seq_len; should a sum past 2^31 - 1 get here anyway, it fails this sequence rather than wrap
     * to a negative length.
     */
    int maxLength() {
        long length = (long) promptLength + request.maxTokens();
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("request " + request.requestId() + ": prompt (" + promptLength
                    + " tokens) + max_tokens (" + request.maxTokens() + ") = " + length + " positions exceeds 2^31 - 1");
        }
        return (int) length;
    }
}
