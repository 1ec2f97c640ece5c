package io.trtllm.api.config;

import java.util.List;

/**
 * What a generation must look like, with the kinds of TensorRT-LLM's {@code GuidedDecodingParams}
 * (and vLLM's {@code choice}):
 *
 * <ul>
 *   <li>{@link Kind#JSON_OBJECT}: a JSON object, any (OpenAI's {@code response_format: json_object});</li>
 *   <li>{@link Kind#JSON}: a JSON value valid against a JSON Schema (docs/GUIDED-DECODING.md lists the
 *       keywords);</li>
 *   <li>{@link Kind#REGEX}: text the regular expression matches in full;</li>
 *   <li>{@link Kind#CHOICE}: exactly one of the given strings;</li>
 *   <li>{@link Kind#GRAMMAR}: text of a context-free grammar in llama.cpp's GBNF, from rule {@code root};</li>
 *   <li>{@link Kind#STRUCTURAL_TAG}: a structure of literal tags around JSON values (xgrammar's structural-tag
 *       format, a subset: docs/GUIDED-DECODING.md), e.g. the tool calls of a model's format.</li>
 * </ul>
 *
 * @param kind    the kind
 * @param text    the schema, pattern, grammar or structural tag (JSON); empty for JSON_OBJECT and CHOICE
 * @param choices the strings of a CHOICE; empty otherwise
 * @param compactWhitespace for the JSON kinds: no whitespace between JSON tokens (vLLM's
 *                          {@code disable_any_whitespace}); otherwise up to 16 whitespace characters wherever JSON
 *                          allows it, which a model that likes newlines may spend its tokens on
 */
public record GuidedDecodingParams(Kind kind, String text, List<String> choices, boolean compactWhitespace) {
    public enum Kind { JSON_OBJECT, JSON, REGEX, CHOICE, GRAMMAR, STRUCTURAL_TAG }

    public GuidedDecodingParams {
        if (kind == null || text == null || choices == null) {
            throw new IllegalArgumentException("kind, text and choices must not be null");
        }
        choices = List.copyOf(choices);
        switch (kind) {
            case JSON_OBJECT -> require(text.isEmpty() && choices.isEmpty(), "json_object takes no text or choices");
            case CHOICE -> require(text.isEmpty() && !choices.isEmpty(), "choice needs at least one string");
            default -> require(!text.isBlank() && choices.isEmpty(), kind.name().toLowerCase(java.util.Locale.ROOT)
                    + " needs its text (a schema, pattern or grammar)");
        }
    }

    /** A guide of {@code kind} with JSON's usual whitespace. */
    public GuidedDecodingParams(Kind kind, String text, List<String> choices) {
        this(kind, text, choices, false);
    }

    /** This guide without whitespace between JSON tokens ({@code true}) or with it. */
    public GuidedDecodingParams withCompactWhitespace(boolean compact) {
        return new GuidedDecodingParams(kind, text, choices, compact);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Any JSON object. */
    public static GuidedDecodingParams jsonObject() {
        return new GuidedDecodingParams(Kind.JSON_OBJECT, "", List.of());
    }

    /** A JSON value valid against {@code schema} (JSON Schema text). */
    public static GuidedDecodingParams json(String schema) {
        return new GuidedDecodingParams(Kind.JSON, schema, List.of());
    }

    /** Text {@code pattern} matches in full. */
    public static GuidedDecodingParams regex(String pattern) {
        return new GuidedDecodingParams(Kind.REGEX, pattern, List.of());
    }

    /** One of {@code choices}, exactly. */
    public static GuidedDecodingParams choice(List<String> choices) {
        return new GuidedDecodingParams(Kind.CHOICE, "", choices);
    }

    /** Text of the GBNF grammar {@code gbnf} (llama.cpp's format), from rule {@code root}. */
    public static GuidedDecodingParams grammar(String gbnf) {
        return new GuidedDecodingParams(Kind.GRAMMAR, gbnf, List.of());
    }

    /**
     * Text of a structural tag: JSON in xgrammar's format, {@code {"type": "structural_tag", "format": {...}}}
     * with the format types {@code const_string}, {@code json_schema}, {@code regex}, {@code grammar},
     * {@code sequence}, {@code or}, {@code tag} and {@code tags_with_separator}.
     */
    public static GuidedDecodingParams structuralTag(String json) {
        return new GuidedDecodingParams(Kind.STRUCTURAL_TAG, json, List.of());
    }
}
