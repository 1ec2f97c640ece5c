package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.trtllm.runtime.cuda.CudaBackend;
import org.junit.jupiter.api.Test;

/** Backend choice on a machine without a usable CUDA device (CI): cuda fails saying why, auto runs on the CPU. */
class BackendSelectionIT {

    @Test
    void cudaWithoutAGpuFailsBeforeLoadingAnythingAndSaysWhy() {
        String reason = CudaBackend.unavailableReason();
        assumeTrue(reason != null, "a CUDA device is usable here");
        assertThatThrownBy(() -> new LLM(LlmArgs.builder("no-such-model-dir").backend("cuda").build()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("backend 'cuda' needs a usable CUDA device: " + reason);
        assertThat(CudaBackend.deviceDescription()).isNull();
    }

    @Test
    void autoRunsOnTheCpuWithoutAGpu() {
        assumeTrue(CudaBackend.unavailableReason() != null, "a CUDA device is usable here");
        try (var llm = new LLM(LlmArgs.builder("stories15M").build())) {
            assertThat(llm.backendDescription()).startsWith("cpu [");
        }
    }
}
