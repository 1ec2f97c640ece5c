package io.trtllm.sampling;

import java.util.Arrays;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * What sampling remembers about one sequence: its config, its own random generator, and the tokens
 * so far (prompt, then output) with the counts the penalties need. One per sequence (each of a
 * request's n sequences has its own); not thread-safe — the executor thread that samples owns it.
 *
 * <p>It outlives preemption: a recomputed sequence keeps its state, so its draws continue where they
 * stopped and results depend only on the seed, never on batch composition or scheduling.
 */
public final class SamplingState {
    private final SamplingConfig config;
    private final RandomGenerator random;
    private long drawKey;
    private boolean drawKeyTaken;
    private final int promptTokens;
    private int[] tokens;
    private int length;
    /** Tokens of prompt and output, for the repetition penalty; null when that penalty is off. */
    private final @Nullable TokenCounts contextCounts;
    /** Tokens of the output only, for presence and frequency penalties; null when those are off. */
    private final @Nullable TokenCounts outputCounts;
    /** Which tokens may come next (guided decoding); null when any may. */
    private @Nullable TokenMask mask;

    /**
     * State for sequence {@code sequenceIndex} of a request, drawing from
     * {@link SamplingConfig#newRandom(int) config.newRandom(sequenceIndex)}.
     *
     * @param promptTokenIds the prompt as the model sees it (after any truncation)
     */
    public SamplingState(SamplingConfig config, int[] promptTokenIds, int sequenceIndex) {
        this(config, promptTokenIds, config.newRandom(sequenceIndex));
    }

    /** State drawing from the given generator (tests, or callers with their own seeding). */
    public SamplingState(SamplingConfig config, int[] promptTokenIds, RandomGenerator random) {
        this.config = config;
        this.random = random;
        this.promptTokens = promptTokenIds.length;
        this.tokens = Arrays.copyOf(promptTokenIds, Math.max(16, promptTokenIds.length * 2));
        this.length = promptTokenIds.length;
        this.contextCounts = config.repetitionPenalty() != 1f ? new TokenCounts() : null;
        this.outputCounts = config.presencePenalty() != 0f || config.frequencyPenalty() != 0f ? new TokenCounts() : null;
        if (contextCounts != null) {
            for (int token : promptTokenIds) {
                contextCounts.add(token);
            }
        }
        TokenMask.Source guide = config.guide();
        this.mask = guide != null ? guide.newMask() : null;
    }

    public SamplingConfig config() {
        return config;
    }

    /** This sequence's random generator; every draw of the sequence comes from it. */
    public RandomGenerator random() {
        return random;
    }

    /**
     * The key of this sequence's plain draws ({@link RowNeed#DRAW}, and the same draws made on the host when
     * the row comes there for log-probabilities), by the runner or on the host: taken from
     * {@link #random()} at the first such draw, then fixed. Every plain draw uses it,
     * wherever it is made, so the key depends only on the seed and the sequence's own earlier draws (those
     * made while min_tokens still banned the end), never on logprobs, the batch or a preemption; greedy
     * sequences never take it.
     */
    public long drawKey() {
        if (!drawKeyTaken) {
            drawKey = random.nextLong();
            drawKeyTaken = true;
        }
        return drawKey;
    }

    /** Records a generated token (the {@link Sampler} does this for the tokens it picks). */
    public void append(int tokenId) {
        if (tokenId < 0) {
            throw new IllegalArgumentException("token id must be >= 0, got " + tokenId);
        }
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length * 2);
        }
        tokens[length++] = tokenId;
        if (contextCounts != null) {
            contextCounts.add(tokenId);
        }
        if (outputCounts != null) {
            outputCounts.add(tokenId);
        }
    }

    /** Number of prompt tokens. */
    public int promptTokens() {
        return promptTokens;
    }

    /** Number of generated tokens so far. */
    public int generatedTokens() {
        return length - promptTokens;
    }

    /** Number of tokens so far, prompt and output. */
    public int length() {
        return length;
    }

    /** Token {@code i} of the sequence (prompt first, then output). */
    public int token(int i) {
        if (i < 0 || i >= length) {
            throw new IndexOutOfBoundsException("token " + i + " of " + length);
        }
        return tokens[i];
    }

    /** The generated token ids. */
    public int[] outputTokenIds() {
        return Arrays.copyOfRange(tokens, promptTokens, length);
    }

    /**
     * Restricts the tokens this sequence may take next to those {@code mask} leaves (null: any), from the next
     * token on: applied before the warpers and the draw, by {@link LogitsProcessor#process} on the host or, for a
     * mask with a bitmask form and nothing else touching the row, by the runner ({@link Sampler#need}).
     */
    public void mask(@Nullable TokenMask mask) {
        this.mask = mask;
    }

    /** The mask of the tokens this sequence may take next, or null when any may. */
    public @Nullable TokenMask mask() {
        return mask;
    }

    /**
     * Whether nothing changes the next row's logits before the warpers: no penalty or ban, min_tokens no
     * longer banning the end tokens, no mask. The row can then be reduced where it is (argmax, or a draw as
     * {@link TokenSampler} makes it).
     */
    boolean rowUntouched() {
        return !config.penalizes() && !belowMinTokens() && mask == null;
    }

    /**
     * Whether a mask is all that changes the next row's logits before the warpers: the row can then be chosen
     * from as an untouched one would be (argmax, or {@link TokenSampler}'s draw with the sequence's key), after
     * the mask, by a runner given the mask's bitmask or on the host.
     */
    boolean onlyMasked() {
        return mask != null && !config.penalizes() && !belowMinTokens();
    }

    /** Whether {@link LogitsProcessor#applyMinTokens} still bans the end tokens. */
    boolean belowMinTokens() {
        return generatedTokens() < config.minTokens() && config.endIds().length > 0;
    }

    int[] tokenArray() {
        return tokens;
    }

    @Nullable TokenCounts contextCounts() {
        return contextCounts;
    }

    @Nullable TokenCounts outputCounts() {
        return outputCounts;
    }
}
