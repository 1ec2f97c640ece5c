package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.trtllm.engine.EngineCache;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.ForwardResult;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.SequenceChunk.LogitsMode;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A KV cache larger than the device fails the runner's construction with an error that names what was
 * being allocated, the bytes asked for and the bytes free; what was allocated before is given back, and
 * the device stays usable (out of memory is not a sticky error). Model: the system property
 * {@code trtllm.gpu.model} (a prebuilt engine directory).
 */
@Tag("gpu")
class CudaOutOfMemoryGpuTests {

    @Test
    void aKvCacheBeyondTheDeviceIsAClearErrorAndLeavesTheDeviceUsable() {
        String model = System.getProperty("trtllm.gpu.model");
        Assumptions.assumeTrue(model != null, "trtllm.gpu.model is not set");
        try (var lease = EngineCache.openPrebuilt(Path.of(model))) {
            ModelConfig config = lease.config().modelConfig();
            // warm: the CUDA context and cuBLAS exist before the measurement
            new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(4, 32), 0).close();
            long before = DeviceMemory.freeBytes();
            // one layer's keys alone need twice the free memory
            long layerBytesWanted = 2 * before;
            int blocks = (int) Math.min(Integer.MAX_VALUE - 1, layerBytesWanted / (32L * config.kvDim() * Short.BYTES));
            CudaException e = catchThrowableOfType(CudaException.class,
                    () -> new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(blocks, 32), 0));
            GpuResults.record("KV cache of %d blocks on a device with %d MiB free: %s", blocks, before >> 20, e.getMessage());
            assertThat(e.outOfMemory()).isTrue();
            assertThat(e.getMessage()).contains("out of device memory", "the KV cache (" + blocks + " blocks of 32 tokens",
                    "keys of layer 0", "asked for", "are free of");
            long after = DeviceMemory.freeBytes();
            assertThat(Math.abs(after - before)).as("device memory after the failed construction, ± 64 MiB")
                    .isLessThan(64L << 20);
            try (var runner = new CudaModelRunner(config, lease.weights(), (a, p) -> new KvCacheSpec(4, 32), 0)) {
                ForwardResult out = runner.forward(Batch.of(new SequenceChunk(new int[] {1, 2, 3}, 0, new int[] {0}, LogitsMode.ARGMAX)));
                assertThat(out.tokenId(0)).isBetween(0, config.vocabSize() - 1);
                assertThat(runner.failure()).isNull();
            }
        }
    }
}
