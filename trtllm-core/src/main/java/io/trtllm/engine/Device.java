package io.trtllm.engine;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.runtime.cpu.PanelLayout;
import io.trtllm.runtime.cuda.CudaBackend;
import org.jspecify.annotations.Nullable;

/**
 * The device an engine is built for, part of the engine cache key: the backend and what its
 * weights and kernels depend on. For the CPU: the processor architecture and the preferred SIMD
 * width. For CUDA: the GPU architecture its kernels are compiled for.
 *
 * @param backend    {@code cpu} or {@code cuda}
 * @param arch       {@code os.arch} for the CPU; for CUDA the SM architecture of the engine's precompiled kernels
 *                   ({@code sm_90}, ...), or {@value #ANY_ARCH}: an engine without kernels, which NVRTC compiles
 *                   when a runner loads it, on whichever GPU it finds (the weights are plain tensors either way)
 * @param vectorBits the Vector API's preferred float vector width in bits, 0 when {@code jdk.incubator.vector}
 *                   is not enabled (scalar kernels)
 * @param panelRows  rows per panel of the CPU weight layout ({@code PanelLayout}): two vectors of floats for the
 *                   Vector API kernels, 16 for the scalar ones; an engine stores its matrices so. 0 for CUDA.
 */
public record Device(String backend, String arch, int vectorBits, int panelRows) {

    /** The CUDA arch of an engine without precompiled kernels, loadable on any GPU. */
    public static final String ANY_ARCH = "any";

    public Device {
        if (backend.equals("cpu") ? panelRows <= 0 || panelRows % 2 != 0 : panelRows != 0) {
            throw new IllegalArgumentException("panel rows must be even and positive for the cpu backend and 0 for "
                    + "others, got " + panelRows + " for " + backend);
        }
        if (backend.equals("cuda") && !arch.equals(ANY_ARCH)) {
            CudaBackend.checkArch(arch);
        }
    }

    /** The device for {@code backend} ({@code cpu}, or {@code cuda} for this machine's GPU). */
    public static Device of(String backend) {
        return of(backend, null);
    }

    /**
     * The device for {@code backend}: {@code cpu}, or {@code cuda} for {@code cudaArch} ({@code sm_90}, ...,
     * or {@value #ANY_ARCH}), by default the SM architecture of this machine's GPU.
     *
     * @throws IllegalArgumentException for another backend, a CUDA arch with the cpu backend, an invalid arch,
     *                                  or cuda with neither an arch nor a usable GPU (saying why and what to pass)
     */
    public static Device of(String backend, @Nullable String cudaArch) {
        return switch (backend) {
            case "cpu" -> {
                if (cudaArch != null) {
                    throw new IllegalArgumentException("a CUDA architecture (" + cudaArch + ") is for the cuda backend, "
                            + "not cpu");
                }
                yield cpu();
            }
            case "cuda" -> {
                if (cudaArch != null) {
                    yield cuda(cudaArch);
                }
                String local = CudaBackend.deviceArch();
                if (local == null) {
                    throw new IllegalArgumentException("a CUDA engine's kernels are compiled for one GPU architecture, and "
                            + "there is no usable CUDA device here to take it from (" + CudaBackend.unavailableReason()
                            + "); give it (trtllm build --cuda-arch sm_90 for H100, sm_80 for A100, ...), or --cuda-arch "
                            + ANY_ARCH + " for an engine without kernels");
                }
                yield cuda(local);
            }
            default -> throw new IllegalArgumentException("backend '" + backend + "' is not one of cpu, cuda");
        };
    }

    /**
     * CUDA engines for {@code arch}: {@code sm_<major><minor>} (sm_80 or newer), or {@value #ANY_ARCH} for
     * one without precompiled kernels.
     *
     * @throws IllegalArgumentException for an arch of another form or older than sm_80
     */
    public static Device cuda(String arch) {
        return new Device("cuda", arch, 0, 0);
    }

    /** Whether engines for this device carry precompiled CUDA kernels (a cuda device of a given arch). */
    public boolean hasCudaKernels() {
        return backend.equals("cuda") && !arch.equals(ANY_ARCH);
    }

    /** The CPU this JVM runs on, with the panel height of the kernels it will run. */
    public static Device cpu() {
        return new Device("cpu", System.getProperty("os.arch"), preferredVectorBits(), PanelLayout.nativePanelRows());
    }

    private static int preferredVectorBits() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return 0;
        }
        // Reflective, so that this class loads without the incubator module.
        try {
            Class<?> floatVector = Class.forName("jdk.incubator.vector.FloatVector");
            Object species = floatVector.getField("SPECIES_PREFERRED").get(null);
            return (int) Class.forName("jdk.incubator.vector.VectorSpecies").getMethod("vectorBitSize").invoke(species);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return 0;
        }
    }

    /** The JSON form stored in engine configs and cache metadata. */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("backend", backend);
        o.put("arch", arch);
        o.put("vector_bits", vectorBits);
        o.put("panel_rows", panelRows);
        return o;
    }

    @Override
    public String toString() {
        if (backend.equals("cuda")) {
            return arch.equals(ANY_ARCH) ? "cuda (any GPU, kernels compiled at load)" : "cuda " + arch;
        }
        if (!backend.equals("cpu")) {
            return backend;
        }
        return backend + " " + arch + (vectorBits > 0 ? " " + vectorBits + "-bit SIMD" : " scalar") + ", panels of "
                + panelRows + " rows";
    }
}
