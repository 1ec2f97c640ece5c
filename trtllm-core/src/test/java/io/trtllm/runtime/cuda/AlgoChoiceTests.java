package io.trtllm.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AlgoChoiceTests {

    @Test
    void rowBucketsArePowersOfTwoHoldingTheirRows() {
        assertThat(AlgoChoice.rowBucket(1)).isEqualTo(1);
        assertThat(AlgoChoice.rowBucket(2)).isEqualTo(2);
        assertThat(AlgoChoice.rowBucket(3)).isEqualTo(4);
        assertThat(AlgoChoice.rowBucket(5)).isEqualTo(8);
        assertThat(AlgoChoice.rowBucket(8)).isEqualTo(8);
        assertThat(AlgoChoice.rowBucket(9)).isEqualTo(16);
        assertThat(AlgoChoice.rowBucket(1025)).isEqualTo(2048);
        assertThat(AlgoChoice.rowBucket(Integer.MAX_VALUE)).isEqualTo(AlgoChoice.MAX_BUCKET);
        for (int rows = 1; rows <= 5000; rows++) {
            int b = AlgoChoice.rowBucket(rows);
            assertThat(Integer.bitCount(b)).isEqualTo(1);
            assertThat(b).isGreaterThanOrEqualTo(rows).isLessThan(2 * rows);
        }
        assertThatThrownBy(() -> AlgoChoice.rowBucket(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
    }

    @Test
    void fastestTimesEveryCandidateOnceAndKeepsTheQuickest() {
        double[] times = {85.5, 61.0, 72.3, 60.9, 90.0};
        List<Integer> timed = new ArrayList<>();
        int best = AlgoChoice.fastest(times.length, i -> {
            timed.add(i);
            return times[i];
        });
        assertThat(best).isEqualTo(3);
        assertThat(timed).containsExactly(0, 1, 2, 3, 4);
    }

    @Test
    void failedCandidatesAreSkippedAndTiesGoToTheHeuristicsOrder() {
        assertThat(AlgoChoice.fastest(4, i -> new double[] {Double.NaN, 50, 50, Double.POSITIVE_INFINITY}[i])).isEqualTo(1);
        assertThat(AlgoChoice.fastest(3, i -> new double[] {-1, 0, 7}[i])).isEqualTo(2);
        assertThat(AlgoChoice.fastest(2, i -> Double.NaN)).isEqualTo(-1);
        assertThat(AlgoChoice.fastest(0, i -> {
            throw new AssertionError("nothing to time");
        })).isEqualTo(-1);
        assertThat(AlgoChoice.fastest(1, i -> 12.5)).isZero();
    }

    @Test
    void fp8ProfilingIsOffUnlessThePropertySaysTrue() {
        String before = System.getProperty(Fp8Gemm.PROFILE_PROPERTY);
        try {
            System.clearProperty(Fp8Gemm.PROFILE_PROPERTY);
            assertThat(Fp8Gemm.profileByDefault()).isFalse();
            System.setProperty(Fp8Gemm.PROFILE_PROPERTY, " TRUE ");
            assertThat(Fp8Gemm.profileByDefault()).isTrue();
            System.setProperty(Fp8Gemm.PROFILE_PROPERTY, "false");
            assertThat(Fp8Gemm.profileByDefault()).isFalse();
        } finally {
            if (before == null) {
                System.clearProperty(Fp8Gemm.PROFILE_PROPERTY);
            } else {
                System.setProperty(Fp8Gemm.PROFILE_PROPERTY, before);
            }
        }
    }
}
