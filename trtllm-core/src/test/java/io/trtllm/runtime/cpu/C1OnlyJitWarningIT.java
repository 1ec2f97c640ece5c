package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A JVM started as {@code spring-boot:run} starts it by default ({@code -XX:TieredStopAtLevel=1}) says
 * once, at WARN, why the engine is slow and how to fix it; a JVM with C2 says nothing.
 */
class C1OnlyJitWarningIT {

    /** Chooses the kernels, as the CPU runner does at startup, and prints which. */
    public static void main(String[] args) {
        System.out.println("kernels=" + CpuKernels.best().description());
    }

    @Test
    void aC1OnlyJvmWarnsOnceNamingTheFix() throws Exception {
        String c1 = run("-XX:TieredStopAtLevel=1");
        assertThat(c1).contains("[WARN]").contains("-XX:TieredStopAtLevel=1").contains("<optimizedLaunch>false</optimizedLaunch>")
                .contains("JAVA_TOOL_OPTIONS");
        assertThat(c1.lines().filter(l -> l.contains("TieredStopAtLevel=1")).count()).isEqualTo(1);

        String c2 = run();
        assertThat(c2).contains("kernels=").doesNotContain("[WARN]");
    }

    private static String run(String... flags) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--add-modules", "jdk.incubator.vector"));
        cmd.addAll(List.of(flags));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), C1OnlyJitWarningIT.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }
}
