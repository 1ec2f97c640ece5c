package io.trtllm.api.config;

/**
 * Switches of the backends' fast paths, of the start-up's request warm-up, and the tool that fetches builtin models — settings that were
 * JVM-wide system properties ({@code -Dtrtllm.cuda.graphs=false}, ...) and are now also per
 * {@code LlmArgs} ({@code trtllm.cuda.*}, {@code trtllm.cpu.huge-pages}, {@code trtllm.npm} in Spring).
 * {@link #fromSystemProperties()} is the default, so the {@code -D} flags keep working. Each switch is
 * on unless turned off: they exist to compare against (benchmarks) or to step around a platform that
 * misbehaves. {@link #cudaOverlap()} is the exception: off unless turned on, until a GPU run has shown it
 * correct and faster.
 *
 * @param cudaGraphs         whether the CUDA backend replays decode steps as CUDA graphs ({@value #CUDA_GRAPHS})
 * @param cudaDeviceSampling whether the CUDA backend samples on the device ({@value #CUDA_DEVICE_SAMPLING})
 * @param cudaGemv           whether the CUDA backend uses its GEMV kernels for small batches ({@value #CUDA_GEMV})
 * @param cpuHugePages       whether the CPU backend copies matmul weights onto transparent huge pages where the
 *                           kernel offers them ({@value #CPU_HUGE_PAGES})
 * @param npm                the npm executable that fetches builtin models ({@value #NPM}; default {@code npm} on
 *                           the PATH)
 * @param cudaOverlap        whether the CUDA backend overlaps decode steps: the executor schedules and stages step
 *                           n + 1 while the device computes step n, whose tokens feed n + 1 on the device
 *                           ({@value #CUDA_OVERLAP}; off unless {@code true})
 * @param warmUpRequests     whether {@code new LLM(...)} ends with a few short untimed requests through a scratch
 *                           executor, so that the request path's classes are loaded and its code compiled before the
 *                           first request ({@value #WARMUP_REQUESTS}; {@code -Dtrtllm.warmup.millis=0} turns it off too);
 *                           on the CUDA backend only where {@value #WARMUP_REQUESTS} is {@code true} (not yet run on a GPU)
 */
public record RuntimeConfig(boolean cudaGraphs, boolean cudaDeviceSampling, boolean cudaGemv, boolean cpuHugePages,
                            String npm, boolean cudaOverlap, boolean warmUpRequests) {
    /** System property of {@link #cudaGraphs()}. */
    public static final String CUDA_GRAPHS = "trtllm.cuda.graphs";
    /** System property of {@link #cudaDeviceSampling()}. */
    public static final String CUDA_DEVICE_SAMPLING = "trtllm.cuda.deviceSampling";
    /** System property of {@link #cudaGemv()}. */
    public static final String CUDA_GEMV = "trtllm.cuda.gemv";
    /** System property of {@link #cudaOverlap()}. */
    public static final String CUDA_OVERLAP = "trtllm.cuda.overlap";
    /** System property of {@link #cpuHugePages()}. */
    public static final String CPU_HUGE_PAGES = "trtllm.cpu.hugePages";
    /** System property of {@link #warmUpRequests()}. */
    public static final String WARMUP_REQUESTS = "trtllm.warmup.requests";
    /** System property of {@link #npm()}. */
    public static final String NPM = "trtllm.npm";
    /** Default {@link #npm()}: {@code npm} on the PATH. */
    public static final String DEFAULT_NPM = "npm";

    public RuntimeConfig {
        if (npm.isBlank()) {
            throw new InvalidSettingException("npm", npm, "npm must name the npm executable, got '" + npm + "'");
        }
    }

    /** The switches with {@link #warmUpRequests()} as this JVM's {@value #WARMUP_REQUESTS} says (on unless {@code false}). */
    public RuntimeConfig(boolean cudaGraphs, boolean cudaDeviceSampling, boolean cudaGemv, boolean cpuHugePages,
                         String npm, boolean cudaOverlap) {
        this(cudaGraphs, cudaDeviceSampling, cudaGemv, cpuHugePages, npm, cudaOverlap, on(WARMUP_REQUESTS));
    }

    /** The switches with {@link #cudaOverlap()} as this JVM's {@value #CUDA_OVERLAP} says (off unless {@code true}). */
    public RuntimeConfig(boolean cudaGraphs, boolean cudaDeviceSampling, boolean cudaGemv, boolean cpuHugePages,
                         String npm) {
        this(cudaGraphs, cudaDeviceSampling, cudaGemv, cpuHugePages, npm, Boolean.getBoolean(CUDA_OVERLAP));
    }

    /** These switches with {@link #warmUpRequests()} set to {@code on}. */
    public RuntimeConfig withWarmUpRequests(boolean on) {
        return new RuntimeConfig(cudaGraphs, cudaDeviceSampling, cudaGemv, cpuHugePages, npm, cudaOverlap, on);
    }

    /**
     * Every switch as this JVM's system properties say (on unless {@code false}; {@link #cudaOverlap()} off unless
     * {@code true}), npm from {@value #NPM}.
     */
    public static RuntimeConfig fromSystemProperties() {
        return new RuntimeConfig(on(CUDA_GRAPHS), on(CUDA_DEVICE_SAMPLING), on(CUDA_GEMV), on(CPU_HUGE_PAGES),
                System.getProperty(NPM, DEFAULT_NPM), Boolean.getBoolean(CUDA_OVERLAP), on(WARMUP_REQUESTS));
    }

    private static boolean on(String property) {
        return !"false".equals(System.getProperty(property));
    }
}
