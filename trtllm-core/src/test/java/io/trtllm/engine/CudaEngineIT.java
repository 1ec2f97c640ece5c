package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.api.config.Dtype;
import io.trtllm.model.DType;
import io.trtllm.model.ModelFormatException;
import io.trtllm.model.Parallelism;
import io.trtllm.runtime.cuda.CompiledKernels;
import io.trtllm.runtime.cuda.CudaBackend;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CUDA engines on a machine without a GPU (CI): the architecture in the cache key, the dtypes the
 * backend runs, the clear error when NVRTC cannot compile here, and the kernel files of an engine
 * (listed in its manifest, checked like the weights). bytedeco's NVRTC binding loads the CUDA
 * runtime, which links the driver library {@code libcuda.so.1}, so NVRTC cannot run where there is
 * no NVIDIA driver: the cubin in the packaging tests below is stand-in bytes, and
 * {@code CudaEngineKernelsGpuTests} builds and runs real ones.
 */
class CudaEngineIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Device SM_90 = Device.cuda("sm_90");

    @TempDir
    Path tmp;
    Path model;

    @BeforeEach
    void setUp() {
        model = TinyModels.llama(tmp.resolve("model"));
    }

    private static String key(Path model, BuildConfig c, Device d) {
        return EngineCache.key(EngineCache.keyInputs(model, c, d));
    }

    @Test
    void theGpuArchitectureIsPartOfTheKey() {
        BuildConfig base = BuildConfig.builder(128).build();
        String k = key(model, base, SM_90);
        assertThat(key(model, base, Device.cuda("sm_90"))).isEqualTo(k);
        assertThat(key(model, base, Device.cuda("sm_80"))).isNotEqualTo(k);
        assertThat(key(model, base, Device.cuda("sm_90a"))).isNotEqualTo(k);
        assertThat(key(model, base, Device.cuda(Device.ANY_ARCH))).isNotEqualTo(k);
        assertThat(key(model, base, Device.cpu())).isNotEqualTo(k);
        assertThat(key(model, base.toBuilder().dtype(Dtype.FLOAT16).build(), SM_90)).isNotEqualTo(k);
        // The kernel source is an input of engines that carry kernels: a changed kernels.cu builds new ones.
        assertThat(EngineCache.keyInputs(model, base, SM_90).path("cuda_kernels_sha256").asText())
                .isEqualTo(CudaBackend.kernelsSourceSha256()).hasSize(64);
        assertThat(EngineCache.keyInputs(model, base, Device.cuda(Device.ANY_ARCH)).has("cuda_kernels_sha256")).isFalse();
        assertThat(EngineCache.keyInputs(model, base, Device.cpu()).has("cuda_kernels_sha256")).isFalse();
    }

    @Test
    void cudaEnginesAreBfloat16OrFloat16() {
        for (Device d : List.of(SM_90, Device.cuda(Device.ANY_ARCH))) {
            assertThatThrownBy(() -> new EngineBuilder(BuildConfig.builder(64).dtype(Dtype.FLOAT32).build(), d))
                    .isInstanceOf(UnsupportedOperationException.class)
                    .hasMessageContaining("dtype float32 is not supported by the cuda backend")
                    .hasMessageContaining("bfloat16 or float16");
            new EngineBuilder(BuildConfig.builder(64).dtype(Dtype.FLOAT16).build(), d);
            new EngineBuilder(BuildConfig.builder(64).dtype(Dtype.BFLOAT16).build(), d);
            new EngineBuilder(BuildConfig.builder(64).build(), d);
        }
        assertThat(CudaBackend.weightType(null)).isEqualTo(DType.BF16);
        assertThat(CudaBackend.weightType(DType.BF16)).isEqualTo(DType.BF16);
        assertThat(CudaBackend.weightType(DType.F16)).isEqualTo(DType.F16);
    }

    @Test
    void withoutNvrtcAnEngineForAnArchFailsBeforeWritingAnything() throws IOException {
        String reason = CudaBackend.nvrtcUnavailableReason();
        assumeTrue(reason != null, "NVRTC runs here: CudaEngineKernelsGpuTests covers the build");
        Path out = tmp.resolve("engines").resolve("e");
        assertThatThrownBy(() -> new EngineBuilder(BuildConfig.builder(64).build(), SM_90).build(model, out))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("a CUDA engine for sm_90 carries kernels compiled by NVRTC, which cannot run here")
                .hasMessageContaining(reason).hasMessageContaining("cuda arch any");
        assertThat(out).doesNotExist();
        assertThat(out.getParent()).satisfiesAnyOf(p -> assertThat(p).doesNotExist(), p -> assertThat(p).isEmptyDirectory());
    }

    @Test
    void anEngineForAnyGpuHasNoKernels() {
        Path out = tmp.resolve("any");
        new EngineBuilder(BuildConfig.builder(64).build(), Device.cuda(Device.ANY_ARCH)).build(model, out);
        assertThat(out.resolve(EngineKernels.DIR)).doesNotExist();
        try (EngineLease lease = EngineCache.openPrebuilt(out)) {
            assertThat(lease.config().device()).isEqualTo(Device.cuda(Device.ANY_ARCH));
            assertThat(lease.kernels()).isNull();
            assertThat(lease.weights().names()).contains("model.layers.0.self_attn.q_proj.weight");
        }
    }

    /**
     * An engine split over ranks for a GPU architecture carries no kernels (each rank compiles its own at load), and
     * loads as it is: the GPU run of 2026-12-07 found every split CUDA engine refused for its missing kernels/.
     */
    @Test
    void aSplitEngineForAnArchHasNoKernelsAndLoads() {
        for (Parallelism split : List.of(new Parallelism(2, 1), new Parallelism(1, 2))) {
            Path out = tmp.resolve("split-" + split.tensorParallelSize() + "-" + split.pipelineParallelSize());
            new EngineBuilder(BuildConfig.builder(64).build(), SM_90).parallelism(split).build(model, out);
            assertThat(out.resolve(EngineKernels.DIR)).doesNotExist();
            assertThat(out.resolve("rank1/model.safetensors")).isRegularFile();
            try (EngineLease lease = EngineCache.openPrebuilt(out)) {
                assertThat(lease.config().device()).isEqualTo(SM_90);
                assertThat(lease.config().mapping()).isEqualTo(split);
                assertThat(lease.kernels()).isNull();
            }
        }
    }

    /**
     * An engine for {@code arch} as EngineBuilder lays it out where NVRTC runs, with stand-in cubin bytes:
     * an engine for any GPU whose device is set to {@code arch} and that gets a kernels folder and a new manifest.
     */
    private Path engineWithKernels(String name, CompiledKernels kernels) throws IOException {
        Path dir = tmp.resolve(name);
        new EngineBuilder(BuildConfig.builder(64).build(), Device.cuda(Device.ANY_ARCH)).build(model, dir);
        ObjectNode config = (ObjectNode) JSON.readTree(dir.resolve(EngineConfig.FILE).toFile());
        config.with("device").put("arch", kernels.arch());
        Files.write(dir.resolve(EngineConfig.FILE), JSON.writeValueAsBytes(config));
        EngineKernels.write(dir, kernels);
        EngineManifest.write(dir);
        return dir;
    }

    private static CompiledKernels standIn(String arch) {
        byte[] cubin = new byte[4096];
        for (int i = 0; i < cubin.length; i++) {
            cubin[i] = (byte) (i * 31 + 7);
        }
        return new CompiledKernels(arch, CudaBackend.kernelsSourceSha256(),
                List.of("--gpu-architecture=" + arch, "--std=c++17", "-default-device", "-DDIM=64"), "NVRTC 13.0", cubin);
    }

    @Test
    void theKernelsAreListedInTheManifestAndComeBackWithTheEngine() throws IOException {
        CompiledKernels kernels = standIn("sm_90");
        Path dir = engineWithKernels("e90", kernels);
        JsonNode files = JSON.readTree(dir.resolve(EngineManifest.FILE).toFile()).path("files");
        assertThat(files.has("kernels/sm_90.cubin")).isTrue();
        assertThat(files.has("kernels/kernels.json")).isTrue();
        assertThat(files.path("kernels/sm_90.cubin").path("size").asLong()).isEqualTo(4096);
        JsonNode description = JSON.readTree(dir.resolve("kernels/kernels.json").toFile());
        assertThat(description.path("arch").asText()).isEqualTo("sm_90");
        assertThat(description.path("file").asText()).isEqualTo("sm_90.cubin");
        assertThat(description.path("source_sha256").asText()).isEqualTo(CudaBackend.kernelsSourceSha256());
        assertThat(description.path("options").get(0).asText()).isEqualTo("--gpu-architecture=sm_90");
        try (EngineLease lease = EngineCache.openPrebuilt(dir)) {
            assertThat(lease.config().device()).isEqualTo(SM_90);
            assertThat(lease.kernels()).isEqualTo(kernels);
        }
    }

    @Test
    void aDamagedCubinIsCaughtLikeAnyOtherFile() throws IOException {
        Path dir = engineWithKernels("e90", standIn("sm_90"));
        Path cubin = dir.resolve("kernels/sm_90.cubin");
        try (RandomAccessFile f = new RandomAccessFile(cubin.toFile(), "rw")) {
            f.seek(1000);
            int b = f.read();
            f.seek(1000);
            f.write(b ^ 0x01);
        }
        assertThatThrownBy(() -> EngineCache.openPrebuilt(dir)).isInstanceOf(CorruptEngineException.class)
                .hasMessageContaining("kernels/sm_90.cubin: crc32c").hasMessageContaining("content changed");
        try (RandomAccessFile f = new RandomAccessFile(cubin.toFile(), "rw")) {
            f.setLength(100);
        }
        assertThatThrownBy(() -> EngineManifest.verify(dir)).hasMessageContaining("kernels/sm_90.cubin: 100 bytes, expected 4096");
        Files.delete(cubin);
        assertThatThrownBy(() -> EngineManifest.verify(dir)).hasMessageContaining("kernels/sm_90.cubin: missing");
    }

    @Test
    void kernelsMustFitTheEnginesDevice() throws IOException {
        Path dir = engineWithKernels("e90", standIn("sm_90"));
        assertThatThrownBy(() -> EngineKernels.read(dir, Device.cuda("sm_80"))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("kernels for sm_90 in an engine built for cuda sm_80");
        assertThatThrownBy(() -> EngineKernels.read(dir, Device.cpu())).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("kernels for sm_90 in an engine built for cpu");
        Path plain = tmp.resolve("plain");
        new EngineBuilder(BuildConfig.builder(64).build(), Device.cuda(Device.ANY_ARCH)).build(model, plain);
        assertThatThrownBy(() -> EngineKernels.read(plain, SM_90)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("built for cuda sm_90 but kernels/kernels.json is missing");
    }

    @Test
    void manifestNamesMayNotLeaveTheEngine() throws IOException {
        Path dir = engineWithKernels("e90", standIn("sm_90"));
        ObjectNode manifest = (ObjectNode) JSON.readTree(dir.resolve(EngineManifest.FILE).toFile());
        for (String name : List.of("../model/config.json", "kernels/../../x", "/etc/passwd", "")) {
            ObjectNode edited = manifest.deepCopy();
            edited.with("files").putObject(name).put("size", 1).put("crc32c", "00000000");
            Files.write(dir.resolve(EngineManifest.FILE), JSON.writeValueAsBytes(edited));
            assertThatThrownBy(() -> EngineManifest.verify(dir)).as(name).isInstanceOf(CorruptEngineException.class)
                    .hasMessageContaining("file name '" + name + "' leaves the directory");
        }
        try (Stream<Path> files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("model", "e90");
        }
    }
}
