package io.trtllm.api;

import org.jspecify.annotations.Nullable;

/**
 * One generated continuation of a prompt, as of the last update.
 *
 * @param index        which of the request's outputs this is (0 for a single output)
 * @param text         the text generated so far (detokenized, without the prompt)
 * @param tokenIds     the token ids generated so far
 * @param finishReason {@code stop} (end-of-sequence or a stop token), {@code length} (max_tokens or
 *                     the sequence-length limit), {@code cancelled} (aborted), or null while running
 * @param textDiff     text added since the previous update of a stream (the whole text otherwise)
 * @param tokenIdsDiff token ids added since the previous update of a stream (all otherwise)
 */
public record CompletionOutput(int index, String text, int[] tokenIds, @Nullable String finishReason, String textDiff,
                               int[] tokenIdsDiff) {
    public static final String STOP = "stop";
    public static final String LENGTH = "length";
    public static final String CANCELLED = "cancelled";

    public CompletionOutput {
        tokenIds = tokenIds.clone();
        tokenIdsDiff = tokenIdsDiff.clone();
    }

    /** A final output: the diffs are the whole output. */
    public CompletionOutput(int index, String text, int[] tokenIds, @Nullable String finishReason) {
        this(index, text, tokenIds, finishReason, text, tokenIds);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    @Override
    public int[] tokenIdsDiff() {
        return tokenIdsDiff.clone();
    }

    /** Whether generation of this output has ended. */
    public boolean finished() {
        return finishReason != null;
    }
}
