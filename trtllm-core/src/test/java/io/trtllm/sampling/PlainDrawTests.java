package io.trtllm.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Draws that a runner makes itself ({@code LogitsMode.SAMPLE}): which sequences qualify
 * ({@link Sampler#need}), the parameters they carry, and the host's reference
 * ({@link TokenSampler}) against the executor's own warpers ({@link LogitsProcessor#applyWarpers} then
 * softmax): the same tokens kept and the same probabilities, on vocabularies up to Llama-3's, with ties.
 */
class PlainDrawTests {
    private static final int LLAMA3_VOCAB = 128_256;
    /** Weights are integers in units of 2^-40 of the top token's: probabilities agree to far better than this. */
    private static final double PROBABILITY_TOLERANCE = 1e-6;

    private static SamplingState state(SamplingConfig config) {
        return new SamplingState(config, new int[] {1, 2}, 0);
    }

    @Test
    void onlyTemperatureTopKTopPMinPAndSeedMakeAPlainDraw() {
        assertThat(Sampler.need(state(SamplingConfig.builder().build()))).isEqualTo(RowNeed.DRAW);
        assertThat(Sampler.need(state(SamplingConfig.builder().temperature(0.7f).topK(40).topP(0.9f).minP(0.05f)
                .seed(3L).endTokenIds(2).build()))).isEqualTo(RowNeed.DRAW);
        // greedy: the runner's argmax instead
        assertThat(Sampler.need(state(SamplingConfig.builder().temperature(0).build()))).isEqualTo(RowNeed.ARGMAX);
        assertThat(Sampler.need(state(SamplingConfig.builder().topK(1).build()))).isEqualTo(RowNeed.ARGMAX);
        // anything that reads the sequence or needs the raw row stays on the host
        assertThat(Sampler.need(state(SamplingConfig.builder().repetitionPenalty(1.1f).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().presencePenalty(0.5f).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().frequencyPenalty(0.5f).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().badTokenIds(5).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().badWords(new int[] {5, 6}).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().logprobs(0).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().logprobs(3).build()))).isEqualTo(RowNeed.ROW);
        // min_tokens only while it bans the end tokens
        var minTokens = state(SamplingConfig.builder().minTokens(2).endTokenIds(9).build());
        assertThat(Sampler.need(minTokens)).isEqualTo(RowNeed.ROW);
        minTokens.append(4);
        assertThat(Sampler.need(minTokens)).isEqualTo(RowNeed.ROW);
        minTokens.append(4);
        assertThat(Sampler.need(minTokens)).isEqualTo(RowNeed.DRAW);
        assertThat(Sampler.need(state(SamplingConfig.builder().minTokens(5).build()))).as("no end ids to ban")
                .isEqualTo(RowNeed.DRAW);
    }

    @Test
    void greedyIsTheRunnersArgmaxOnlyWhenNothingTouchesTheRow() {
        var greedy = SamplingConfig.builder().temperature(0);
        assertThat(Sampler.need(state(greedy.seed(3L).endTokenIds(2).build()))).isEqualTo(RowNeed.ARGMAX);
        assertThat(Sampler.need(state(greedy.logprobs(0).build()))).isEqualTo(RowNeed.ROW);
        assertThat(Sampler.need(state(SamplingConfig.builder().temperature(0).repetitionPenalty(1.2f).build())))
                .isEqualTo(RowNeed.ROW);
        var minTokens = state(SamplingConfig.builder().temperature(0).minTokens(1).endTokenIds(9).build());
        assertThat(Sampler.need(minTokens)).isEqualTo(RowNeed.ROW);
        minTokens.append(4);
        assertThat(Sampler.need(minTokens)).isEqualTo(RowNeed.ARGMAX);
    }

    @Test
    void aMaskedSequenceNeedsItsRowOnTheHostUntilTheMaskIsLifted() {
        for (var config : List.of(SamplingConfig.builder().build(), SamplingConfig.builder().temperature(0).build())) {
            var state = state(config);
            RowNeed plain = Sampler.need(state);
            state.mask((logits, offset, vocab, s) -> { });
            assertThat(Sampler.need(state)).isEqualTo(RowNeed.ROW);
            state.mask(null);
            assertThat(Sampler.need(state)).isEqualTo(plain);
        }
    }

    @Test
    void aSequencesDrawsUseOneKeyFromItsSeedAndCountTheirSteps() {
        var config = SamplingConfig.builder().temperature(0.8f).topK(20).topP(0.9f).minP(0.1f).seed(11L).build();
        var state = new SamplingState(config, new int[] {1}, 0);
        TokenSampling first = Sampler.tokenSampling(state);
        assertThat(first).isEqualTo(new TokenSampling(0.8f, 20, 0.9f, 0.1f, new SplittableRandom(11L).nextLong(), 0));
        state.append(3);
        state.append(4);
        TokenSampling third = Sampler.tokenSampling(state);
        assertThat(third.key()).isEqualTo(first.key());
        assertThat(third.step()).isEqualTo(2);
        assertThat(Sampler.tokenSampling(new SamplingState(config, new int[] {1}, 0)).key()).as("same seed").isEqualTo(first.key());
        assertThat(Sampler.tokenSampling(new SamplingState(config, new int[] {1}, 1)).key()).as("sequence 1 of n")
                .isNotEqualTo(first.key());
    }

    @Test
    void aRunnerThatFoundNoTokenFailsTheSequenceNotTheSampler() {
        var state = state(SamplingConfig.builder().build());
        assertThatThrownBy(() -> new Sampler().chosen(-1, state)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no token to draw");
        assertThat(new TokenSampler().sample(new float[] {Float.NaN, Float.NaN}, 0, 2,
                new TokenSampling(1f, 0, 1f, 0f, 1L, 0))).isEqualTo(-1);
    }

    @Test
    void theReferenceKeepsWhatTheWarpersKeepWithTheirProbabilities() {
        var rnd = new SplittableRandom(2026);
        List<float[]> rows = new ArrayList<>();
        for (int vocab : new int[] {7, 1000, 32_000, LLAMA3_VOCAB}) {
            rows.add(gaussian(rnd, vocab, 1.0, false));
            rows.add(gaussian(rnd, vocab, 3.0, false));
            rows.add(gaussian(rnd, vocab, 2.0, true)); // logits in steps of 1/2: many ties at every threshold
        }
        // All equal. 4999 tokens: no p below makes the cumulative probability land exactly on p, which the
        // reference decides with exact integers and the warpers with sums of doubles (5000 and p = 0.5 keep
        // 2500 tokens here, 2501 there).
        rows.add(new float[4999]);
        float[][] cuts = {{0, 1, 0}, {40, 1, 0}, {0, 0.9f, 0}, {0, 1, 0.05f}, {40, 0.9f, 0.05f}, {1000, 0.5f, 0},
            {5, 1, 0.5f}, {0, 0.999f, 0}, {0, 0.01f, 0}, {3, 0.3f, 0}};
        var sampler = new TokenSampler();
        int checks = 0;
        for (float[] row : rows) {
            for (float temperature : new float[] {1f, 0.7f, 1.5f}) {
                for (float[] cut : cuts) {
                    var config = SamplingConfig.builder().temperature(temperature).topK((int) cut[0]).topP(cut[1])
                            .minP(cut[2]).build();
                    double[] expected = warped(row, config);
                    double[] actual = sampler.probabilities(row, 0, row.length,
                            new TokenSampling(temperature, (int) cut[0], cut[1], cut[2], 1L, 0));
                    for (int i = 0; i < row.length; i++) {
                        // Kept by the warpers only: what is below the weights' resolution, exp(v - max) < 2^-40.
                        boolean sameSet = actual[i] > 0 ? expected[i] > 0 : expected[i] < 1e-11;
                        if (!sameSet || Math.abs(actual[i] - expected[i]) > PROBABILITY_TOLERANCE) {
                            throw new AssertionError(String.format("vocab %d, %s, token %d: the reference gives %s, "
                                    + "the warpers %s", row.length, config, i, actual[i], expected[i]));
                        }
                    }
                    checks++;
                }
            }
        }
        assertThat(checks).isEqualTo(rows.size() * 3 * cuts.length);
    }

    @Test
    void drawsFollowTheFilteredDistributionAndExcludedTokensNeverComeUp() {
        float[] logits = {(float) Math.log(0.1), (float) Math.log(0.4), (float) Math.log(0.3), (float) Math.log(0.2)};
        assertFrequencies(logits, new TokenSampling(1f, 0, 1f, 0f, 5L, 0), 0.1, 0.4, 0.3, 0.2);
        assertFrequencies(logits, new TokenSampling(1f, 2, 1f, 0f, 6L, 0), 0, 4 / 7.0, 3 / 7.0, 0);
        // top-p 0.75: 0.4 + 0.3 = 0.7 < 0.75, so 0.2 is kept too
        assertFrequencies(logits, new TokenSampling(1f, 0, 0.75f, 0f, 7L, 0), 0, 4 / 9.0, 3 / 9.0, 2 / 9.0);
        // min-p 0.6: 0.6 * 0.4 = 0.24 keeps 0.4 and 0.3
        assertFrequencies(logits, new TokenSampling(1f, 0, 1f, 0.6f, 8L, 0), 0, 4 / 7.0, 3 / 7.0, 0);
        // temperature 0.5 squares the odds: 0.01, 0.16, 0.09, 0.04 over 0.30
        assertFrequencies(logits, new TokenSampling(0.5f, 0, 1f, 0f, 9L, 0), 0.01 / 0.3, 0.16 / 0.3, 0.09 / 0.3, 0.04 / 0.3);
    }

    @Test
    void theDrawIsTheInverseCdfAtTheUniformOfKeyAndStep() {
        float[] logits = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.2)};
        var sampler = new TokenSampler();
        double[] p = sampler.probabilities(logits, 0, 3, new TokenSampling(1f, 0, 1f, 0f, 99L, 0));
        assertThat(p).containsExactly(new double[] {0.5, 0.3, 0.2}, within(1e-7));
        for (int step = 0; step < 200; step++) {
            var s = new TokenSampling(1f, 0, 1f, 0f, 99L, step);
            double u = s.uniform();
            int expected = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
            assertThat(sampler.sample(logits, 0, 3, s)).as("u = %s", u).isEqualTo(expected);
            assertThat(sampler.sample(logits, 0, 3, s)).as("the same draw again").isEqualTo(expected);
        }
    }

    private static void assertFrequencies(float[] logits, TokenSampling base, double... expected) {
        int draws = 20_000;
        int[] counts = new int[logits.length];
        var sampler = new TokenSampler();
        for (int step = 0; step < draws; step++) {
            var s = new TokenSampling(base.temperature(), base.topK(), base.topP(), base.minP(), base.key(), step);
            counts[sampler.sample(logits, 0, logits.length, s)]++;
        }
        for (int i = 0; i < expected.length; i++) {
            double f = counts[i] / (double) draws;
            if (expected[i] == 0) {
                assertThat(counts[i]).as("draws of excluded token %d", i).isZero();
            } else {
                assertThat(f).as("frequency of token %d", i).isCloseTo(expected[i], within(0.02));
            }
        }
    }

    /** The executor's warpers, then softmax in double precision: the distribution a plain draw must follow. */
    private static double[] warped(float[] row, SamplingConfig config) {
        float[] w = row.clone();
        LogitsProcessor.applyWarpers(w, 0, w.length, config);
        double max = Double.NEGATIVE_INFINITY;
        for (float v : w) {
            max = Math.max(max, v);
        }
        double[] p = new double[w.length];
        double sum = 0;
        for (int i = 0; i < w.length; i++) {
            p[i] = w[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(w[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < w.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static float[] gaussian(SplittableRandom rnd, int vocab, double scale, boolean steps) {
        float[] row = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            double g = scale * gauss(rnd);
            row[i] = steps ? Math.round(g * 2) / 2f : (float) g;
        }
        return row;
    }

    private static double gauss(SplittableRandom rnd) {
        return Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }
}
