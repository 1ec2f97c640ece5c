package io.trtllm.spring.boot;

/** The JVM is older than trtllm-java needs (Java 17 bytecode, like {@link JavaVersionCheck}). */
public final class UnsupportedJavaVersionException extends IllegalStateException {
    private final int required;
    private final int actual;

    UnsupportedJavaVersionException(int required, int actual, String description) {
        super("trtllm-java needs Java " + required + " or newer; this JVM is " + actual + " (" + description + ")");
        this.required = required;
        this.actual = actual;
    }

    /** The oldest feature release that works. */
    public int required() {
        return required;
    }

    /** This JVM's feature release. */
    public int actual() {
        return actual;
    }
}
