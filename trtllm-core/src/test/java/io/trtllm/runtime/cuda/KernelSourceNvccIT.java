package io.trtllm.runtime.cuda;

import static io.trtllm.runtime.cpu.ArchitectureParityTests.fixture;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code kernels.cu} compiles for every model feature and both weight types, checked with {@code nvcc}
 * where the CUDA toolkit is installed (CI's machines have it; NVRTC cannot run there without an NVIDIA
 * driver, see {@code CudaEngineIT}). The runner compiles with NVRTC: the GPU tests cover that the
 * same source and defines compile and run there. Skipped without nvcc, except where
 * {@code TRTLLM_REQUIRE_NVCC=true} (CI) makes that a failure.
 */
class KernelSourceNvccIT {
    @TempDir
    Path tmp;

    static @Nullable Path nvcc() {
        for (String candidate : List.of("/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc", "/usr/bin/nvcc")) {
            if (Files.isExecutable(Path.of(candidate))) {
                return Path.of(candidate);
            }
        }
        return null;
    }

    @ParameterizedTest
    @CsvSource({"llama3, BF16, BF16", "llama3, F16, F16", "mistral, BF16, BF16", "mistral, F16, F16", "qwen2, F16, F16",
            "qwen3, F16, F16", "llama3, BF16, F8_E4M3", "qwen3, F16, F8_E4M3"})
    void theKernelsCompileForSm90(String arch, DType weightType, DType kvType) throws IOException, InterruptedException {
        Path nvcc = nvcc();
        // CI (TRTLLM_REQUIRE_NVCC=true) has nvcc: there the test fails rather than skips without it.
        assertThat(nvcc != null || !"true".equals(System.getenv("TRTLLM_REQUIRE_NVCC")))
                .as("nvcc is required (TRTLLM_REQUIRE_NVCC=true) but none of the usual paths has it").isTrue();
        assumeTrue(nvcc != null, "no nvcc here");
        Path source = Files.writeString(tmp.resolve("kernels.cu"), KernelSource.text());
        List<String> command = new ArrayList<>(List.of(nvcc.toString(), "-arch=sm_90", "-std=c++17", "-cubin",
                "-o", tmp.resolve("kernels.cubin").toString()));
        for (String d : KernelSource.defines(ModelConfig.load(fixture(arch)), weightType, kvType)) {
            command.add("-D" + d);
        }
        command.add(source.toString());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        boolean done = p.waitFor(120, TimeUnit.SECONDS);
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(done).as("nvcc finished").isTrue();
        assertThat(p.exitValue()).as("nvcc %s:%n%s", String.join(" ", command), output).isZero();
        assertThat(Files.size(tmp.resolve("kernels.cubin"))).isPositive();
    }
}
