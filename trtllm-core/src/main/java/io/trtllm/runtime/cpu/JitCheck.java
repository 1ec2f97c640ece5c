package io.trtllm.runtime.cpu;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.util.Optional;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Whether this JVM's JIT can compile the Vector API kernels to SIMD code. Only C2 (HotSpot's optimizing
 * compiler) intrinsifies {@code jdk.incubator.vector}; under C1 alone or the interpreter every vector
 * is a heap object and the forward pass runs many times slower. Spring Boot's {@code spring-boot:run}
 * adds {@code -XX:TieredStopAtLevel=1} by default ({@code optimizedLaunch}), and so do some IDE
 * launchers: this names the flag and the fix instead of letting a slow engine stay unexplained.
 */
final class JitCheck {
    /** The fix, as the warning prints it. */
    static final String FIX = "remove -XX:TieredStopAtLevel (or -Xint) from the JVM flags (JAVA_TOOL_OPTIONS, the IDE's "
            + "run configuration); under mvn spring-boot:run set <optimizedLaunch>false</optimizedLaunch> in "
            + "spring-boot-maven-plugin's configuration";

    private JitCheck() {
    }

    /** Why this JVM runs without C2, or null when C2 is there (or the JVM does not say). */
    static @Nullable String c2Missing() {
        HotSpotDiagnosticMXBean hotspot;
        try {
            hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        } catch (RuntimeException | LinkageError e) {
            return null; // not HotSpot, or jdk.management left out of a custom runtime: nothing to say
        }
        if (hotspot == null) {
            return null;
        }
        return c2Missing(name -> {
            try {
                return Optional.of(hotspot.getVMOption(name).getValue());
            } catch (IllegalArgumentException e) {
                return Optional.empty();
            }
        }, System.getProperty("java.vm.info", ""));
    }

    /**
     * Why a JVM with these options runs without C2, or null.
     *
     * @param vmOption an -XX option's value by name, empty when the JVM has no such option
     * @param vmInfo   {@code java.vm.info} ("interpreted mode" under -Xint)
     */
    static @Nullable String c2Missing(Function<String, Optional<String>> vmOption, String vmInfo) {
        if (vmInfo.contains("interpreted mode")) {
            return "the JVM runs interpreted (-Xint)";
        }
        boolean tiered = vmOption.apply("TieredCompilation").map(Boolean::parseBoolean).orElse(true);
        int stopAt = vmOption.apply("TieredStopAtLevel").map(JitCheck::parseInt).orElse(4);
        // -XX:-TieredCompilation runs C2 alone (fine); with tiers, levels 1-3 are C1 and level 4 is C2.
        if (tiered && stopAt < 4) {
            return "the JIT stops at C1 (-XX:TieredStopAtLevel=" + stopAt + ")";
        }
        return null;
    }

    private static int parseInt(String value) {
        try {
            return Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            return 4;
        }
    }
}
