package io.trtllm.api;

import org.jspecify.annotations.Nullable;

/**
 * Rendering the chat template for a conversation went past one of its limits: it ran longer than
 * the render time limit, or its output, a string or a list it built would have been larger than
 * allowed. The render was stopped there and its thread is free again.
 *
 * <p>It is a {@link ChatTemplateException} (so an {@link IllegalArgumentException}): with the
 * templates models ship, only a conversation far beyond any context length gets here, and HTTP
 * layers answer it with 400. A template that runs away on every conversation (a hostile or broken
 * checkpoint) fails the same way on every request, and its {@link #getMessage()} names its file.
 */
public final class TemplateLimitException extends ChatTemplateException {
    /**
     * @param origin where the template came from (a file path)
     * @param reason which limit was exceeded, with its value
     * @param cause  the tokenizer's error, or null
     */
    public TemplateLimitException(String origin, String reason, @Nullable Throwable cause) {
        super(origin, reason, cause);
    }
}
