package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cpu.ArchitectureParityTests.fixture;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * When a runner may load an engine's cubin instead of compiling (no GPU needed): the architecture,
 * the kernel source and the options (the model's defines and the weight type) must all be the ones
 * it would compile with.
 */
class CompiledKernelsTests {
    private static final byte[] CUBIN = {0x7f, 'E', 'L', 'F', 2, 1, 1};

    @Test
    void kernelsFitOnlyTheirArchSourceAndOptions() {
        ModelConfig config = ModelConfig.load(fixture("llama3"));
        List<String> defines = KernelSource.defines(config, DType.BF16);
        List<String> options = KernelSource.options("sm_90", defines);
        String sha = KernelSource.sha256();
        var kernels = new CompiledKernels("sm_90", sha, options, "NVRTC 13.0", CUBIN);

        assertThat(kernels.mismatch("sm_90", sha, options)).isNull();
        assertThat(kernels.mismatch("sm_80", sha, KernelSource.options("sm_80", defines)))
                .isEqualTo("they are compiled for sm_90, this device is sm_80");
        assertThat(kernels.mismatch("sm_90", "0".repeat(64), options))
                .startsWith("they are compiled from another kernels.cu (sha256 " + sha.substring(0, 12));
        List<String> f16 = KernelSource.options("sm_90", KernelSource.defines(config, DType.F16));
        assertThat(kernels.mismatch("sm_90", sha, f16)).startsWith("they are compiled with other options")
                .contains("-DWEIGHT_F16=1");
        List<String> otherModel = KernelSource.options("sm_90", KernelSource.defines(ModelConfig.load(fixture("qwen3")),
                DType.BF16));
        assertThat(kernels.mismatch("sm_90", sha, otherModel)).startsWith("they are compiled with other options");
    }

    @Test
    void theWeightTypeSelectsTheKernelsTypes() {
        ModelConfig config = ModelConfig.load(fixture("mistral"));
        assertThat(KernelSource.defines(config, DType.BF16)).contains("WEIGHT_F16=0", "KV_BF16=1", "WINDOW=" + config.slidingWindow())
                .doesNotContain("KV_F16=1");
        assertThat(KernelSource.defines(config, DType.F16)).contains("WEIGHT_F16=1", "KV_F16=1").doesNotContain("KV_BF16=1");
        assertThat(KernelSource.defines(config, DType.BF16, DType.F8_E4M3)).contains("WEIGHT_F16=0", "KV_FP8=1")
                .doesNotContain("KV_BF16=1", "KV_F16=1");
        assertThat(KernelSource.defines(config, DType.F16, DType.F8_E4M3)).contains("WEIGHT_F16=1", "KV_FP8=1");
        assertThat(KernelSource.defines(config, DType.BF16, DType.BF16)).isEqualTo(KernelSource.defines(config, DType.BF16));
        assertThatThrownBy(() -> KernelSource.defines(config, DType.BF16, DType.F16))
                .hasMessage("the CUDA KV cache is in the weights' type (BF16) or F8_E4M3, got F16");
        assertThat(KernelSource.options("sm_90", List.of("A=1"))).containsExactly("--gpu-architecture=sm_90", "--std=c++17",
                "-default-device", "-DA=1");
    }

    @Test
    void compiledKernelsAreValidatedAndImmutable() {
        byte[] cubin = CUBIN.clone();
        var kernels = new CompiledKernels("sm_90", "ab", List.of(), "NVRTC 13.0", cubin);
        cubin[0] = 0;
        kernels.cubin()[1] = 0;
        assertThat(kernels.cubin()).containsExactly(CUBIN);
        assertThat(kernels).isEqualTo(new CompiledKernels("sm_90", "ab", List.of(), "NVRTC 13.0", CUBIN.clone()));
        assertThatThrownBy(() -> new CompiledKernels("sm_90", "ab", List.of(), "x", new byte[0]))
                .hasMessageContaining("the cubin for sm_90 is empty");
        assertThatThrownBy(() -> new CompiledKernels("any", "ab", List.of(), "x", CUBIN))
                .hasMessageContaining("'any' is not of the form sm_<major><minor>");
    }
}
