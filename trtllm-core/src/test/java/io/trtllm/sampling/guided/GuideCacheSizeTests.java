package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The guided mask caches' bounds, read from system properties: defaults, whole MiB, and refusals naming the key. */
class GuideCacheSizeTests {
    private static final String KEY = "trtllm.guided.maskInternMiB";

    @Test
    void unsetIsTheDefaultAndAValueIsMebibytes() {
        assertThat(CompiledGuide.mebibytes(KEY, null, 64)).isEqualTo(64L << 20);
        assertThat(CompiledGuide.mebibytes(KEY, " 16 ", 64)).isEqualTo(16L << 20);
        assertThat(CompiledGuide.mebibytes(KEY, "0", 64)).isZero();
        assertThat(CompiledGuide.mebibytes(KEY, String.valueOf(CompiledGuide.MAX_CACHE_MIB), 64))
                .isEqualTo(CompiledGuide.MAX_CACHE_MIB << 20).isPositive();
    }

    @Test
    void valuesThatAreNotWholeMebibytesInRangeAreRefusedNamingTheProperty() {
        for (String bad : new String[] {"abc", "", "-1", "1.5", "8388609", "9223372036854775807", "99999999999999999999"}) {
            assertThatThrownBy(() -> CompiledGuide.mebibytes(KEY, bad, 64))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("-D" + KEY)
                    .hasMessageContaining("'" + bad + "'");
        }
    }
}
