package io.trtllm.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** SamplingParams features end to end on stories15M (greedy story: ", there was a little girl named Lily. ..."). */
class SamplingFeaturesIT {
    static LLM llm;
    static final String PROMPT = "Once upon a time";

    @BeforeAll
    static void load() {
        llm = new LLM(LlmArgs.builder("stories15M").maxBeamWidth(4).build());
    }

    @AfterAll
    static void close() {
        llm.close();
    }

    static SamplingParams.Builder greedy(int maxTokens) {
        return SamplingParams.builder().maxTokens(maxTokens).temperature(0);
    }

    @Test
    void stopStringsEndTheOutputAndAreTrimmedUnlessIncluded() {
        CompletionOutput trimmed = llm.generate(PROMPT, greedy(60).stop(List.of("Lily")).build()).output();
        assertThat(trimmed.text()).isEqualTo(", there was a little girl named ");
        assertThat(trimmed.finishReason()).isEqualTo(CompletionOutput.STOP);
        assertThat(trimmed.stopReason()).isEqualTo("Lily");
        assertThat(trimmed.tokenIds().length).isLessThan(15);

        CompletionOutput kept = llm.generate(PROMPT, greedy(60).stop(List.of("Lily")).includeStopStrInOutput(true).build()).output();
        assertThat(kept.text()).isEqualTo(", there was a little girl named Lily");
    }

    @Test
    void streamedTextNeverShowsTheStopString() {
        List<String> pieces = new ArrayList<>();
        RequestOutput out = llm.generate(PROMPT, greedy(60).stop(List.of(" sunshine")).build(), pieces::add);
        assertThat(out.output().text()).isEqualTo(", there was a little girl named Lily. She loved to play outside in the");
        assertThat(String.join("", pieces)).isEqualTo(out.output().text());
        assertThat(out.output().stopReason()).isEqualTo(" sunshine");
    }

    /**
     * A seeded draw is the same wherever it is made: by the runner (plain request) or on the host, where
     * the row comes when logprobs or prompt logprobs are asked for; and asking for them takes nothing
     * from the sequence's random stream.
     */
    @Test
    void askingForLogprobsDoesNotChangeASeededSequence() {
        var base = SamplingParams.builder().maxTokens(48).temperature(0.9f).topK(40).topP(0.95f).seed(7L).ignoreEos(true);
        int[] plain = llm.generate(PROMPT, base.build()).output().tokenIds();
        int[] withLogprobs = llm.generate(PROMPT, base.logprobs(2).build()).output().tokenIds();
        int[] withPromptLogprobs = llm.generate(PROMPT, base.logprobs(null).promptLogprobs(0).build()).output().tokenIds();
        assertThat(withLogprobs).isEqualTo(plain);
        assertThat(withPromptLogprobs).isEqualTo(plain);
        int[] otherSeed = llm.generate(PROMPT, base.promptLogprobs(null).seed(8L).build()).output().tokenIds();
        assertThat(otherSeed).isNotEqualTo(plain);
    }

    @Test
    void logprobsArePerTokenAndSumToTheCumulative() {
        CompletionOutput out = llm.generate(PROMPT, greedy(10).logprobs(3).build()).output();
        assertThat(out.logprobs()).hasSize(10);
        double sum = 0;
        int[] ids = out.tokenIds();
        for (int i = 0; i < 10; i++) {
            TokenLogprob lp = out.logprobs().get(i);
            assertThat(lp.tokenId()).isEqualTo(ids[i]);
            assertThat(lp.topTokenIds()).hasSize(3);
            assertThat(lp.topTokenIds()[0]).as("greedy picks the most likely").isEqualTo(ids[i]);
            assertThat(lp.logprob()).isEqualTo(lp.topLogprobs()[0]).isLessThanOrEqualTo(0f);
            assertThat(lp.topLogprobs()[0]).isGreaterThanOrEqualTo(lp.topLogprobs()[1]);
            sum += lp.logprob();
        }
        assertThat(out.cumulativeLogprob()).isCloseTo(sum, within(1e-4));
        assertThat(llm.generate(PROMPT, greedy(10).build()).output().logprobs()).isEmpty();
    }

