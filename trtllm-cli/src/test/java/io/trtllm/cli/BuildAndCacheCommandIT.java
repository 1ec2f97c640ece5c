package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.BuildConfig;
import io.trtllm.engine.BuildProgress;
import io.trtllm.engine.Device;
import io.trtllm.engine.EngineCache;
import io.trtllm.engine.EngineConfig;
import io.trtllm.engine.EngineLease;
import io.trtllm.model.Parallelism;
import io.trtllm.runtime.cuda.CudaBackend;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code trtllm build} and {@code trtllm cache list|clear}. */
class BuildAndCacheCommandIT {
    @TempDir
    Path tmp;

    @Test
    void buildWritesAnEngineThatGenerateLoadsAsItIs() {
        Path engine = tmp.resolve("engine");
        MainIT.Result r = MainIT.run("build", "--model", "stories15M", "--dtype", "bf16", "--max-seq-len", "128",
                "--output", engine.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("engine: " + engine + " (").contains("MiB, 56 tensors");
        EngineConfig config = EngineConfig.read(engine);
        assertThat(config.buildConfig().maxSeqLen()).isEqualTo(128);
        assertThat(config.buildConfig().dtypeName()).isEqualTo("bfloat16");

        r = MainIT.run("generate", "--model", engine.toString(), "--prompt", "Once upon a time", "--max-tokens", "8",
                "--temperature", "0");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith(", there was a little");

        Path int8 = tmp.resolve("int8");
        r = MainIT.run("build", "--model", "stories15M", "--quantization", "int8", "--max-seq-len", "128", "--output",
                int8.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(EngineConfig.read(int8).weights()).endsWith("weight-only int8");
        r = MainIT.run("generate", "--model", int8.toString(), "--prompt", "Once upon a time", "--max-tokens", "8",
                "--temperature", "0");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith(", there was a little");

        r = MainIT.run("build", "--model", "stories15M", "--output", engine.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains(engine.toString()).contains("exists already");
    }

    @Test
    void buildWritesAWeightsFilePerRankThatGenerateRunsWithThatSplitOnly() {
        Path engine = tmp.resolve("tp2pp2");
        MainIT.Result r = MainIT.run("build", "--model", "stories15M", "--max-seq-len", "128", "--tensor-parallel-size", "2",
                "--pipeline-parallel-size", "2", "--output", engine.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(EngineConfig.read(engine).mapping()).isEqualTo(new Parallelism(2, 2));
        for (int rank = 0; rank < 4; rank++) {
            assertThat(engine.resolve("rank" + rank + "/model.safetensors")).isRegularFile();
        }

        r = MainIT.run("generate", "--model", engine.toString(), "--tensor-parallel-size", "2", "--pipeline-parallel-size",
                "2", "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith(", there was a little");

        r = MainIT.run("generate", "--model", engine.toString(), "--prompt", "Once upon a time", "--max-tokens", "8");
        assertThat(r.code()).isNotZero();
        assertThat(r.err()).contains("was built for TP 2 × PP 2 (4 ranks) and cannot run as TP 1 × PP 1");

        r = MainIT.run("build", "--model", "stories15M", "--tensor-parallel-size", "4", "--output",
                tmp.resolve("tp4").toString());
        assertThat(r.code()).isNotZero();
        assertThat(r.err()).contains("tensor_parallel_size 4 does not divide num_attention_heads 6");
        assertThat(tmp.resolve("tp4")).doesNotExist();
    }

    @Test
    void buildRefusesWhatItCannotDoWithoutWritingAnything() {
        Path engine = tmp.resolve("engine");
        MainIT.Result r = MainIT.run("build", "--model", "stories15M", "--quantization", "int3", "--output", engine.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("quantization 'int3' is not one of [none, int8, int4, fp8]");
        r = MainIT.run("build", "--model", "stories15M", "--dtype", "fp8", "--output", engine.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("dtype fp8 is for the KV cache (kv_cache_config.dtype)")
                .contains("FP8 weights are quantization fp8");
        r = MainIT.run("build", "--model", "stories15M", "--max-seq-len", "512", "--output", engine.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("max_seq_len 512 exceeds the model's max_position_embeddings 256");
        assertThat(engine).doesNotExist();
        assertThat(tmp).isEmptyDirectory();
    }

    /** CI has no GPU and no NVIDIA driver, so NVRTC cannot run: a CUDA engine here is for any GPU, or an error. */
    @Test
    void cudaBuildsNeedAnArchitectureAndNvrtcOrAreForAnyGpu() throws IOException {
        assumeTrue(CudaBackend.unavailableReason() != null, "a usable GPU is present");
        assumeTrue(CudaBackend.nvrtcUnavailableReason() != null, "NVRTC runs here");
        Path model = Files.createDirectories(tmp.resolve("model"));
        for (String f : List.of("config.json", "model.safetensors")) {
            try (InputStream in = getClass().getResourceAsStream("/parity/llama3/" + f)) {
                Files.copy(in, model.resolve(f));
            }
        }
        Path engine = tmp.resolve("engine");
        MainIT.Result r = MainIT.run("build", "--backend", "cuda", "--model", model.toString(), "--output", engine.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("no usable CUDA device here").contains("--cuda-arch sm_90");
        r = MainIT.run("build", "--backend", "cuda", "--cuda-arch", "sm_90", "--model", model.toString(), "--output",
                engine.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("a CUDA engine for sm_90 carries kernels compiled by NVRTC, which cannot run here");
        r = MainIT.run("build", "--backend", "cuda", "--cuda-arch", "sm_75", "--model", model.toString(), "--output",
                engine.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("sm_75 is older than sm_80");
        r = MainIT.run("build", "--cuda-arch", "sm_90", "--model", model.toString(), "--output", engine.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("a CUDA architecture (sm_90) is for the cuda backend, not cpu");
        r = MainIT.run("build", "--backend", "cuda", "--cuda-arch", "any", "--dtype", "float32", "--model", model.toString(),
                "--output", engine.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("dtype float32 is not supported by the cuda backend");
        assertThat(engine).doesNotExist();

        r = MainIT.run("build", "--backend", "cuda", "--cuda-arch", "any", "--dtype", "float16", "--model", model.toString(),
                "--output", engine.toString());
        assertThat(r.code()).as(r.err()).isZero();
        EngineConfig config = EngineConfig.read(engine);
        assertThat(config.device()).isEqualTo(Device.cuda(Device.ANY_ARCH));
        assertThat(config.buildConfig().dtypeName()).isEqualTo("float16");
        assertThat(engine.resolve("kernels")).doesNotExist();
    }

    @Test
    void cacheListShowsEntriesAndClearKeepsThoseInUse() throws IOException {
        Path model = Files.createDirectories(tmp.resolve("model"));
        for (String f : List.of("config.json", "model.safetensors")) {
            try (InputStream in = getClass().getResourceAsStream("/parity/llama3/" + f)) {
                Files.copy(in, model.resolve(f));
            }
        }
        Path root = tmp.resolve("cache");
        var cache = new EngineCache(root, BuildCacheConfig.defaults(), Clock.systemUTC());
        String idle;
        try (EngineLease lease = cache.acquire(model, BuildConfig.builder(64).build(), Device.cpu(), false, BuildProgress.NONE)) {
            idle = lease.load().key();
        }
        try (EngineLease held = cache.acquire(model, BuildConfig.builder(32).build(), Device.cpu(), false, BuildProgress.NONE)) {
            MainIT.Result r = MainIT.run("cache", "list", "--cache-dir", root.toString());
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out()).contains("2 engine(s)").contains(idle).contains(held.load().key())
                    .containsPattern(held.load().key() + ".*in use.*auto none max_seq_len 32 max_input_len 32 cpu \\S+ \\d+-bit");

            r = MainIT.run("cache", "clear", "--cache-dir", root.toString());
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out()).contains("removed 1 engine(s)").contains("1 in use, kept");
            assertThat(cache.list()).extracting(EngineCache.Entry::key).containsExactly(held.load().key());
        }
        MainIT.Result r = MainIT.run("cache", "clear", "--cache-dir", root.toString());
        assertThat(r.out()).contains("removed 1 engine(s)");
        assertThat(MainIT.run("cache", "list", "--cache-dir", root.toString()).out()).contains("0 engine(s)");
    }
}
