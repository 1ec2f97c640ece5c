package io.trtllm.spring.boot;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** "APPLICATION FAILED TO START" for {@link UnsupportedJavaVersionException}, saying what to run it on. */
public final class JavaVersionFailureAnalyzer extends AbstractFailureAnalyzer<UnsupportedJavaVersionException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, UnsupportedJavaVersionException cause) {
        return new FailureAnalysis(cause.getMessage() + ".",
                "Run the application on Java " + cause.required() + " or newer (JAVA_HOME, the build's toolchain, the "
                        + "container's base image), with --add-modules jdk.incubator.vector. To run it without the "
                        + "in-process engine, remove trtllm-spring-boot-starter or set spring.ai.model.chat to "
                        + "another provider (or none).", cause);
    }
}
