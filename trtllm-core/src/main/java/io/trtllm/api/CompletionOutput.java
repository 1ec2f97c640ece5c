package io.trtllm.api;

/**
 * One generated continuation of a prompt.
 *
 * @param index        which of the request's outputs this is (0 for a single output)
 * @param text         the generated text (detokenized, without the prompt)
 * @param tokenIds     the generated token ids
 * @param finishReason {@code stop} (end-of-sequence or a stop token), {@code length} (max_tokens or
 *                     the sequence-length limit), or null while unfinished
 */
public record CompletionOutput(int index, String text, int[] tokenIds, @org.jspecify.annotations.Nullable String finishReason) {
    public static final String STOP = "stop";
    public static final String LENGTH = "length";

    public CompletionOutput {
        tokenIds = tokenIds.clone();
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }
}