    @Test
    void badWordsAndPenaltiesChangeWhatIsGenerated() {
        String plain = llm.generate(PROMPT, greedy(20).build()).output().text();
        String noLily = llm.generate(PROMPT, greedy(20).bad(List.of("Lily")).build()).output().text();
        assertThat(plain).contains("Lily");
        assertThat(noLily).doesNotContain("Lily");
        String penalized = llm.generate(PROMPT, greedy(40).repetitionPenalty(2.0f).build()).output().text();
        assertThat(penalized).isNotEqualTo(llm.generate(PROMPT, greedy(40).build()).output().text());
    }

    @Test
    void minTokensHoldsBackStopTokens() {
        int period = llm.tokenizer().tokenToId(".");
        CompletionOutput early = llm.generate(PROMPT, greedy(60).stopTokenIds(List.of(period)).build()).output();
        assertThat(early.finishReason()).isEqualTo(CompletionOutput.STOP);
        assertThat(early.stopReason()).isEqualTo(period);
        assertThat(early.text()).isEqualTo(", there was a little girl named Lily");
        CompletionOutput later = llm.generate(PROMPT, greedy(60).stopTokenIds(List.of(period)).minTokens(15).build()).output();
        assertThat(later.tokenIds().length).isGreaterThanOrEqualTo(15);
        // The period is banned for the first 15 tokens, so the sentence goes on differently.
        assertThat(later.text()).startsWith(early.text()).hasSizeGreaterThan(early.text().length() + 20);
        assertThat(later.text()).doesNotContain(".");
    }

