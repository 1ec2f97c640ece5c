package io.trtllm.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.management.ManagementFactory;
import java.util.List;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;

/** {@link HostCodeDirective}: the request path's host code kept from C2, the kernels left to it. */
class HostCodeDirectiveTests {

    @Test
    void theDirectiveExcludesC2ForThePatternsOnly() {
        assertThat(HostCodeDirective.json(List.of("io/trtllm/api/*.*", "io/trtllm/runtime/cpu/CpuAttention.run")))
                .isEqualTo("[ { match: [\"io/trtllm/api/*.*\", \"io/trtllm/runtime/cpu/CpuAttention.run\"], "
                        + "c2: { Exclude: true } } ]\n");
    }

    @Test
    void patternsThatCouldBreakTheFileAreRefused() {
        assertThatThrownBy(() -> HostCodeDirective.json(List.of("io/trtllm/api/*.*\"], c1: { Exclude: true")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a compiler directive pattern");
        assertThatThrownBy(() -> HostCodeDirective.json(List.of("io/trtllm/api/Foo")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void kernelsAndLoopBodiesStayWithC2() {
        // The Vector API is intrinsified by C2 only: no kernel class, no sampling code and no lambda body may match.
        for (String p : HostCodeDirective.PATTERNS) {
            assertThat(p).doesNotContain("Vector", "Kernels", "sampling", "lambda", "ParallelLoops", "ParallelRunner",
                    "BeamGroup");
            assertThat(p).doesNotStartWith("io/trtllm/runtime/cpu/*").doesNotStartWith("io/trtllm/*");
        }
    }

    @Test
    void onlyHotSpotsSuccessReplyCountsAsAdded() {
        assertThat(HostCodeDirective.added("1 compiler directives added\n")).isTrue();
        assertThat(HostCodeDirective.added("Parsing of compiler directives failed\nCould not load file: /tmp/x.json\n"))
                .isFalse();
        assertThat(HostCodeDirective.added("0 compiler directives added")).isFalse();
    }

    @Test
    void thisJvmTakesTheDirective() throws Exception {
        HostCodeDirective.add();
        Object printed = ManagementFactory.getPlatformMBeanServer().invoke(
                new ObjectName("com.sun.management:type=DiagnosticCommand"), "compilerDirectivesPrint",
                new Object[] {null}, new String[] {String[].class.getName()});
        // HotSpot lists a directive's patterns on one "matching:" line, in reverse order.
        assertThat(String.valueOf(printed).lines().filter(l -> l.strip().startsWith("matching: "))
                .filter(l -> l.contains("io/trtllm/runtime/cpu/CpuModelRunner.forward")
                        && l.contains("io/trtllm/executor/Executor*.*") && l.contains("io/trtllm/api/*.*")))
                .hasSize(1);
    }
}
