package io.trtllm.runtime.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Appends one line per finished test (or skipped one) to the file named by the system property
 * {@code trtllm.gpu.feed} the moment it finishes, so that a GPU run stopped by its time limit still says
 * what passed: the console launcher prints its tree only at the end. Registered for every JUnit run of this
 * module (META-INF/services); silent unless the property is set (scripts/gpu-test.sh sets it).
 */
public final class GpuTestFeed implements TestExecutionListener {
    private static final String PROPERTY = "trtllm.gpu.feed";

    @Override
    public void executionFinished(TestIdentifier test, TestExecutionResult result) {
        if (test.isTest() || result.getStatus() != TestExecutionResult.Status.SUCCESSFUL) {
            String reason = result.getThrowable().map(t -> ": " + firstLine(t)).orElse("");
            write(String.format(Locale.ROOT, "%s %s%s", result.getStatus(), name(test), reason));
        }
    }

    @Override
    public void executionSkipped(TestIdentifier test, String reason) {
        write("SKIPPED " + name(test) + ": " + reason);
    }

    private static String name(TestIdentifier test) {
        String id = test.getUniqueId();
        int cls = id.indexOf("[class:");
        return (cls < 0 ? id : id.substring(cls)).replace("[class:io.trtllm.", "[")
                + (test.isTest() ? "" : " (container)");
    }

    private static String firstLine(Throwable t) {
        String message = String.valueOf(t.getMessage());
        int nl = message.indexOf('\n');
        return t.getClass().getSimpleName() + " " + (nl < 0 ? message : message.substring(0, nl));
    }

    private static synchronized void write(String line) {
        String file = System.getProperty(PROPERTY);
        if (file == null) {
            return;
        }
        try {
            Files.writeString(Path.of(file), line + System.lineSeparator(), StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
