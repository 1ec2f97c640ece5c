package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@link Bench}'s beam line: each run's ratio against the greedy run beside it, three decimals. */
class BenchTests {

    @Test
    void beamSummaryGivesTheMedianOfTheRunsRatiosAndTheRatioOfTheMedians() {
        double[] beam = {2.0, 3.0, 1.5};
        double[] greedy = {1.0, 2.5, 1.2};
        // Ratios 2.0, 1.2, 1.25: their median 1.25; the medians' ratio 2.0 / 1.2. A noisy greedy run (2.5 ms) moves
        // the ratio of the medians, not the median of the paired ratios.
        assertThat(Bench.beamSummary(4, beam, greedy, 99)).isEqualTo("beam search width 4: median 2.000 of 3 runs (min 1.500, "
                + "max 3.000) ms per step; greedy median 1.200 of 3 runs (min 1.000, max 2.500) ms per step; 1.250x greedy "
                + "(median of the runs' ratios, min 1.200x, max 2.000x; ratio of the medians 1.667x; 99 steps after the first "
                + "token)");
    }
}
