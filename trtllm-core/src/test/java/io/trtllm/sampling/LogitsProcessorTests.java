package io.trtllm.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Each processor against values computed by hand from Hugging Face's (and, for presence/frequency,
 * vLLM's) formulas, and the order in which {@link LogitsProcessor#process} applies them.
 */
class LogitsProcessorTests {
    private static final float BANNED = Float.NEGATIVE_INFINITY;

    static SamplingState state(SamplingConfig config, int[] prompt, int... output) {
        var state = new SamplingState(config, prompt, new SplittableRandom(0));
        for (int token : output) {
            state.append(token);
        }
        return state;
    }

    /** Logits whose softmax is {@code probs}. */
    static float[] logitsOf(double... probs) {
        float[] logits = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            logits[i] = (float) Math.log(probs[i]);
        }
        return logits;
    }

    static int[] kept(float[] logits) {
        return IntStream.range(0, logits.length).filter(i -> logits[i] != BANNED).toArray();
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfPromptAndOutputTokensOnce() {
        var config = SamplingConfig.builder().repetitionPenalty(2f).build();
        float[] logits = {2.0f, -1.0f, 0.5f, 3.0f, -0.5f};
        LogitsProcessor.applyRepetitionPenalty(logits, 0, 5, state(config, new int[] {0, 0, 1}, 3, 3));
        // tokens 0, 1 (prompt) and 3 (output), each once however often it occurred; 2 and 4 untouched
        assertThat(logits).containsExactly(1.0f, -2.0f, 0.5f, 1.5f, -0.5f);
    }

    @Test
    void repetitionPenaltyBelowOneEncouragesRepetition() {
        var config = SamplingConfig.builder().repetitionPenalty(0.5f).build();
        float[] logits = {2.0f, -1.0f, 0.5f};
        LogitsProcessor.applyRepetitionPenalty(logits, 0, 3, state(config, new int[] {0, 1}));
        assertThat(logits).containsExactly(4.0f, -0.5f, 0.5f);
    }

    @Test
    void presenceAndFrequencyPenaltiesCountOnlyGeneratedTokens() {
        var config = SamplingConfig.builder().presencePenalty(0.5f).frequencyPenalty(0.25f).build();
        float[] logits = {1f, 1f, 1f, 1f};
        LogitsProcessor.applyPresenceAndFrequencyPenalties(logits, 0, 4, state(config, new int[] {0, 3}, 2, 2, 2, 1));
        // logit - frequency * count - presence * (count > 0); prompt tokens 0 and 3 are not counted
        assertThat(logits).containsExactly(1f, 1f - 0.25f - 0.5f, 1f - 0.75f - 0.5f, 1f);
    }

    @Test
    void repetitionPenaltyComesBeforePresencePenalty() {
        var config = SamplingConfig.builder().repetitionPenalty(2f).presencePenalty(1f).build();
        float[] logits = {2f, 0f};
        LogitsProcessor.process(logits, 0, 2, state(config, new int[] {1}, 0));
        // (2 / 2) - 1 = 0 — the other order would give (2 - 1) / 2 = 0.5
        assertThat(logits[0]).isEqualTo(0f);
    }

    @Test
    void badTokenIdsAreAlwaysBannedAndBadWordsOnlyWhenTheirPrefixEndsTheSequence() {
        var config = SamplingConfig.builder().badTokenIds(4).badWords(new int[] {5, 7, 9}, new int[] {1, 2}).build();
        // the prefix 5, 7 spans prompt and output
        var state = state(config, new int[] {3, 5}, 7);
        float[] logits = new float[10];
        LogitsProcessor.applyBadWords(logits, 0, 10, state);
        assertThat(kept(logits)).containsExactly(0, 1, 2, 3, 5, 6, 7, 8);

        state.append(1);
        logits = new float[10];
        LogitsProcessor.applyBadWords(logits, 0, 10, state);
        assertThat(kept(logits)).containsExactly(0, 1, 3, 5, 6, 7, 8, 9);
    }

    @Test
    void badWordLongerThanTheSequenceBansNothing() {
        var config = SamplingConfig.builder().badWords(new int[] {1, 2, 3, 4}).build();
        float[] logits = new float[5];
        LogitsProcessor.applyBadWords(logits, 0, 5, state(config, new int[] {2, 3}));
        assertThat(kept(logits)).hasSize(5);
    }

    @Test
    void minTokensBansEndTokensUntilEnoughWereGenerated() {
        var config = SamplingConfig.builder().minTokens(2).endTokenIds(0, 3).build();
        var state = state(config, new int[] {1, 1, 1});
        for (int generated = 0; generated < 2; generated++) {
            float[] logits = new float[5];
            LogitsProcessor.applyMinTokens(logits, 0, 5, state);
            assertThat(kept(logits)).as("after %d tokens", generated).containsExactly(1, 2, 4);
            state.append(2);
        }
        float[] logits = new float[5];
        LogitsProcessor.applyMinTokens(logits, 0, 5, state);
        assertThat(kept(logits)).hasSize(5);
    }

    @Test
    void temperatureDividesLogits() {
        float[] logits = {2f, -1f, 0.5f};
        LogitsProcessor.applyTemperature(logits, 0, 3, 0.5f);
        assertThat(logits).containsExactly(4f, -2f, 1f);
        assertThatThrownBy(() -> LogitsProcessor.applyTemperature(logits, 0, 3, 0f))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0 means greedy");
    }

    @Test
    void topKKeepsTheKLargestAndTiesWithTheKth() {
        float[] logits = {1f, 5f, 3f, 5f, 2f};
        LogitsProcessor.applyTopK(logits, 0, 5, 3);
        assertThat(kept(logits)).containsExactly(1, 2, 3);

        float[] tied = {1f, 4f, 4f, 4f, 0f};
        LogitsProcessor.applyTopK(tied, 0, 5, 2);
        assertThat(kept(tied)).containsExactly(1, 2, 3); // HF: scores < kth value are removed; ties stay

        float[] all = {1f, 2f, 3f};
        LogitsProcessor.applyTopK(all, 0, 3, 0);
        LogitsProcessor.applyTopK(all, 0, 3, 3);
        assertThat(kept(all)).hasSize(3);
    }

    @Test
    void topKWorksOnARowInsideABatch() {
        float[] batch = {9f, 9f, 9f, /* row 1: */ 1f, 5f, 3f, 2f, /* row 2: */ 9f};
        LogitsProcessor.applyTopK(batch, 3, 4, 2);
        assertThat(batch).containsExactly(9f, 9f, 9f, BANNED, 5f, 3f, BANNED, 9f);
    }

    @Test
    void topPKeepsTokensUntilTheirCumulativeProbabilityReachesP() {
        // probabilities 0.05, 0.5, 0.15, 0.3: descending 1 (0.5), 3 (0.8), 2 (0.95), 0 (1.0)
        double[] probs = {0.05, 0.5, 0.15, 0.3};
        float[] logits = logitsOf(probs);
        LogitsProcessor.applyTopP(logits, 0, 4, 0.4f);
        assertThat(kept(logits)).containsExactly(1);

        logits = logitsOf(probs);
        LogitsProcessor.applyTopP(logits, 0, 4, 0.75f);
        assertThat(kept(logits)).containsExactly(1, 3);

        logits = logitsOf(probs);
        LogitsProcessor.applyTopP(logits, 0, 4, 0.85f);
        assertThat(kept(logits)).containsExactly(1, 2, 3);

        logits = logitsOf(probs);
        LogitsProcessor.applyTopP(logits, 0, 4, 1f);
        assertThat(kept(logits)).containsExactly(0, 1, 2, 3);
    }

    @Test
    void topPBreaksTiesAtTheCutByLowestId() {
        float[] logits = {0f, 0f, 0f, 0f};
        LogitsProcessor.applyTopP(logits, 0, 4, 0.5f);
        assertThat(kept(logits)).containsExactly(0, 1);
    }

    @Test
    void topPRenormalizesOverWhatTopKLeft() {
        // top-k 2 leaves 0.5 and 0.3, renormalized to 0.625 and 0.375: top-p 0.6 keeps one token
        // (without renormalization, 0.5 < 0.6 would keep two)
        var config = SamplingConfig.builder().topK(2).topP(0.6f).build();
        float[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.applyWarpers(logits, 0, 4, config);
        assertThat(kept(logits)).containsExactly(0);
    }

    @Test
    void topPSeesTheDistributionAfterTemperature() {
        // temperature 2 turns p into sqrt(p) / sum: 0.379, 0.294, 0.208, 0.120 — reaching 0.75 takes
        // three tokens, where the unscaled 0.5 + 0.3 would take two
        var config = SamplingConfig.builder().temperature(2f).topP(0.75f).build();
        float[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.process(logits, 0, 4, state(config, new int[] {0}));
        assertThat(kept(logits)).containsExactly(0, 1, 2);
    }

    @ParameterizedTest
    @ValueSource(floats = {0.05f, 0.3f, 0.5f, 0.9f, 0.99f, 0.999f})
    void topPOnALargeVocabularyKeepsTheSameSetAsAFullSort(float topP) {
        var random = new SplittableRandom(Float.floatToIntBits(topP));
        int vocab = 32_000;
        for (double scale : new double[] {8.0, 1.0, 0.05}) { // peaked, LLM-like, nearly flat (nucleus > 64)
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                // rounded so that equal logits occur
                logits[i] = Math.round(random.nextGaussian() * scale * 64) / 64f;
            }
            float[] expected = referenceTopP(logits, topP);
            float[] actual = logits.clone();
            LogitsProcessor.applyTopP(actual, 0, vocab, topP);
            assertThat(kept(actual)).as("scale %s", scale).containsExactly(kept(expected));
        }
    }

    /** Top-p by sorting everything: logit descending, id ascending. */
    static float[] referenceTopP(float[] logits, float topP) {
        int n = logits.length;
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        float max = logits[order[0]];
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        float[] out = new float[n];
        Arrays.fill(out, BANNED);
        double cumulative = 0;
        for (int id : order) {
            out[id] = logits[id];
            cumulative += Math.exp(logits[id] - max) / sum;
            if (cumulative >= topP) {
                break;
            }
        }
        return out;
    }

    @Test
    void minPKeepsTokensAtLeastMinPTimesAsLikelyAsTheTopOne() {
        // top probability 0.5: min_p 0.2 keeps p >= 0.1, min_p 0.7 keeps p >= 0.35
        float[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.applyMinP(logits, 0, 4, 0.2f);
        assertThat(kept(logits)).containsExactly(0, 1, 2);

        logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.applyMinP(logits, 0, 4, 0.7f);
        assertThat(kept(logits)).containsExactly(0);

        logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.applyMinP(logits, 0, 4, 0f);
        assertThat(kept(logits)).hasSize(4);
    }

    @Test
    void minPSeesTheDistributionAfterTemperature() {
        // temperature 2: sqrt(0.05 / 0.5) = 0.316 >= 0.25, so min_p 0.25 keeps token 3, which it drops at
        // temperature 1 (0.05 / 0.5 = 0.1)
        var hot = SamplingConfig.builder().temperature(2f).minP(0.25f).build();
        float[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.applyWarpers(logits, 0, 4, hot);
        assertThat(kept(logits)).containsExactly(0, 1, 2, 3);

        var cold = SamplingConfig.builder().minP(0.25f).build();
        logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        LogitsProcessor.applyWarpers(logits, 0, 4, cold);
        assertThat(kept(logits)).containsExactly(0, 1, 2);
    }

    @Test
    void greedyProcessingAppliesPenaltiesButNoWarpers() {
        var config = SamplingConfig.builder().temperature(0f).topK(2).topP(0.1f).badTokenIds(3).build();
        float[] logits = {1f, 2f, 3f, 4f};
        LogitsProcessor.process(logits, 0, 4, state(config, new int[] {0}));
        assertThat(logits).containsExactly(1f, 2f, 3f, BANNED);
    }

    @Test
    void processMatchesTheStepsInHuggingFaceOrder() {
        var config = SamplingConfig.builder().repetitionPenalty(1.3f).frequencyPenalty(0.2f).presencePenalty(0.1f)
                .badTokenIds(7).minTokens(5).endTokenIds(0).temperature(0.8f).topK(6).topP(0.9f).minP(0.05f).build();
        var random = new SplittableRandom(3);
        float[] logits = new float[12];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) random.nextGaussian() * 2;
        }
        var state = state(config, new int[] {1, 2, 3}, 4, 4, 5);
        float[] expected = logits.clone();
        // step by step, with the formulas written out
        for (int token : new int[] {1, 2, 3, 4, 5}) {
            expected[token] = expected[token] < 0 ? expected[token] * 1.3f : expected[token] / 1.3f;
        }
        expected[4] -= 0.2f * 2;
        expected[4] -= 0.1f;
        expected[5] -= 0.2f;
        expected[5] -= 0.1f;
        expected[7] = BANNED;
        expected[0] = BANNED;
        LogitsProcessor.applyTemperature(expected, 0, 12, 0.8f);
        LogitsProcessor.applyTopK(expected, 0, 12, 6);
        LogitsProcessor.applyTopP(expected, 0, 12, 0.9f);
        LogitsProcessor.applyMinP(expected, 0, 12, 0.05f);

        LogitsProcessor.process(logits, 0, 12, state);
        assertThat(logits).containsExactly(expected, within(1e-6f));
    }

    @Test
    void tokenCountsCountEveryTokenThroughRehashing() {
        var counts = new TokenCounts();
        for (int round = 0; round < 3; round++) {
            for (int token = 0; token < 1000; token += 7) {
                counts.add(token * 131);
            }
        }
        assertThat(counts.size()).isEqualTo(143);
        assertThat(counts.count(7 * 131)).isEqualTo(3);
        assertThat(counts.count(1)).isZero();
        assertThat(counts.token(1)).isEqualTo(7 * 131);
        assertThat(counts.countAt(142)).isEqualTo(3);
    }
}
