package io.trtllm.engine;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.KvCacheConfig;
import io.trtllm.api.config.RuntimeConfig;
import io.trtllm.model.InvalidSplitException;
import io.trtllm.model.ModelConfig;
import io.trtllm.model.Parallelism;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Runners#checkParallel}: which splits each backend takes, checked before anything is built or loaded. */
class RunnersSplitIT {

    private static ModelConfig config() throws Exception {
        // 2 layers, 4 query heads, 2 KV heads, intermediate 128, vocabulary 256
        return ModelConfig.load(Path.of(RunnersSplitIT.class.getResource("/parity/llama3/config.json").toURI()).getParent());
    }

    private static RunnerOptions options(Parallelism parallelism, List<Integer> devices) {
        return new RunnerOptions(KvCacheConfig.defaults(), 1, parallelism, devices, RunnerOptions.DEFAULT_RANK_TIMEOUT,
                RuntimeConfig.fromSystemProperties());
    }

    @Test
    void theCudaBackendTakesPipelineStagesAndTensorParallelRanks() throws Exception {
        ModelConfig config = config();
        for (Parallelism p : List.of(new Parallelism(2, 1), new Parallelism(1, 2), new Parallelism(2, 2))) {
            assertThatCode(() -> Runners.checkParallel(config, "cuda", options(p, List.of()))).doesNotThrowAnyException();
        }
        assertThatCode(() -> Runners.checkParallel(config, "cuda", options(new Parallelism(2, 2), List.of(0, 1, 0, 1))))
                .doesNotThrowAnyException();
    }

    @Test
    void aSplitTheModelCannotTakeIsRefusedNamingTheSetting() throws Exception {
        ModelConfig config = config();
        assertThatThrownBy(() -> Runners.checkParallel(config, "cuda", options(new Parallelism(1, 3), List.of())))
                .isInstanceOf(InvalidSplitException.class).hasMessageContaining("pipeline_parallel_size 3");
        assertThatThrownBy(() -> Runners.checkParallel(config, "cpu", options(new Parallelism(1, 2), List.of(0, 1))))
                .isInstanceOf(InvalidSplitException.class).hasMessageContaining("device_ids");
    }
}
