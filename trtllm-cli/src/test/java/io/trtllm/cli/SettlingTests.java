package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** {@link Settling}: a benchmark's warm-up ends only when its last figures agree. */
class SettlingTests {

    @Test
    void settlesWhenTheLastWindowAgreesWithinTheTolerance() {
        var s = new Settling(3, 0.05);
        s.add(600); // cold
        s.add(900);
        assertThat(s.settled()).isFalse(); // too few
        s.add(940);
        assertThat(s.settled()).isFalse(); // 600 .. 940
        s.add(930);
        assertThat(s.settled()).isTrue(); // 900 .. 940: 4.4%
        assertThat(s.describe()).startsWith("settled (last 3 within 4.4%, tolerance 5%)");
        s.add(1_000);
        assertThat(s.settled()).isFalse(); // 930 .. 1000: 7.5%
        assertThat(s.describe()).startsWith("NOT settled (last 3 spread 7.5%");
        assertThat(s.count()).isEqualTo(5);
    }

    @Test
    void aZeroFigureNeverSettles() {
        var s = new Settling(2, 0.5);
        s.add(0);
        s.add(0);
        assertThat(s.settled()).isFalse();
        assertThat(new Settling(2, 0.5).spread()).isNaN();
    }

    @Test
    void refusesAWindowBelowTwoOrANegativeTolerance() {
        assertThatThrownBy(() -> new Settling(1, 0.05)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1");
        assertThatThrownBy(() -> new Settling(3, -0.1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Settling(3, Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    }
}
