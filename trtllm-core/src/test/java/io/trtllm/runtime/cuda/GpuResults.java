package io.trtllm.runtime.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Measurements of the GPU tests, appended as lines to the file named by the system property
 * {@code trtllm.gpu.results} (scripts/gpu-test.sh sets it) and printed to standard error.
 */
public final class GpuResults {
    private GpuResults() {
    }

    public static synchronized void record(String format, Object... args) {
        String line = String.format(java.util.Locale.ROOT, format, args);
        System.err.println("[gpu] " + line);
        String file = System.getProperty("trtllm.gpu.results");
        if (file != null) {
            try {
                Files.writeString(Path.of(file), line + System.lineSeparator(), StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Length of the common prefix of two token sequences. */
    public static int agreement(int[] a, int[] b) {
        int n = 0;
        while (n < a.length && n < b.length && a[n] == b[n]) {
            n++;
        }
        return n;
    }
}
