package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.model.Parallelism;
import io.trtllm.runtime.cuda.CudaBackend.ExchangePlan;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which path the groups of CUDA ranks take: NCCL where a group's ranks are on distinct devices, else host memory. */
class ExchangePlanTests {

    @Test
    void ranksSharingOneDeviceGoThroughHostMemory() {
        var tp2 = ExchangePlan.of(new Parallelism(2, 1), List.of(0, 0), true);
        assertThat(tp2.tpNccl()).containsExactly(false);
        assertThat(tp2.anyNccl()).isFalse();
        assertThat(tp2.describe(new Parallelism(2, 1))).isEqualTo("TP all-reduce through host memory");

        var both = new Parallelism(2, 2);
        var oneGpu = ExchangePlan.of(both, List.of(0, 0, 0, 0), true);
        assertThat(oneGpu.tpNccl()).containsExactly(false, false);
        assertThat(oneGpu.ppNccl()).containsExactly(false, false);
        assertThat(oneGpu.describe(both)).isEqualTo("TP all-reduce through host memory, stage-to-stage through host memory");
    }

    @Test
    void ranksOnDistinctDevicesTakeNccl() {
        var pp2 = new Parallelism(1, 2);
        var plan = ExchangePlan.of(pp2, List.of(0, 1), true);
        assertThat(plan.ppNccl()).containsExactly(true);
        assertThat(plan.tpNccl()).containsExactly(false, false); // TP 1: no group to reduce over
        assertThat(plan.describe(pp2)).isEqualTo("stage-to-stage through NCCL on device buffers");

        var both = new Parallelism(2, 2);
        var fourGpus = ExchangePlan.of(both, List.of(0, 1, 2, 3), true);
        assertThat(fourGpus.tpNccl()).containsExactly(true, true);
        assertThat(fourGpus.ppNccl()).containsExactly(true, true);
    }

    @Test
    void eachGroupIsJudgedByItsOwnDevices() {
        // Two GPUs for TP 2 × PP 2 (ranks r → device r % 2): each stage's TP ranks are on devices 0 and 1 (NCCL),
        // each TP rank's stages on one device (host memory).
        var both = new Parallelism(2, 2);
        var twoGpus = ExchangePlan.of(both, List.of(0, 1, 0, 1), true);
        assertThat(twoGpus.tpNccl()).containsExactly(true, true);
        assertThat(twoGpus.ppNccl()).containsExactly(false, false);
        assertThat(twoGpus.describe(both))
                .isEqualTo("TP all-reduce through NCCL on device buffers, stage-to-stage through host memory");
        assertThat(ExchangePlan.tpDevices(1, 2, List.of(0, 1, 2, 3))).containsExactly(2, 3);
        assertThat(ExchangePlan.ppDevices(1, 2, 2, List.of(0, 1, 2, 3))).containsExactly(1, 3);

        // Three devices for TP 2 × PP 2: stage 0 on 0, 1; stage 1 on 2, 2 (shared).
        var mixed = ExchangePlan.of(both, List.of(0, 1, 2, 2), true);
        assertThat(mixed.tpNccl()).containsExactly(true, false);
        assertThat(mixed.ppNccl()).containsExactly(true, true);
        assertThat(mixed.describe(both)).isEqualTo("TP all-reduce through NCCL for stage [0], host memory for the others, "
                + "stage-to-stage through NCCL on device buffers");
    }

    @Test
    void ncclTurnedOffSendsEveryGroupThroughHostMemory() {
        var plan = ExchangePlan.of(new Parallelism(2, 2), List.of(0, 1, 2, 3), false);
        assertThat(plan.anyNccl()).isFalse();
    }
}
