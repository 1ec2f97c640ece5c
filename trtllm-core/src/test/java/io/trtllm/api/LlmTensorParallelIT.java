package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.api.config.InvalidSettingException;
import io.trtllm.api.config.KvCacheConfig;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tensor_parallel_size} / {@code pipeline_parallel_size} through the front door, and their errors. */
class LlmTensorParallelIT {

    @Test
    void stories15MSplitOverTwoRanksGeneratesTransformersGreedyTokens() throws Exception {
        int[] expected;
        try (InputStream in = getClass().getResourceAsStream("/reference/stories15M-greedy.json")) {
            var ids = new ObjectMapper().readTree(in).get("greedy_ids");
            expected = new int[64];
            for (int i = 0; i < 64; i++) {
                expected[i] = ids.get(i).asInt();
            }
        }
        var args = LlmArgs.builder("stories15M").backend("cpu").tensorParallelSize(2).pipelineParallelSize(2).threads(4)
                .kvCacheConfig(new KvCacheConfig(4096, KvCacheConfig.defaults().memoryFraction(), true, 32)).build(); // default max_seq_len: the engine other tests built is in the cache
        try (var llm = new LLM(args)) {
            RequestOutput out = llm.generate("Once upon a time", SamplingParams.greedy(64));
            assertThat(out.output().tokenIds()).containsExactly(expected);
            assertThat(llm.rankStats()).hasSize(4).allMatch(r -> r.passes() > 64 && r.failure() == null
                    && r.deviceMemoryBytes() == -1);
            assertThat(llm.rankStats()).extracting(RankStats::shard).first().asString()
                    .contains("rank 0", "stage 0 of 2", "layers 0-2");
            assertThat(llm.backendDescription()).contains("TP 2 × PP 2");
        }
    }

    @Test
    void aSplitEngineIsCachedSavedAndLoadedAsAPrebuiltEngineWithItsSplitOnly(@TempDir Path tmp) throws Exception {
        int[] expected = reference(64);
        var args = LlmArgs.builder("stories15M").backend("cpu").tensorParallelSize(2).threads(2).maxSeqLen(96).build();
        Path saved = tmp.resolve("engine");
        try (var llm = new LLM(args)) {
            // Built for the split: each rank's shard in the CPU's panel layout, run in place.
            assertThat(llm.engineDirectory().resolve("rank0/model.safetensors")).isRegularFile();
            assertThat(llm.engineDirectory().resolve("rank1/model.safetensors")).isRegularFile();
            assertThat(llm.engineDirectory().resolve("model.safetensors")).doesNotExist();
            assertThat(llm.generate("Once upon a time", SamplingParams.greedy(64)).output().tokenIds()).containsExactly(expected);
            llm.save(saved);
        }
        var prebuilt = LlmArgs.builder(saved.toString()).backend("cpu").tensorParallelSize(2).threads(2).build();
        try (var llm = new LLM(prebuilt)) {
            assertThat(llm.engineLoad().kind()).isEqualTo(EngineLoad.Kind.PREBUILT);
            assertThat(llm.generate("Once upon a time", SamplingParams.greedy(64)).output().tokenIds()).containsExactly(expected);
        }
        var otherSplit = LlmArgs.builder(saved.toString()).backend("cpu").threads(2).build();
        assertThatThrownBy(() -> new LLM(otherSplit)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("was built for TP 2 × PP 1 (2 ranks) and cannot run as TP 1 × PP 1")
                .extracting(e -> ((InvalidSettingException) e).setting()).isEqualTo("tensor_parallel_size");
    }

    private int[] reference(int n) throws Exception {
        try (InputStream in = getClass().getResourceAsStream("/reference/stories15M-greedy.json")) {
            var ids = new ObjectMapper().readTree(in).get("greedy_ids");
            int[] expected = new int[n];
            for (int i = 0; i < n; i++) {
                expected[i] = ids.get(i).asInt();
            }
            return expected;
        }
    }

    @Test
    void aSplitTheModelDoesNotAllowNamesTheSizeAndTheModelsValue() {
        // stories15M has 6 heads.
        var args = LlmArgs.builder("stories15M").backend("cpu").tensorParallelSize(4).maxSeqLen(64).build();
        // Each names its setting, so that a front end names its own key (trtllm.tensor-parallel-size, say).
        assertThatThrownBy(() -> new LLM(args)).isInstanceOf(InvalidSettingException.class)
                .hasMessage("tensor_parallel_size 4 does not divide num_attention_heads 6 of the model")
                .extracting(e -> ((InvalidSettingException) e).setting()).isEqualTo("tensor_parallel_size");
        var tooManyStages = LlmArgs.builder("stories15M").backend("cpu").pipelineParallelSize(7).maxSeqLen(64).build();
        assertThatThrownBy(() -> new LLM(tooManyStages)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("pipeline_parallel_size 7 exceeds num_hidden_layers 6")
                .extracting(e -> ((InvalidSettingException) e).setting()).isEqualTo("pipeline_parallel_size");
        var devices = LlmArgs.builder("stories15M").backend("cpu").tensorParallelSize(2).deviceIds(List.of(0, 1))
                .maxSeqLen(64).build();
        assertThatThrownBy(() -> new LLM(devices)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("the CPU backend's ranks are threads")
                .extracting(e -> ((InvalidSettingException) e).setting()).isEqualTo("device_ids");
    }

    @Test
    void argumentsAreCheckedWhereTheyEnter() {
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").tensorParallelSize(0).build())
                .hasMessage("tensor_parallel_size must be >= 1, got 0");
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").pipelineParallelSize(-1).build())
                .hasMessage("pipeline_parallel_size must be >= 1, got -1");
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").tensorParallelSize(2).deviceIds(List.of(0)).build())
                .hasMessageContaining("device_ids [0] name 1 devices for 2 ranks");
        assertThatThrownBy(() -> LlmArgs.builder("stories15M").tensorParallelSize(2).deviceIds(List.of(1, 1)).build())
                .hasMessageContaining("must be distinct device ordinals");
        var ok = LlmArgs.builder("stories15M").tensorParallelSize(2).pipelineParallelSize(2).build();
        assertThat(ok.tensorParallelSize()).isEqualTo(2);
        assertThat(ok.pipelineParallelSize()).isEqualTo(2);
        assertThat(ok.deviceIds()).isEmpty();
    }
}
