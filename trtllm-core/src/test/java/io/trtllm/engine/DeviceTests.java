package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.trtllm.runtime.cuda.CudaBackend;
import org.junit.jupiter.api.Test;

/** The engine's device: CPU engines carry the panel layout, CUDA engines the GPU architecture of their kernels. */
class DeviceTests {
    @Test
    void eachBackendHasItsDevice() {
        assertThat(Device.of("cpu")).isEqualTo(Device.cpu());
        assertThat(Device.cpu().panelRows()).isPositive().isEven();
        assertThat(Device.cpu().hasCudaKernels()).isFalse();
        assertThat(Device.of("cuda", "sm_90")).isEqualTo(new Device("cuda", "sm_90", 0, 0));
        assertThat(Device.cuda("sm_90").toJson().get("panel_rows").intValue()).isZero();
        assertThat(Device.cuda("sm_90").toJson().get("arch").asText()).isEqualTo("sm_90");
        assertThat(Device.cuda("sm_90")).isNotEqualTo(Device.cpu()).isNotEqualTo(Device.cuda("sm_80"));
        assertThatThrownBy(() -> Device.of("tpu")).hasMessageContaining("backend 'tpu' is not one of cpu, cuda");
        assertThatThrownBy(() -> new Device("cpu", "amd64", 512, 0)).hasMessageContaining("panel rows");
        assertThatThrownBy(() -> new Device("cuda", "any", 0, 32)).hasMessageContaining("0 for others");
    }

    @Test
    void aCudaDeviceIsAnSmArchitectureOrAny() {
        assertThat(Device.cuda("sm_80").hasCudaKernels()).isTrue();
        assertThat(Device.cuda("sm_100").hasCudaKernels()).isTrue();
        assertThat(Device.cuda("sm_90a").arch()).isEqualTo("sm_90a");
        assertThat(Device.of("cuda", Device.ANY_ARCH).hasCudaKernels()).isFalse();
        assertThat(Device.cuda("sm_90")).hasToString("cuda sm_90");
        assertThat(Device.cuda(Device.ANY_ARCH)).hasToString("cuda (any GPU, kernels compiled at load)");
        assertThatThrownBy(() -> Device.cuda("sm_75")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sm_75 is older than sm_80");
        for (String bad : new String[] {"90", "sm90", "sm_9", "compute_90", "gfx90a", "SM_90", ""}) {
            assertThatThrownBy(() -> Device.cuda(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + bad + "' is not of the form sm_<major><minor>");
        }
        assertThatThrownBy(() -> Device.of("cpu", "sm_90")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("a CUDA architecture (sm_90) is for the cuda backend, not cpu");
    }

    @Test
    void aCudaDeviceWithoutAGpuOrAnArchIsAClearError() {
        String reason = CudaBackend.unavailableReason();
        assumeTrue(reason != null, "a usable CUDA device is present: Device.of(\"cuda\") takes its arch");
        assertThatThrownBy(() -> Device.of("cuda")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no usable CUDA device here").hasMessageContaining(reason)
                .hasMessageContaining("--cuda-arch sm_90").hasMessageContaining("--cuda-arch any");
    }
}
