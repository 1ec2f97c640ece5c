package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The engine's device: CPU engines carry the panel layout, CUDA engines plain tensors. */
class DeviceTests {
    @Test
    void eachBackendHasItsDevice() {
        assertThat(Device.of("cpu")).isEqualTo(Device.cpu());
        assertThat(Device.cpu().panelRows()).isPositive().isEven();
        assertThat(Device.of("cuda")).isEqualTo(new Device("cuda", "any", 0, 0));
        assertThat(Device.cuda().toJson().get("panel_rows").intValue()).isZero();
        assertThat(Device.cuda()).isNotEqualTo(Device.cpu());
        assertThatThrownBy(() -> Device.of("tpu")).hasMessageContaining("backend 'tpu' is not one of cpu, cuda");
        assertThatThrownBy(() -> new Device("cpu", "amd64", 512, 0)).hasMessageContaining("panel rows");
        assertThatThrownBy(() -> new Device("cuda", "any", 0, 32)).hasMessageContaining("0 for others");
    }
}
