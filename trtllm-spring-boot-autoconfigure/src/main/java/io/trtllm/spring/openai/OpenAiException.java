package io.trtllm.spring.openai;

import org.jspecify.annotations.Nullable;

/**
 * An error the API answers with an OpenAI-shaped body:
 * {@code {"error": {"message", "type", "param", "code"}}} and the HTTP status.
 */
final class OpenAiException extends RuntimeException {
    private final int status;
    private final String type;
    private final @Nullable String param;
    private final @Nullable String code;

    OpenAiException(int status, String type, @Nullable String param, @Nullable String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: the request is malformed or a field is invalid; {@code param} names the field. */
    static OpenAiException invalid(@Nullable String param, String message) {
        return new OpenAiException(400, "invalid_request_error", param, param == null ? null : "invalid_value", message);
    }

    /** 400: a field has the wrong JSON type. */
    static OpenAiException invalidType(String param, String expected, String got) {
        return new OpenAiException(400, "invalid_request_error", param, "invalid_type",
                "Invalid type for '" + param + "': expected " + expected + ", but got " + got + " instead.");
    }

    /** 400: a field this server does not implement was given a value it cannot honour. */
    static OpenAiException unsupported(String param, String message) {
        return new OpenAiException(400, "invalid_request_error", param, "unsupported_parameter", message);
    }

    int status() {
        return status;
    }

    String type() {
        return type;
    }

    @Nullable String param() {
        return param;
    }

    @Nullable String code() {
        return code;
    }
}
