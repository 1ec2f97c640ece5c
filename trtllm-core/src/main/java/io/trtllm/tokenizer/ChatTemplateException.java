package io.trtllm.tokenizer;

/**
 * The chat template refused the conversation: it called {@code raise_exception(...)}, as templates
 * do for roles that do not alternate or a system message the model does not support. The messages
 * are at fault, not the model, so this is an {@link IllegalArgumentException}; the message names
 * the template's file and quotes the template's own text.
 */
public final class ChatTemplateException extends IllegalArgumentException {
    public ChatTemplateException(String message) {
        super(message);
    }
}
