package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@link TokenGaps}: the gaps between tokens, the first stretch apart from the rest. */
class TokenGapsTests {

    @Test
    void separatesTheFirstTokensFromTheRest() {
        long[] gaps = new long[40];
        for (int i = 0; i < gaps.length; i++) {
            gaps[i] = i < 20 ? 6_000_000 : 1_500_000 + (i % 2) * 100_000; // slow first 20, then 1.5 / 1.6 ms
        }
        gaps[30] = 9_000_000; // one stall
        assertThat(TokenGaps.describe(gaps)).isEqualTo("decode per token: median 6.00 ms (gaps 1-20: 6.00 ms, 21-40: "
                + "1.60 ms), p90 6.00 ms, max 9.00 ms");
    }

    @Test
    void aShortCompletionSplitsInHalves() {
        assertThat(TokenGaps.describe(new long[] {4_000_000, 2_000_000, 1_000_000}))
                .isEqualTo("decode per token: median 2.00 ms (gaps 1-1: 4.00 ms, 2-3: 1.50 ms), p90 4.00 ms, max 4.00 ms");
        assertThat(TokenGaps.describe(new long[] {1_000_000})).isNull();
        assertThat(TokenGaps.describe(new long[0])).isNull();
    }

    @Test
    void medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        assertThat(TokenGaps.median(new long[] {1, 2, 4, 10})).isEqualTo(3.0);
        assertThat(TokenGaps.median(new long[] {1, 2, 4})).isEqualTo(2.0);
    }
}
