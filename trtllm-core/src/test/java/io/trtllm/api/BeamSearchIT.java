package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.trtllm.executor.BeamSearchConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Beam search inside the executor, end to end on stories15M: against the old step-by-step search and greedy. */
class BeamSearchIT {
    static LLM llm;
    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Tom and Sue went to the park");

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").backend("cpu").maxBeamWidth(4).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    static SamplingParams.Builder beams(int width, int n, int maxTokens) {
        return SamplingParams.builder().maxTokens(maxTokens).useBeamSearch(true).bestOf(width).n(n);
    }

    static void awaitNoBlocksUsed() throws InterruptedException {
        for (int i = 0; i < 500 && (llm.stats().kvCache().usedBlocks() > 0 || llm.stats().running() > 0); i++) {
            Thread.sleep(10);
        }
        assertThat(llm.stats().kvCache().usedBlocks()).isZero();
        assertThat(llm.stats().running()).isZero();
    }

    @Test
    void beamsEqualTheOldStepByStepSearch() throws InterruptedException {
        Set<Integer> eos = Set.copyOf(llm.modelConfig().eosTokenIds());
        for (String prompt : PROMPTS) {
            for (int width : new int[] {2, 4}) {
                int[] ids = llm.tokenizer().encode(prompt, true);
                var expected = ReferenceBeamSearch.run(llm, ids, width, width, 24, 1f, eos);
                RequestOutput actual = llm.generate(prompt, beams(width, width, 24).earlyStopping(BeamSearchConfig.NEVER).build());
                assertThat(actual.outputs()).as(prompt + " width " + width).hasSize(expected.size());
                for (int i = 0; i < expected.size(); i++) {
                    CompletionOutput o = actual.outputs().get(i);
                    assertThat(o.tokenIds()).as(prompt + " width " + width + " beam " + i)
                            .containsExactly(expected.get(i).tokenIds());
                    assertThat(o.cumulativeLogprob()).isCloseTo(expected.get(i).cumulativeLogprob(), within(1e-3));
                }
            }
        }
        awaitNoBlocksUsed();
    }

    @Test
    void longSearchesWhoseBeamsShareFullBlocksEqualTheOldSearch() throws InterruptedException {
        // 72 tokens fill two or three 32-token blocks: beams descended from one ancestor then share them, and the CPU
        // runner's attention reads those blocks once for the four (Kernels.attendShared). Each beam's logits must
        // stay those it gets alone, as the step-by-step search computes them.
        Set<Integer> eos = Set.copyOf(llm.modelConfig().eosTokenIds());
        for (String prompt : List.of(PROMPTS.get(0), PROMPTS.get(2))) {
            int[] ids = llm.tokenizer().encode(prompt, true);
            var expected = ReferenceBeamSearch.run(llm, ids, 4, 4, 72, 1f, eos);
            RequestOutput actual = llm.generate(prompt, beams(4, 4, 72).earlyStopping(BeamSearchConfig.NEVER).build());
            assertThat(actual.outputs()).as(prompt).hasSize(expected.size());
            for (int i = 0; i < expected.size(); i++) {
                CompletionOutput o = actual.outputs().get(i);
                assertThat(o.tokenIds()).as(prompt + " beam " + i).containsExactly(expected.get(i).tokenIds());
                assertThat(o.cumulativeLogprob()).isCloseTo(expected.get(i).cumulativeLogprob(), within(1e-3));
            }
        }
        awaitNoBlocksUsed();
    }

    @Test
    void widthOneIsGreedyTokenForToken() {
        for (String prompt : PROMPTS) {
            int[] greedy = llm.generate(prompt, SamplingParams.greedy(40)).output().tokenIds();
            assertThat(llm.generate(prompt, beams(1, 1, 40).build()).output().tokenIds()).as(prompt).containsExactly(greedy);
        }
    }

    @Test
    void freeRequestsBatchedWithABeamGroupKeepTheirTokens() {
        List<int[]> alone = new ArrayList<>();
        for (String prompt : PROMPTS) {
            alone.add(llm.generate(prompt, SamplingParams.greedy(48)).output().tokenIds());
        }
        var seeded = SamplingParams.builder().maxTokens(48).temperature(0.8f).seed(5L).build();
        int[] sampledAlone = llm.generate(PROMPTS.get(1), seeded).output().tokenIds();

        CompletableFuture<RequestOutput> group = llm.generateAsync(PROMPTS.get(0), beams(4, 2, 48).build());
        List<CompletableFuture<RequestOutput>> free = new ArrayList<>();
        for (String prompt : PROMPTS) {
            free.add(llm.generateAsync(prompt, SamplingParams.greedy(48)));
        }
        CompletableFuture<RequestOutput> sampled = llm.generateAsync(PROMPTS.get(1), seeded);
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertThat(free.get(i).join().output().tokenIds()).as(PROMPTS.get(i)).containsExactly(alone.get(i));
        }
        assertThat(sampled.join().output().tokenIds()).containsExactly(sampledAlone);
        assertThat(group.join().outputs()).hasSize(2);
    }

    @Test
    void aBeamMatchingAStopStringFinishesWithIt() {
        RequestOutput out = llm.generate(PROMPTS.get(0), beams(4, 4, 40).stop(List.of("Lily")).build());
        CompletionOutput best = out.output();
        assertThat(best.finishReason()).isEqualTo(CompletionOutput.STOP);
        assertThat(best.stopReason()).isEqualTo("Lily");
        assertThat(best.text()).doesNotContain("Lily").endsWith("named ");
        for (CompletionOutput o : out.outputs()) {
            assertThat(o.text()).doesNotContain("Lily");
        }
        RequestOutput kept = llm.generate(PROMPTS.get(0), beams(4, 1, 40).stop(List.of("Lily")).includeStopStrInOutput(true).build());
        assertThat(kept.output().text()).endsWith("named Lily");
    }

    @Test
    void logprobsOfEachBeamAddUpToItsCumulativeLogprob() {
        RequestOutput out = llm.generate(PROMPTS.get(2), beams(3, 3, 20).logprobs(2).build());
        assertThat(out.outputs()).hasSize(3);
        for (CompletionOutput o : out.outputs()) {
            assertThat(o.logprobs()).hasSize(o.tokenIds().length);
            double sum = 0;
            for (int i = 0; i < o.logprobs().size(); i++) {
                TokenLogprob lp = o.logprobs().get(i);
                assertThat(lp.tokenId()).isEqualTo(o.tokenIds()[i]);
                assertThat(lp.topTokenIds()).hasSize(2);
                sum += lp.logprob();
            }
            assertThat(o.cumulativeLogprob()).isCloseTo(sum, within(1e-3));
        }
        assertThat(out.outputs().get(0).cumulativeLogprob()).isGreaterThanOrEqualTo(out.outputs().get(2).cumulativeLogprob());
    }

    @Test
    void streamingShowsTheCurrentBestBeamsAndEndsWithTheResult() {
        var params = beams(4, 2, 24).build();
        RequestOutput expected = llm.generate(PROMPTS.get(0), params);
        List<RequestOutput> updates = new ArrayList<>();
        for (RequestOutput o : llm.generateStream(PROMPTS.get(0), params)) {
            updates.add(o);
        }
        assertThat(updates.size()).isGreaterThan(10);
        RequestOutput last = updates.getLast();
        assertThat(last.finished()).isTrue();
        for (int i = 0; i < 2; i++) {
            assertThat(last.outputs().get(i).tokenIds()).containsExactly(expected.outputs().get(i).tokenIds());
            assertThat(last.outputs().get(i).text()).isEqualTo(expected.outputs().get(i).text());
        }
        assertThat(updates.get(3).outputs()).hasSize(2);
        assertThat(updates.get(3).outputs().getFirst().tokenIds()).hasSize(4);
    }

    @Test
    void cancellingASearchFreesEveryBlock() throws InterruptedException {
        var search = llm.generateAsync(PROMPTS.get(0), beams(4, 1, 200).earlyStopping(BeamSearchConfig.NEVER).build());
        for (int i = 0; i < 500 && llm.stats().kvCache().usedBlocks() < 2; i++) {
            Thread.sleep(5);
        }
        assertThat(llm.stats().kvCache().usedBlocks()).isGreaterThan(1); // the prompt's blocks, shared, and the beams' own
        search.cancel(true);
        assertThat(search).isCompletedExceptionally();
        awaitNoBlocksUsed();
        assertThat(search.isCancelled() || search.handle((r, e) -> e instanceof CancellationException).join()).isTrue();
    }

    @Test
    void guidedBeamsStreamAndCarryTheMaskedLogprobs() {
        var params = beams(4, 3, 8).logprobs(0)
                .guidedDecoding(io.trtllm.api.config.GuidedDecodingParams.regex("[0-9]{3}")).build();
        List<RequestOutput> updates = new ArrayList<>();
        for (RequestOutput o : llm.generateStream(PROMPTS.get(0), params)) {
            updates.add(o);
        }
        RequestOutput last = updates.getLast();
        assertThat(last.outputs()).hasSize(3).allSatisfy(o -> {
            assertThat(o.text()).matches("[0-9]{3}");
            assertThat(o.finishReason()).isEqualTo(CompletionOutput.STOP);
            // Three digits and the end token, each at most certain under the masked distribution.
            assertThat(o.logprobs()).hasSize(o.tokenIds().length);
            assertThat(o.logprobs()).allSatisfy(lp -> assertThat(lp.logprob()).isLessThanOrEqualTo(0f));
            assertThat(o.cumulativeLogprob()).isCloseTo(o.logprobs().stream().mapToDouble(TokenLogprob::logprob).sum(),
                    within(1e-3));
        });
        assertThat(updates.size()).isGreaterThan(1);
        for (RequestOutput u : updates) {
            assertThat(u.outputs()).allSatisfy(o -> assertThat(o.text()).matches("[0-9]{0,3}"));
        }
        RequestOutput unstreamed = llm.generate(PROMPTS.get(0), params);
        assertThat(unstreamed.output().tokenIds()).containsExactly(last.output().tokenIds());
    }
}
