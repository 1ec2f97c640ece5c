package io.trtllm.sampling;

import static io.trtllm.sampling.LogitsProcessorTests.logitsOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The sampler: greedy choice and its ties, the kept sets of top-k/top-p/min-p under many seeded draws
 * (excluded tokens never appear, frequencies follow the renormalized distribution), reproducibility
 * from the seed alone, and log-probabilities of the raw distribution.
 */
class SamplerTests {
    private static final int DRAWS = 20_000;
    /** Four standard deviations of a frequency estimated from {@link #DRAWS} draws, and then some. */
    private static final double FREQUENCY_TOLERANCE = 0.02;
    /** A generator that fails the test if anything draws from it. */
    private static final RandomGenerator NO_DRAWS = () -> {
        throw new AssertionError("greedy decoding drew a random number");
    };

    static SamplingState state(SamplingConfig config, RandomGenerator random) {
        return new SamplingState(config, new int[] {0}, random);
    }

    /** Frequencies of each token over {@link #DRAWS} draws from the same logits. */
    static double[] frequencies(SamplingConfig config, float[] logits) {
        var sampler = new Sampler();
        var state = new SamplingState(config, new int[] {0}, 0);
        int[] counts = new int[logits.length];
        for (int i = 0; i < DRAWS; i++) {
            counts[sampler.sample(logits, 0, logits.length, state).tokenId()]++;
        }
        return Arrays.stream(counts).mapToDouble(c -> c / (double) DRAWS).toArray();
    }

