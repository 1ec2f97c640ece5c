package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Which JIT settings leave the Vector API kernels without C2. */
class JitCheckTests {

    @ParameterizedTest(name = "tiered={0} stopAt={1} info={2}")
    @CsvSource(nullValues = "-", value = {
            "true, 4, mixed mode, -",
            "-, -, mixed mode, -",
            "false, 4, mixed mode, -",
            "false, 1, mixed mode, -",
            "true, 1, mixed mode, the JIT stops at C1 (-XX:TieredStopAtLevel=1)",
            "true, 3, 'mixed mode, sharing', the JIT stops at C1 (-XX:TieredStopAtLevel=3)",
            "true, 0, mixed mode, the JIT stops at C1 (-XX:TieredStopAtLevel=0)",
            "true, 4, 'interpreted mode, sharing', the JVM runs interpreted (-Xint)"})
    void c2IsMissingOnlyUnderC1AloneOrTheInterpreter(@Nullable String tiered, @Nullable String stopAt, String info,
                                                      @Nullable String reason) {
        Map<String, String> options = new java.util.HashMap<>();
        if (tiered != null) {
            options.put("TieredCompilation", tiered);
        }
        if (stopAt != null) {
            options.put("TieredStopAtLevel", stopAt);
        }
        assertThat(JitCheck.c2Missing(name -> Optional.ofNullable(options.get(name)), info)).isEqualTo(reason);
    }
}
