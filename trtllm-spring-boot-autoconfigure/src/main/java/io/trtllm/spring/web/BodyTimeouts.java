package io.trtllm.spring.web;

/**
 * Whether an error is the server's body timeout ({@code trtllm.http.body-timeout}, Reactor Netty's
 * request timeout): the client did not send its request body in time. A 408 for the client, not a
 * server failure to log. Recognised by class name: the exception is internal to Reactor Netty, which
 * an application need not run on.
 */
public final class BodyTimeouts {
    private static final String REQUEST_TIMEOUT = "reactor.netty.http.server.RequestTimeoutException";

    private BodyTimeouts() {
    }

    /** Whether {@code error} or one of its causes is Reactor Netty's request timeout. */
    public static boolean isBodyTimeout(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t.getClass().getName().equals(REQUEST_TIMEOUT)) {
                return true;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return false;
    }
}