    static void assertFrequencies(double[] actual, double... expected) {
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] == 0) {
                assertThat(actual[i]).as("frequency of excluded token %d", i).isZero();
            } else {
                assertThat(actual[i]).as("frequency of token %d", i).isCloseTo(expected[i], within(FREQUENCY_TOLERANCE));
            }
        }
    }

    @Test
    void argmaxTiesPickTheLowestId() {
        assertThat(Sampler.argmax(new float[] {1f, 3f, 3f, 2f}, 0, 4)).isEqualTo(1);
        assertThat(Sampler.argmax(new float[] {7f, 1f, 3f, 3f}, 1, 3)).isEqualTo(1);
    }

    @Test
    void greedySamplingPicksTheLowestIdOfTiesWithoutDrawing() {
        float[] logits = {1f, 3f, 3f, 2f};
        var sampler = new Sampler();
        assertThat(sampler.sample(logits, 0, 4, state(SamplingConfig.builder().temperature(0).build(), NO_DRAWS))
                .tokenId()).isEqualTo(1);
        // top_k = 1 is greedy too (TensorRT-LLM), even at temperature 1
        assertThat(sampler.sample(logits, 0, 4, state(SamplingConfig.builder().topK(1).build(), NO_DRAWS))
                .tokenId()).isEqualTo(1);
    }

    @Test
    void greedyDecodingAppliesPenaltiesAndLeavesTheRunnersLogitsAlone() {
        var config = SamplingConfig.builder().temperature(0).repetitionPenalty(1.5f).build();
        float[] logits = {2.0f, 1.9f};
        int token = new Sampler().sample(logits, 0, 2, new SamplingState(config, new int[] {0}, NO_DRAWS)).tokenId();
        assertThat(token).isEqualTo(1); // 2.0 / 1.5 < 1.9
        assertThat(logits).containsExactly(2.0f, 1.9f);
    }

    @Test
    void samplingLeavesTheRunnersLogitsAloneAndRecordsTheToken() {
        var config = SamplingConfig.builder().topK(2).repetitionPenalty(1.2f).seed(1L).build();
        float[] logits = {0.5f, 2f, -1f, 1f};
        var state = new SamplingState(config, new int[] {3}, 0);
        int token = new Sampler().sample(logits, 0, 4, state).tokenId();
        assertThat(logits).containsExactly(0.5f, 2f, -1f, 1f);
        assertThat(state.generatedTokens()).isEqualTo(1);
        assertThat(state.outputTokenIds()).containsExactly(token);
    }

    @Test
    void minTokensKeepsGreedyDecodingFromEndingEarly() {
        var config = SamplingConfig.builder().temperature(0).minTokens(3).endTokenIds(0).build();
        float[] logits = {5f, 1f, 2f};
        var sampler = new Sampler();
        var state = new SamplingState(config, new int[] {1}, NO_DRAWS);
        int[] tokens = IntStream.range(0, 4).map(i -> sampler.sample(logits, 0, 3, state).tokenId()).toArray();
        assertThat(tokens).containsExactly(2, 2, 2, 0);
    }

    @Test
    void aBadWordIsNeverCompleted() {
        // 5 then 7 is banned; 7 dominates, so every 5 is followed by the second best, 6
        var config = SamplingConfig.builder().temperature(0).badWords(new int[] {5, 7}).build();
        float[] afterFive = new float[8];
        afterFive[7] = 10f;
        afterFive[6] = 9f;
        var state = new SamplingState(config, new int[] {5}, NO_DRAWS);
        assertThat(new Sampler().sample(afterFive, 0, 8, state).tokenId()).isEqualTo(6);
    }

    @Test
    void banningEveryTokenIsAnError() {
        var config = SamplingConfig.builder().badTokenIds(0, 1, 2).build();
        assertThatThrownBy(() -> new Sampler().sample(new float[3], 0, 3, state(config, new SplittableRandom(1))))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("every token is banned");
        var greedy = SamplingConfig.builder().temperature(0).badTokenIds(0, 1, 2).build();
        assertThatThrownBy(() -> new Sampler().sample(new float[3], 0, 3, state(greedy, NO_DRAWS)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("every token is banned");
    }

    @Test
    void withoutCutsFrequenciesFollowTheSoftmaxAtTheTemperature() {
        float[] logits = logitsOf(0.5, 0.3, 0.2);
        assertFrequencies(frequencies(SamplingConfig.builder().seed(11L).build(), logits), 0.5, 0.3, 0.2);
        // temperature 0.5 squares the probabilities: 0.25, 0.09, 0.04 over 0.38
        assertFrequencies(frequencies(SamplingConfig.builder().temperature(0.5f).seed(12L).build(), logits),
                0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38);
    }

    @Test
    void topKDrawsOnlyTheKMostLikelyTokensInProportion() {
        float[] logits = logitsOf(0.1, 0.4, 0.2, 0.3);
        assertFrequencies(frequencies(SamplingConfig.builder().topK(2).seed(21L).build(), logits), 0, 4 / 7.0, 0, 3 / 7.0);
    }

    @Test
    void topPDrawsOnlyTheNucleusInProportion() {
        float[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        assertFrequencies(frequencies(SamplingConfig.builder().topP(0.75f).seed(31L).build(), logits),
                0.5 / 0.8, 0.3 / 0.8, 0, 0);
    }

    @Test
    void minPDrawsOnlyTokensLikelyEnoughInProportion() {
        float[] logits = logitsOf(0.5, 0.3, 0.15, 0.05);
        assertFrequencies(frequencies(SamplingConfig.builder().minP(0.2f).seed(41L).build(), logits),
                0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0);
    }

    @Test
    void topKThenTopPThenMinPCombine() {
        // top-k 3: 0.5, 0.3, 0.15 (of 0.95); top-p 0.9 on the renormalized 0.526, 0.316, 0.158 keeps all
        // three; min-p 0.4 then drops 0.158 < 0.4 * 0.526
        float[] logits = logitsOf(0.05, 0.5, 0.3, 0.15);
        var config = SamplingConfig.builder().topK(3).topP(0.9f).minP(0.4f).seed(51L).build();
        assertFrequencies(frequencies(config, logits), 0, 0.5 / 0.8, 0.3 / 0.8, 0);
    }

    @Test
    void theSameSeedGivesTheSameTokensAndAnotherSeedOthers() {
        var random = new SplittableRandom(99);
        int vocab = 500;
        float[][] rows = new float[64][vocab];
        for (float[] row : rows) {
            for (int i = 0; i < vocab; i++) {
                row[i] = (float) random.nextGaussian();
            }
        }
        var seeded = SamplingConfig.builder().temperature(0.9f).topK(50).topP(0.95f).seed(1234L).build();
        int[] first = run(seeded, rows, 0);
        assertThat(run(seeded, rows, 0)).containsExactly(first);
        var otherSeed = SamplingConfig.builder().temperature(0.9f).topK(50).topP(0.95f).seed(1235L).build();
        assertThat(run(otherSeed, rows, 0)).isNotEqualTo(first);
        // sequence 1 of the same request: its own stream, reproducible too
        int[] second = run(seeded, rows, 1);
        assertThat(second).isNotEqualTo(first);
        assertThat(run(seeded, rows, 1)).containsExactly(second);
    }

    /** One sequence sampled over the rows, interleaved with another sequence's draws on the same sampler. */
    static int[] run(SamplingConfig config, float[][] rows, int sequenceIndex) {
        var sampler = new Sampler();
        var state = new SamplingState(config, new int[] {1, 2}, sequenceIndex);
        var neighbour = new SamplingState(SamplingConfig.builder().build(), new int[] {3}, 0);
        int[] tokens = new int[rows.length];
        for (int i = 0; i < rows.length; i++) {
            sampler.sample(rows[rows.length - 1 - i], 0, rows[i].length, neighbour); // batch company
            tokens[i] = sampler.sample(rows[i], 0, rows[i].length, state).tokenId();
        }
        return tokens;
    }

    @Test
    void logprobsAreTheRawLogSoftmaxWithTheTopTokensMostLikelyFirst() {
        var random = new SplittableRandom(5);
        int vocab = 100;
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) (random.nextGaussian() * 3);
        }
        logits[17] = logits[42]; // a tie, to check the order
        // temperature and top-k change what is drawn, not the reported log-probabilities
        var config = SamplingConfig.builder().temperature(0.3f).topK(5).seed(8L).logprobs(4).build();
        SampledToken token = new Sampler().sample(logits, 0, vocab, new SamplingState(config, new int[] {0}, 0));

        double[] logSoftmax = logSoftmax(logits);
        assertThat(token.hasLogprob()).isTrue();
        assertThat((double) token.logprob()).isCloseTo(logSoftmax[token.tokenId()], within(1e-5));
        int[] expectedTop = IntStream.range(0, vocab).boxed()
                .sorted((a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b))
                .limit(4).mapToInt(Integer::intValue).toArray();
        assertThat(token.topTokenIds()).containsExactly(expectedTop);
        for (int i = 0; i < 4; i++) {
            assertThat((double) token.topLogprobs()[i]).isCloseTo(logSoftmax[expectedTop[i]], within(1e-5));
        }
        assertThat(token.topLogprobs()).isSortedAccordingTo((a, b) -> Float.compare(b, a));
    }

    @Test
    void logprobsOverTheWholeVocabularyAreNormalized() {
        var random = new SplittableRandom(6);
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (random.nextGaussian() * 5 + 40); // large logits: needs the max shift
        }
        SampledToken all = Sampler.logprobs(logits, 0, logits.length, 3, logits.length);
        double total = 0;
        for (float logprob : all.topLogprobs()) {
            assertThat(logprob).isLessThanOrEqualTo(0f);
            total += Math.exp(logprob);
        }
        assertThat(total).isCloseTo(1.0, within(1e-4));
        assertThat(all.topTokenIds()).doesNotHaveDuplicates().hasSize(1000);
    }

    @Test
    void logprobsZeroGivesTheChosenTokensOnlyAndNoneGivesNothing() {
        float[] logits = logitsOf(0.5, 0.25, 0.25);
        var only = SamplingConfig.builder().temperature(0).logprobs(0).build();
        SampledToken chosen = new Sampler().sample(logits, 0, 3, state(only, NO_DRAWS));
        assertThat(chosen.tokenId()).isZero();
        assertThat(chosen.logprob()).isCloseTo((float) Math.log(0.5), within(1e-6f));
        assertThat(chosen.topTokenIds()).isEmpty();

        SampledToken none = new Sampler().sample(logits, 0, 3, state(SamplingConfig.builder().temperature(0).build(), NO_DRAWS));
        assertThat(none.hasLogprob()).isFalse();
        assertThat(none.topTokenIds()).isEmpty();
        assertThat(none.topLogprobs()).isEmpty();
    }

    @Test
    void promptLogprobsOfAGivenToken() {
        float[] batch = {9f, /* row: */ 0f, (float) Math.log(3), 0f, /* next: */ 9f};
        SampledToken token = Sampler.logprobs(batch, 1, 3, 2, 1);
        assertThat(token.logprob()).isCloseTo((float) Math.log(0.2), within(1e-6f));
        assertThat(token.topTokenIds()).containsExactly(1);
        assertThat(token.topLogprobs()[0]).isCloseTo((float) Math.log(0.6), within(1e-6f));
    }

    static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        double logZ = max + Math.log(sum);
        return IntStream.range(0, logits.length).mapToDouble(i -> logits[i] - logZ).toArray();
    }

    @Test
    void topNMatchesAFullSortWithTiesByLowestIndex() {
        var random = new SplittableRandom(71);
        float[] values = new float[5000];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextInt(300); // many ties
        }
        int[] sorted = IntStream.range(0, values.length).boxed()
                .sorted((a, b) -> values[a] != values[b] ? Float.compare(values[b], values[a]) : Integer.compare(a, b))
                .mapToInt(Integer::intValue).toArray();
        for (int n : new int[] {0, 1, 7, 64, 1000, 5000}) {
            assertThat(TopN.of(values, 0, values.length, n)).as("n = %d", n).containsExactly(Arrays.copyOf(sorted, n));
        }
        assertThat(TopN.kthLargest(values, 0, values.length, 10)).isEqualTo(values[sorted[9]]);
    }

    @Test
    void configValidatesAndComparesByContent() {
        assertThatThrownBy(() -> SamplingConfig.builder().topP(0f).build()).hasMessage("top_p must be in (0, 1], got 0.0");
        assertThatThrownBy(() -> SamplingConfig.builder().endTokenIds(2, -1).build())
                .hasMessage("end token id must be >= 0, got -1");
        assertThatThrownBy(() -> SamplingConfig.builder().badWords(new int[0]).build())
                .hasMessage("bad word 0 has no tokens");
        assertThatThrownBy(() -> SamplingConfig.builder().logprobs(-2).build())
                .hasMessage("logprobs must be >= 0, or -1 for none, got -2");
        int[] ends = {2, 3};
        var config = SamplingConfig.builder().endTokenIds(ends).badWords(new int[] {1, 2}).build();
        ends[0] = 9;
        config.endTokenIds()[1] = 9;
        assertThat(config.endTokenIds()).containsExactly(2, 3);
        assertThat(config).isEqualTo(SamplingConfig.builder().endTokenIds(2, 3).badWords(new int[] {1, 2}).build())
                .hasSameHashCodeAs(SamplingConfig.builder().endTokenIds(2, 3).badWords(new int[] {1, 2}).build());
        assertThat(config.toString()).contains("endTokenIds=[2, 3]", "badWords=[[1, 2]]");
    }

    @Test
    void randomGeneratorsDependOnlyOnSeedAndSequence() {
        var config = SamplingConfig.builder().seed(7L).build();
        assertThat(config.newRandom(0).nextLong()).isEqualTo(new SplittableRandom(7).nextLong());
        assertThat(config.newRandom(2).nextLong()).isEqualTo(config.newRandom(2).nextLong())
                .isNotEqualTo(config.newRandom(1).nextLong());
    }

    /** Bans the even token ids. */
    private static final TokenMask ODD_ONLY = (logits, offset, vocab, state) -> {
        for (int i = 0; i < vocab; i += 2) {
            logits[offset + i] = Float.NEGATIVE_INFINITY;
        }
    };

    @Test
    void aMaskBansTokensBeforeTheWarpersAndTheChoiceButNotInTheLogprobs() {
        float[] logits = logitsOf(0.4, 0.3, 0.2, 0.1);
        var greedy = state(SamplingConfig.builder().temperature(0).logprobs(1).build(), NO_DRAWS);
        greedy.mask(ODD_ONLY);
        SampledToken chosen = new Sampler().sample(logits, 0, 4, greedy);
        assertThat(chosen.tokenId()).isEqualTo(1);
        assertThat(chosen.logprob()).as("the raw row's").isCloseTo((float) Math.log(0.3), within(1e-5f));
        assertThat(chosen.topTokenIds()).containsExactly(0);
        // Over the odd tokens alone the probabilities are 0.75 and 0.25: top-p 0.7 keeps token 1 only (on the
        // unmasked row it would keep 0 and 1), so the mask comes before the warpers.
        var config = SamplingConfig.builder().topP(0.7f).seed(61L).build();
        var sampler = new Sampler();
        var state = new SamplingState(config, new int[] {0}, 0);
        state.mask(ODD_ONLY);
        for (int i = 0; i < 200; i++) {
            assertThat(sampler.sample(logits, 0, 4, state).tokenId()).isEqualTo(1);
        }
        assertThat(logits).as("the runner's row is not modified").containsExactly(logitsOf(0.4, 0.3, 0.2, 0.1));
    }

    @Test
    void aMaskedSampleDrawsTheAllowedTokensInProportion() {
        float[] logits = logitsOf(0.4, 0.3, 0.2, 0.1);
        var sampler = new Sampler();
        var state = new SamplingState(SamplingConfig.builder().seed(62L).build(), new int[] {0}, 0);
        state.mask(ODD_ONLY);
        int[] counts = new int[4];
        for (int i = 0; i < DRAWS; i++) {
            counts[sampler.sample(logits, 0, 4, state).tokenId()]++;
        }
        assertFrequencies(Arrays.stream(counts).mapToDouble(c -> c / (double) DRAWS).toArray(), 0, 0.75, 0, 0.25);
    }

    @Test
    void everyEntryChecksTheSettingsWithTheSameMessages() {
        // SamplingParams (the API) calls the same checks: SamplingParamsTests holds its messages.
        assertThatThrownBy(() -> SamplingConfig.builder().temperature(-1f).build())
                .hasMessage("temperature must be a finite number >= 0, got -1.0");
        assertThatThrownBy(() -> new TokenSampling(Float.NaN, 0, 1f, 0f, 1L, 0))
                .hasMessage("temperature must be a finite number >= 0, got NaN");
        assertThatThrownBy(() -> new TokenSampling(0f, 0, 1f, 0f, 1L, 0))
                .hasMessage("temperature must be > 0 to draw a token (0 means greedy), got 0.0");
        for (var check : List.<Runnable>of(() -> SamplingConfig.builder().topK(-2).build(),
                () -> new TokenSampling(1f, -2, 1f, 0f, 1L, 0), () -> SamplingChecks.checkWarpers(1f, -2, 1f, 0f))) {
            assertThatThrownBy(check::run).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("top_k must be >= 0 (0 disables it), got -2");
        }
        assertThatThrownBy(() -> SamplingConfig.builder().minP(Float.NaN).build()).hasMessage("min_p must be in [0, 1], got NaN");
        assertThatThrownBy(() -> SamplingConfig.builder().frequencyPenalty(Float.POSITIVE_INFINITY).build())
                .hasMessage("frequency_penalty must be a finite number, got Infinity");
        assertThatThrownBy(() -> SamplingConfig.builder().minTokens(-3).build()).hasMessage("min_tokens must be >= 0, got -3");
    }
}
