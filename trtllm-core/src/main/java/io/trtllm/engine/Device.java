package io.trtllm.engine;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.runtime.cpu.PanelLayout;

/**
 * The device an engine is built for, part of the engine cache key: the backend and what its
 * weight layout depends on. For the CPU: the processor architecture and the preferred SIMD width.
 *
 * @param backend    {@code cpu} or {@code cuda}
 * @param arch       {@code os.arch} for the CPU; {@code any} for CUDA (its engine holds plain tensors that the
 *                   runner converts to BF16 on upload, for whichever GPU it finds)
 * @param vectorBits the Vector API's preferred float vector width in bits, 0 when {@code jdk.incubator.vector}
 *                   is not enabled (scalar kernels)
 * @param panelRows  rows per panel of the CPU weight layout ({@code PanelLayout}): two vectors of floats for the
 *                   Vector API kernels, 16 for the scalar ones; an engine stores its matrices so. 0 for CUDA.
 */
public record Device(String backend, String arch, int vectorBits, int panelRows) {

    public Device {
        if (backend.equals("cpu") ? panelRows <= 0 || panelRows % 2 != 0 : panelRows != 0) {
            throw new IllegalArgumentException("panel rows must be even and positive for the cpu backend and 0 for "
                    + "others, got " + panelRows + " for " + backend);
        }
    }

    /** The device for {@code backend} ({@code cpu} or {@code cuda}). */
    public static Device of(String backend) {
        return switch (backend) {
            case "cpu" -> cpu();
            case "cuda" -> cuda();
            default -> throw new IllegalArgumentException("backend '" + backend + "' is not one of cpu, cuda");
        };
    }

    /** CUDA: the engine keeps plain tensors (the runner uploads them as BF16), so any GPU can load it. */
    public static Device cuda() {
        return new Device("cuda", "any", 0, 0);
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
        if (!backend.equals("cpu")) {
            return backend;
        }
        return backend + " " + arch + (vectorBits > 0 ? " " + vectorBits + "-bit SIMD" : " scalar") + ", panels of "
                + panelRows + " rows";
    }
}
