package io.trtllm.tokenizer;

/**
 * The chat template refused the conversation: it called {@code raise_exception(...)}, as templates
 * do for roles that do not alternate or a system message the model does not support, or the
 * conversation made it exceed a render limit ({@link TemplateLimitException}). The messages are at
 * fault, not the model, so this is an {@link IllegalArgumentException}.
 *
 * <p>{@link #getMessage()} names the template's file (for the server's log); {@link #reason()} is
 * the same text without it, for answers to clients, which have no business knowing server paths.
 */
public class ChatTemplateException extends IllegalArgumentException {
    private final String origin;
    private final String reason;

    /**
     * @param origin where the template came from (a file path)
     * @param reason what went wrong, without the origin (e.g. the template's own text)
     */
    public ChatTemplateException(String origin, String reason) {
        super(origin + ": " + reason);
        this.origin = origin;
        this.reason = reason;
    }

    /** Where the template came from (a file path): for logs, not for clients. */
    public String origin() {
        return origin;
    }

    /** What went wrong, without the template's origin: fit to show a client. */
    public String reason() {
        return reason;
    }
}
