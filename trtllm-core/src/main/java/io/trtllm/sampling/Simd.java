package io.trtllm.sampling;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the row scans of {@link TopN} and {@link LogSoftmax} use the Vector API ({@link VectorRows}): when
 * {@code jdk.incubator.vector} is enabled and {@code -Dtrtllm.cpu.simd=false} (the CPU kernels' switch) is not set.
 * The scalar and vector paths choose the same tokens; the log-normalizer differs within {@link LogSoftmax}'s bound.
 */
final class Simd {
    static final boolean ENABLED = choose();

    private Simd() {
    }

    private static boolean choose() {
        if (!Boolean.parseBoolean(System.getProperty("trtllm.cpu.simd", "true"))) {
            return false;
        }
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            LoggerFactory.getLogger(Simd.class).info("Log-probabilities and top-k of logits rows: scalar, slower (beam "
                    + "search steps): module jdk.incubator.vector is not enabled; start the JVM with --add-modules "
                    + "jdk.incubator.vector");
            return false;
        }
        return true;
    }
}
