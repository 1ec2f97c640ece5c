package io.trtllm.runtime.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Chooses the kernels: the Vector API when {@code jdk.incubator.vector} is enabled, else scalar. */
final class CpuKernels {
    /** System property that forces the scalar kernels ({@code -Dtrtllm.cpu.simd=false}). */
    static final String SIMD_PROPERTY = "trtllm.cpu.simd";

    private static final Logger LOG = LoggerFactory.getLogger(CpuKernels.class);
    private static volatile Kernels best;

    private CpuKernels() {
    }

    static Kernels best() {
        Kernels k = best;
        if (k == null) {
            synchronized (CpuKernels.class) {
                k = best;
                if (k == null) {
                    k = choose();
                    best = k;
                }
            }
        }
        return k;
    }

    static boolean vectorModulePresent() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    private static Kernels choose() {
        if (!Boolean.parseBoolean(System.getProperty(SIMD_PROPERTY, "true"))) {
            LOG.info("CPU kernels: scalar (SIMD disabled by -D{}=false)", SIMD_PROPERTY);
            return new ScalarKernels(W4A8.enabled());
        }
        if (!vectorModulePresent()) {
            LOG.warn("CPU kernels: scalar, several times slower: module jdk.incubator.vector is not enabled; "
                    + "start the JVM with --add-modules jdk.incubator.vector");
            return new ScalarKernels(W4A8.enabled());
        }
        String noC2 = JitCheck.c2Missing();
        if (noC2 != null) {
            // One WARN per JVM (the kernels are chosen once): the Vector API needs C2 to be fast.
            LOG.warn("CPU kernels: the Vector API kernels run many times slower here: {}, so they never reach C2. Fix: {}", noC2,
                    JitCheck.FIX);
        }
        Kernels k = new VectorKernels(W4A8.enabled());
        LOG.debug("CPU kernels: {}", k.description());
        return k;
    }
}
