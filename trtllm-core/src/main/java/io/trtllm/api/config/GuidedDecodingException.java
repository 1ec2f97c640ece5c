package io.trtllm.api.config;

import org.jspecify.annotations.Nullable;

/**
 * A guide that cannot be compiled: a JSON Schema that is not valid or uses a keyword we do not
 * support, a regular expression or grammar with a syntax error or a construct we do not support, a
 * language that matches nothing, or one too large to compile. The message names the problem (the
 * keyword and its JSON pointer, the rule, the position in the pattern) and nothing about the server:
 * an API may send it to its client as a 400.
 */
public final class GuidedDecodingException extends IllegalArgumentException {
    private final @Nullable String keyword;
    private final @Nullable String pointer;

    /** A guide refused for {@code message} (which must name the problem and nothing of the server). */
    public GuidedDecodingException(String message) {
        this(message, null, null);
    }

    /** A JSON Schema refused at {@code keyword} of the schema at {@code pointer}. */
    public GuidedDecodingException(String message, @Nullable String keyword, @Nullable String pointer) {
        super(message);
        this.keyword = keyword;
        this.pointer = pointer;
    }

    /** For JSON Schema errors: the keyword at fault ({@code "allOf"}), or null. */
    public @Nullable String keyword() {
        return keyword;
    }

    /** For JSON Schema errors: the JSON pointer of the schema at fault ({@code "/properties/a"}), or null. */
    public @Nullable String pointer() {
        return pointer;
    }
}
