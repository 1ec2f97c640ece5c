package io.trtllm.runtime.cuda;

import io.trtllm.model.Checkpoint;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.KvCacheSizer;
import io.trtllm.runtime.ModelRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Whether the CUDA backend can run here, and the way in to it. This class refers to no
 * {@code org.bytedeco} type, so that callers load it without the CUDA presets on the class path;
 * natives are loaded only once an NVIDIA driver is seen, and only on linux-x86_64.
 */
public final class CudaBackend {
    private static final Object LOCK = new Object();
    private static volatile @Nullable Probe probe;

    private record Probe(@Nullable String unavailableReason, @Nullable String device) {
    }

    private CudaBackend() {
    }

    /**
     * Null when a usable CUDA device is present; otherwise why not, in words (for a log line or an
     * error). Probed once per JVM.
     */
    public static @Nullable String unavailableReason() {
        return probe().unavailableReason();
    }

    /** The device the backend would use (name, SM, memory), or null when none is usable. */
    public static @Nullable String deviceDescription() {
        return probe().device();
    }

    private static Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (LOCK) {
                p = probe;
                if (p == null) {
                    p = runProbe();
                    probe = p;
                }
            }
        }
        return p;
    }

    private static Probe runProbe() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return new Probe("the CUDA backend runs on linux-x86_64 only; this is " + os + "/" + arch, null);
        }
        if (!Files.exists(Path.of("/proc/driver/nvidia/version")) && !Files.exists(Path.of("/dev/nvidiactl"))) {
            return new Probe("no NVIDIA driver (neither /proc/driver/nvidia/version nor /dev/nvidiactl exists)", null);
        }
        try {
            Class.forName("org.bytedeco.cuda.global.cudart", false, CudaBackend.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            return new Probe("org.bytedeco:cuda is not on the class path", null);
        }
        try {
            CudaDevice device = CudaDevice.query(0);
            if (device.major() < CudaDevice.MIN_MAJOR) {
                return new Probe(device + " is older than sm_80; the CUDA backend needs BF16 tensor cores", null);
            }
            return new Probe(null, device.toString());
        } catch (CudaException e) {
            return new Probe(e.getMessage(), null);
        } catch (LinkageError e) {
            return new Probe("the CUDA 13 runtime could not be loaded (" + e + ")", null);
        }
    }

    /**
     * A CUDA runner on device 0 over an open checkpoint (weights are copied to the device; the
     * checkpoint may be closed afterwards).
     *
     * @param kvSizer sizes the KV cache from the device memory left after weights and workspace
     * @throws IllegalStateException if no usable CUDA device is present (with the reason)
     */
    public static ModelRunner open(ModelConfig config, Checkpoint weights, KvCacheSizer kvSizer) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException("backend 'cuda' needs a usable CUDA device: " + reason);
        }
        return new CudaModelRunner(config, weights, kvSizer, 0);
    }
}
