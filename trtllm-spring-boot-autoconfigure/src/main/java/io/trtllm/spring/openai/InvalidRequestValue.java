package io.trtllm.spring.openai;

import java.util.Locale;
import org.jspecify.annotations.Nullable;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.databind.exc.MismatchedInputException;

/**
 * A value a request's own deserializer refused, with the client-facing message and the field to name
 * ({@code param}; null: the path Jackson records as the exception travels up). A Jackson exception, so
 * that binding reports it like its own mismatches.
 */
final class InvalidRequestValue extends MismatchedInputException {
    private final @Nullable String param;
    private final @Nullable String expected;

    private InvalidRequestValue(JsonParser p, @Nullable String param, @Nullable String expected, String message) {
        super(p, message);
        this.param = param;
        this.expected = expected;
    }

    /** A value with a message of its own. */
    static InvalidRequestValue of(JsonParser p, String param, String message) {
        return new InvalidRequestValue(p, param, null, message);
    }

    /** A value of the wrong JSON type; the message is OpenAI's "Invalid type for ..." once the field is known. */
    static InvalidRequestValue type(JsonParser p, @Nullable String param, String expected) {
        return new InvalidRequestValue(p, param, expected, "expected " + expected);
    }

    @Nullable String param() {
        return param;
    }

    /** What the field should have held, for a type error; null when the message is the whole story. */
    @Nullable String expected() {
        return expected;
    }

    /** A JSON token as OpenAI's messages name it: "a string", "an array", ... */
    static String describe(@Nullable JsonToken token) {
        if (token == null) {
            return "nothing";
        }
        return switch (token) {
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            case START_ARRAY, END_ARRAY -> "an array";
            case START_OBJECT, END_OBJECT, PROPERTY_NAME -> "an object";
            default -> token.name().toLowerCase(Locale.ROOT);
        };
    }

    /** A client's value quoted in a message, at most 40 characters of it. */
    static String shorten(String value) {
        return value.length() <= 40 ? value : value.substring(0, 40) + "...";
    }
}
