package io.trtllm.runtime.cuda;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The backend's kernels compiled for one GPU architecture and model: the cubin NVRTC produced and
 * what it was produced from, so that a runner can tell whether it may load it instead of compiling.
 * An engine built for the {@code cuda} backend carries one (see {@code io.trtllm.engine.EngineBuilder}).
 *
 * @param arch         the SM architecture the cubin is for, e.g. {@code sm_90}
 * @param sourceSha256 SHA-256 (hex) of the {@code kernels.cu} it was compiled from
 * @param options      the NVRTC options, the architecture and the model's defines included
 * @param compiler     what compiled it, for diagnostics (e.g. {@code NVRTC 13.0}); not compared
 * @param cubin        the module image for {@code cuModuleLoadData}
 */
public record CompiledKernels(String arch, String sourceSha256, List<String> options, String compiler, byte[] cubin) {

    public CompiledKernels {
        KernelSource.checkArch(arch);
        options = List.copyOf(options);
        if (cubin.length == 0) {
            throw new IllegalArgumentException("the cubin for " + arch + " is empty");
        }
        cubin = cubin.clone();
    }

    /** A copy of the module image. */
    @Override
    public byte[] cubin() {
        return cubin.clone();
    }

    /**
     * Null when these kernels can stand for ones compiled for {@code arch} from the source of SHA-256
     * {@code sourceSha256} with {@code options}; otherwise why not, in words (for a log line).
     */
    public @Nullable String mismatch(String arch, String sourceSha256, List<String> options) {
        if (!this.arch.equals(arch)) {
            return "they are compiled for " + this.arch + ", this device is " + arch;
        }
        if (!this.sourceSha256.equals(sourceSha256)) {
            return "they are compiled from another kernels.cu (sha256 " + abbreviate(this.sourceSha256) + ", this version's is "
                    + abbreviate(sourceSha256) + ")";
        }
        if (!this.options.equals(options)) {
            return "they are compiled with other options (" + String.join(" ", this.options) + "; this model needs "
                    + String.join(" ", options) + ")";
        }
        return null;
    }

    private static String abbreviate(String sha) {
        return sha.length() > 12 ? sha.substring(0, 12) : sha;
    }

    /** The cubin's bytes are compared by content. */
    @Override
    public boolean equals(Object o) {
        return o instanceof CompiledKernels k && arch.equals(k.arch) && sourceSha256.equals(k.sourceSha256)
                && options.equals(k.options) && compiler.equals(k.compiler) && Arrays.equals(cubin, k.cubin);
    }

    @Override
    public int hashCode() {
        return Objects.hash(arch, sourceSha256, options, compiler, Arrays.hashCode(cubin));
    }

    @Override
    public String toString() {
        return "CompiledKernels[" + arch + ", " + cubin.length + " bytes of cubin, " + compiler + "]";
    }
}
