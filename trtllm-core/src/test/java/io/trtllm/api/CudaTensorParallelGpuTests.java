package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.trtllm.runtime.cuda.GpuResults;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensor parallelism on CUDA, proven on one GPU: stories15M split over two ranks on the same device (the all-reduces
 * through host memory, as NCCL refuses two ranks on one GPU) gives the greedy tokens of the model on one rank, up to
 * BF16 near-ties, and the same tokens alone as in a batch. Needs an NVIDIA GPU (tag {@code gpu}).
 */
@Tag("gpu")
class CudaTensorParallelGpuTests {
    /** TP 1's logit margin below which the ranks' other summation order may pick the runner-up. */
    private static final float NEAR_TIE = 0.05f;

    @TempDir
    Path tmp;

    @Test
    void twoRanksOnOneGpuGiveTheGreedyTokensOfOneRank() throws Exception {
        Path checkpoint = CudaStories15MGpuTests.checkpoint(tmp.resolve("checkpoint"));
        var base = LlmArgs.builder(checkpoint.toString()).backend("cuda").maxSeqLen(128).maxBatchSize(8)
                .cacheDir(tmp.resolve("cache"));
        try (LLM one = new LLM(base.build()); LLM two = new LLM(base.tensorParallelSize(2).build())) {
            GpuResults.record("TP 2 on one GPU: %s; TP 1: %s", two.backendDescription(), one.backendDescription());
            assertThat(two.engineDirectory().resolve("rank1/model.safetensors")).isRegularFile();
            List<String> failures = new ArrayList<>();
            List<int[]> alone = new ArrayList<>();
            for (String prompt : CudaStories15MGpuTests.PROMPTS) {
                int[] ref = one.generate(prompt, SamplingParams.greedy(64)).output().tokenIds();
                int[] tp = two.generate(prompt, SamplingParams.greedy(64)).output().tokenIds();
                alone.add(tp);
                int agree = GpuResults.agreement(tp, ref);
                if (agree == 64) {
                    GpuResults.record("stories15M TP 2 vs TP 1 on CUDA, \"%s\": 64/64 tokens equal", prompt);
                    continue;
                }
                int[] promptIds = one.tokenizer().encode(prompt, true);
                int[] prefix = java.util.Arrays.copyOf(promptIds, promptIds.length + agree);
                System.arraycopy(ref, 0, prefix, promptIds.length, agree);
                TokenLogprob top = one.generate(prefix, SamplingParams.builder().maxTokens(1).temperature(0).logprobs(2)
                        .build()).output().logprobs().getFirst();
                float margin = top.topLogprobs()[0] - top.topLogprobs()[1];
                boolean nearTie = margin < NEAR_TIE && tp[agree] == top.topTokenIds()[1];
                GpuResults.record("stories15M TP 2 vs TP 1 on CUDA, \"%s\": %d/64 tokens equal; at token %d TP 1's best two are "
                        + "%.4f apart and TP 2 took %d: %s", prompt, agree, agree, margin, tp[agree],
                        nearTie ? "a near-tie" : "NOT a near-tie");
                if (!nearTie) {
                    failures.add(prompt + ": first difference at token " + agree + ", TP 1 logit margin " + margin);
                }
            }
            assertThat(failures).isEmpty();

            // Batch invariance under the split: the five prompts in one batch give what each gave alone.
            List<RequestOutput> batched = two.generate(CudaStories15MGpuTests.PROMPTS, SamplingParams.greedy(64));
            int same = 0;
            for (int i = 0; i < batched.size(); i++) {
                if (java.util.Arrays.equals(batched.get(i).output().tokenIds(), alone.get(i))) {
                    same++;
                }
            }
            GpuResults.record("stories15M TP 2 on CUDA, batched vs alone: %d/%d prompts equal", same, batched.size());
            assertThat(same).isEqualTo(batched.size());

            List<RankStats> ranks = two.rankStats();
            GpuResults.record("TP 2 ranks: %s", ranks);
            assertThat(ranks).hasSize(2).allMatch(r -> r.passes() > 64 && r.failure() == null && r.deviceMemoryBytes() > 0);
        }
    }
}
