package io.trtllm.sample;

import io.trtllm.api.LLM;
import io.trtllm.api.QueueFullException;
import io.trtllm.spring.web.BodyTimeouts;
import io.trtllm.spring.web.ClientMessages;
import java.util.UUID;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.TypeMismatchException;
import org.springframework.core.MethodParameter;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebInputException;
import tools.jackson.core.JacksonException;
import tools.jackson.core.exc.InputCoercionException;
import tools.jackson.core.exc.StreamReadException;
import tools.jackson.databind.exc.MismatchedInputException;

/**
 * Errors of {@link ChatController} as RFC 9457 problem details ({@code application/problem+json},
 * also for the stream endpoint, whose errors before the first event still have a status):
 * {@code detail} says what is wrong in the client's words and {@code param} names the field; no class
 * names, no server paths, no stack traces (those go to the log for a 500, with the id the client gets).
 * <ul>
 *   <li>400: a missing or invalid value, a body that is not the JSON object expected, or what the chat
 *   model or the engine refuses ({@link IllegalArgumentException}: a prompt longer than the model,
 *   {@code maxTokens} beyond what it leaves; {@link UnsupportedOperationException}).</li>
 *   <li>408: the request body did not arrive within {@code trtllm.http.body-timeout}.</li>
 *   <li>429 with {@code Retry-After}: the engine's queue is full.</li>
 *   <li>503: the engine has failed (only a restart clears that; the liveness probe says so).</li>
 * </ul>
 */
@RestControllerAdvice(assignableTypes = {ChatController.class, StructuredController.class})
class ChatErrors {
    private static final Logger LOG = LoggerFactory.getLogger(ChatErrors.class);
    private static final MediaType PROBLEM = MediaType.APPLICATION_PROBLEM_JSON;

    /** A request value this controller refuses: {@code param} names it. */
    static final class BadRequest extends RuntimeException {
        private final String param;

        BadRequest(String param, String message) {
            super(message, null, false, false);
            this.param = param;
        }
    }

    private final LLM llm;

    ChatErrors(LLM llm) {
        this.llm = llm;
    }

    @ExceptionHandler(BadRequest.class)
    ResponseEntity<ProblemDetail> badRequest(BadRequest e) {
        return problem(HttpStatus.BAD_REQUEST, e.getMessage(), e.param);
    }

    @ExceptionHandler({IllegalArgumentException.class, UnsupportedOperationException.class})
    ResponseEntity<ProblemDetail> refused(RuntimeException e) {
        if (llm.failure() != null) {
            return engineFailed();
        }
        LOG.debug("Chat request refused: {}", e.toString());
        return problem(HttpStatus.BAD_REQUEST, ClientMessages.sanitize(e.getMessage()), null);
    }

    /** Unreadable values: a query parameter of the wrong type, a body that is not the JSON expected. */
    @ExceptionHandler(ServerWebInputException.class)
    ResponseEntity<ProblemDetail> unreadable(ServerWebInputException e) {
        if (BodyTimeouts.isBodyTimeout(e)) {
            return problem(HttpStatus.REQUEST_TIMEOUT, "The request body did not arrive within the server's time limit.",
                    "body");
        }
        MethodParameter parameter = e.getMethodParameter();
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof TypeMismatchException mismatch && parameter != null && parameter.getParameterName() != null) {
                String name = parameter.getParameterName();
                return problem(HttpStatus.BAD_REQUEST, "Invalid value for '" + name + "': expected "
                        + expected(mismatch.getRequiredType()) + ".", name);
            }
            // A field of the wrong type or out of range ({"maxTokens": 1e20}): Jackson knows which field.
            if (c instanceof JacksonException json && !json.getPath().isEmpty()
                    && json.getPath().getLast().getPropertyName() != null) {
                String name = json.getPath().getLast().getPropertyName();
                Class<?> type = c instanceof MismatchedInputException m ? m.getTargetType()
                        : c instanceof InputCoercionException coercion ? coercion.getTargetType() : null;
                return problem(HttpStatus.BAD_REQUEST, "Invalid value for '" + name + "'"
                        + (type != null ? ": expected " + expected(type) + (c instanceof InputCoercionException
                        ? " in range" : "") : "") + ".", name);
            }
            if (c instanceof StreamReadException) {
                return problem(HttpStatus.BAD_REQUEST, "The request body is not valid JSON.", "body");
            }
        }
        return problem(HttpStatus.BAD_REQUEST, "The request could not be read: it must be a JSON object with a "
                + "'message' (and optionally 'system', 'temperature', 'maxTokens').", null);
    }

    @ExceptionHandler(ResponseStatusException.class)
    ResponseEntity<ProblemDetail> status(ResponseStatusException e) {
        return problem(HttpStatus.valueOf(e.getStatusCode().value()), ClientMessages.sanitize(e.getReason()), null);
    }

    @ExceptionHandler(QueueFullException.class)
    ResponseEntity<ProblemDetail> queueFull(QueueFullException e) {
        ProblemDetail body = ProblemDetail.forStatusAndDetail(HttpStatus.TOO_MANY_REQUESTS,
                "The server is at capacity: " + ClientMessages.sanitize(e.getMessage()) + ". Retry after a short wait.");
        return ResponseEntity.status(HttpStatus.TOO_MANY_REQUESTS).contentType(PROBLEM)
                .header(HttpHeaders.RETRY_AFTER, "1").body(body);
    }

    @ExceptionHandler(Exception.class)
    ResponseEntity<ProblemDetail> unexpected(Exception e) {
        if (llm.failure() != null) {
            return engineFailed();
        }
        if (BodyTimeouts.isBodyTimeout(e)) {
            return problem(HttpStatus.REQUEST_TIMEOUT, "The request body did not arrive within the server's time limit.",
                    "body");
        }
        String errorId = UUID.randomUUID().toString();
        LOG.error("Chat request failed (error id {})", errorId, e);
        return problem(HttpStatus.INTERNAL_SERVER_ERROR, "The server failed to process the request (error id "
                + errorId + ").", null);
    }

    private ResponseEntity<ProblemDetail> engineFailed() {
        return problem(HttpStatus.SERVICE_UNAVAILABLE, "The engine is not running: "
                + ClientMessages.sanitize(String.valueOf(llm.failure().getMessage())), null);
    }

    private static String expected(@Nullable Class<?> type) {
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
            return "an integer";
        }
        if (type == Double.class || type == double.class || type == Float.class || type == float.class) {
            return "a number";
        }
        if (type == String.class) {
            return "a string";
        }
        return "a value of another type";
    }

    /** A problem; the content type is set so that it is written whatever the request accepts (SSE). */
    private static ResponseEntity<ProblemDetail> problem(HttpStatus status, @Nullable String detail, @Nullable String param) {
        ProblemDetail body = ProblemDetail.forStatusAndDetail(status, detail);
        if (param != null) {
            body.setProperty("param", param);
        }
        return ResponseEntity.status(status).contentType(PROBLEM).body(body);
    }
}