    @Test
    void promptLogprobsMatchTransformersLogits() throws Exception {
        // reference/stories15M-greedy.json holds transformers' 20 largest logits of every prompt position.
        var ref = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
                SamplingFeaturesIT.class.getResourceAsStream("/reference/stories15M-greedy.json"));
        var top = ref.get("prompt_top_logits");
        RequestOutput out = llm.generate(PROMPT, greedy(2).promptLogprobs(5).build());
        int[] prompt = out.promptTokenIds();
        assertThat(out.promptLogprobs()).hasSize(prompt.length - 1);
        for (int p = 1; p < prompt.length; p++) {
            TokenLogprob lp = out.promptLogprobs().get(p - 1);
            var row = top.get(p - 1); // logits at position p-1 predict token p
            assertThat(lp.tokenId()).isEqualTo(prompt[p]);
            assertThat(lp.logprob()).isLessThanOrEqualTo(0f);
            for (int k = 0; k < 5; k++) {
                assertThat(lp.topTokenIds()[k]).as("position %d rank %d", p, k).isEqualTo(row.get(k).get(0).asInt());
                // log_softmax shifts all logits by one constant: differences are the logits' differences.
                double expected = row.get(k).get(1).asDouble() - row.get(0).get(1).asDouble();
                assertThat((double) (lp.topLogprobs()[k] - lp.topLogprobs()[0])).isCloseTo(expected, within(1e-3));
            }
        }
        // With the prompt's blocks already in the prefix cache, every position is still reported.
        String longPrompt = "Once upon a time, there was a little girl named Lily. She loved to play outside. ".repeat(4);
        llm.generate(longPrompt, greedy(2).build());
        RequestOutput cached = llm.generate(longPrompt, greedy(2).promptLogprobs(1).build());
        RequestOutput again = llm.generate(longPrompt, greedy(2).promptLogprobs(1).build());
        assertThat(cached.promptLogprobs()).hasSize(cached.promptTokenIds().length - 1);
        for (int i = 0; i < cached.promptLogprobs().size(); i++) {
            assertThat(again.promptLogprobs().get(i).logprob()).isEqualTo(cached.promptLogprobs().get(i).logprob());
        }
        // The generated tokens are those of a request without prompt logprobs.
        assertThat(out.output().tokenIds()).containsExactly(llm.generate(PROMPT, greedy(2).build()).output().tokenIds());
    }

    @Test
    void truncatePromptTokensKeepsTheEnd() {
        RequestOutput out = llm.generate("Once upon a time there was a dog", greedy(4).truncatePromptTokens(3).build());
        assertThat(out.promptTokenIds()).hasSize(3);
    }

    @Test
    void nSamplesAreSeededIndependentlyAndBestOfKeepsTheMostLikely() {
        var params = SamplingParams.builder().maxTokens(12).temperature(2.0f).n(3).seed(11L).build();
        RequestOutput a = llm.generate(PROMPT, params);
        RequestOutput b = llm.generate(PROMPT, params);
        assertThat(a.outputs()).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(a.outputs().get(i).index()).isEqualTo(i);
            assertThat(a.outputs().get(i).tokenIds()).containsExactly(b.outputs().get(i).tokenIds());
        }
        assertThat(a.outputs().get(0).tokenIds()).isNotEqualTo(a.outputs().get(1).tokenIds());

        var best = SamplingParams.builder().maxTokens(12).temperature(1.0f).n(2).bestOf(5).seed(11L).logprobs(0).build();
        RequestOutput r = llm.generate(PROMPT, best);
        assertThat(r.outputs()).hasSize(2);
        assertThat(r.outputs().get(0).cumulativeLogprob()).isGreaterThanOrEqualTo(r.outputs().get(1).cumulativeLogprob());
        // The two kept are the two most likely of the five samples (sample i is the i-th split of the seed).
        var all = llm.generate(PROMPT, SamplingParams.builder().maxTokens(12).temperature(1.0f).n(5).seed(11L).logprobs(0).build());
        double second = all.outputs().stream().mapToDouble(CompletionOutput::cumulativeLogprob).sorted().skip(3).findFirst().orElseThrow();
        assertThat(r.outputs().get(1).cumulativeLogprob()).isEqualTo(second);
    }

    @Test
    void beamSearchOfWidthOneIsGreedyAndWiderBeamsAreRankedAndFindLikelierText() {
        int[] greedyIds = llm.generate(PROMPT, greedy(16).build()).output().tokenIds();
        RequestOutput one = llm.generate(PROMPT, SamplingParams.builder().maxTokens(16).temperature(0)
                .useBeamSearch(true).build());
        assertThat(one.outputs()).hasSize(1);
        assertThat(one.output().tokenIds()).containsExactly(greedyIds);

        var wide = SamplingParams.builder().maxTokens(16).temperature(0).useBeamSearch(true).n(2).bestOf(4).build();
        RequestOutput beams = llm.generate(PROMPT, wide);
        assertThat(beams.outputs()).hasSize(2);
        assertThat(beams.outputs().get(0).cumulativeLogprob()).isGreaterThanOrEqualTo(beams.outputs().get(1).cumulativeLogprob());
        // The text reads as it does after the prompt: decode(prompt + output) less decode(prompt).
        int[] promptIds = beams.promptTokenIds();
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(promptIds),
                java.util.Arrays.stream(beams.outputs().get(0).tokenIds())).toArray();
        String promptText = llm.tokenizer().decode(promptIds, true);
        assertThat(llm.tokenizer().decode(all, true)).startsWith(promptText);
        assertThat(beams.outputs().get(0).text()).isEqualTo(llm.tokenizer().decode(all, true).substring(promptText.length()));
        double greedyCumulative = llm.generate(PROMPT, greedy(16).logprobs(0).build()).output().cumulativeLogprob();
        assertThat(beams.outputs().get(0).cumulativeLogprob()).isGreaterThanOrEqualTo(greedyCumulative - 1e-4);
        assertThat(llm.generate(PROMPT, wide).outputs().get(0).tokenIds()).containsExactly(beams.outputs().get(0).tokenIds());
    }

    @Test
    void unsupportedCombinationsAreRefusedNotIgnored() {
        assertThatThrownBy(() -> llm.generate(PROMPT, SamplingParams.builder().maxTokens(5).n(2).bestOf(2)
                .useBeamSearch(true).promptLogprobs(1).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("use_beam_search does not support prompt_logprobs");
        var sub = new LlmAsyncAndStreamingIT.StepSubscriber(-1);
        llm.generateStream(PROMPT, SamplingParams.builder().maxTokens(5).n(2).build()).subscribe(sub);
        assertThat(sub.error.get()).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("streaming supports n");
    }
}
