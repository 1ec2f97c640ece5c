package io.trtllm.spring.web;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Exception messages made fit for HTTP clients. The engine's own argument checks name the problem
 * ("temperature must be a finite number >= 0, got -1.0") and are passed on; what could describe the
 * server to a caller is cut: absolute file-system paths (a model directory, the engine cache, a
 * template file), Java class names of exceptions, stack frames. The full message stays in the server's
 * log where one is written.
 */
public final class ClientMessages {
    /** Most characters of a message a client gets (a message may echo a client's long input). */
    static final int MAX_LENGTH = 1000;

    /** Stack frames: "at io.trtllm.Foo.bar(Foo.java:12)". */
    private static final Pattern FRAME = Pattern.compile("\\s*\\bat [\\w$.]+\\([^)]*\\)");
    /** A qualified exception class name, with the ": " that usually follows it. */
    private static final Pattern EXCEPTION_CLASS = Pattern.compile(
            "\\b(?:[a-z_][a-z0-9_]*\\.)+[A-Z][A-Za-z0-9_$]*(?:Exception|Error|Throwable)\\b(?:: )?");
    /** Any other qualified class name of the server's own code or its libraries. */
    private static final Pattern CLASS = Pattern.compile(
            "\\b(?:java|javax|jdk|sun|io\\.trtllm|org\\.springframework|com\\.hubspot|com\\.fasterxml|tools\\.jackson"
                    + "|reactor|io\\.netty|ai\\.djl)\\.[\\w$.]+");
    /** file: URLs, e.g. of a classpath resource. */
    private static final Pattern FILE_URL = Pattern.compile("\\b(?:jar:)?file:[^\\s'\"`,;()\\[\\]{}<>]+");
    /**
     * Absolute paths of two or more segments (Unix, or Windows with a drive letter); URL paths of an
     * HTTP API ("/v1/chat/completions") have no place in an exception from the engine either. Not the
     * path of a URL ({@code https://host/path}: its slashes follow "//" or a host name).
     */
    private static final Pattern PATH = Pattern.compile(
            "(?<![\\w./])(?!//)(?:[A-Za-z]:\\\\[^\\s'\"`,;:()\\[\\]{}<>]+|/[^\\s'\"`,;:()\\[\\]{}<>/]+(?:/[^\\s'\"`,;:()\\[\\]{}<>/]*)+)");

    private ClientMessages() {
    }

    /** {@code message} without paths, class names and stack frames; "(no message)" for none. */
    public static String sanitize(@Nullable String message) {
        if (message == null || message.isBlank()) {
            return "(no message)";
        }
        String s = FRAME.matcher(message).replaceAll("");
        s = EXCEPTION_CLASS.matcher(s).replaceAll("");
        s = CLASS.matcher(s).replaceAll(Matcher.quoteReplacement("<internal>"));
        s = FILE_URL.matcher(s).replaceAll(Matcher.quoteReplacement("<path>"));
        s = PATH.matcher(s).replaceAll(Matcher.quoteReplacement("<path>"));
        s = s.strip();
        if (s.isEmpty()) {
            return "(no message)";
        }
        return s.length() > MAX_LENGTH ? s.substring(0, MAX_LENGTH) + "..." : s;
    }
}
