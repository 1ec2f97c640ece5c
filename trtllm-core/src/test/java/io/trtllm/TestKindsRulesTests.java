package io.trtllm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import io.trtllm.testing.TestKinds;
import org.junit.jupiter.api.Test;

/**
 * {@link TestKinds} names the fixture {@code *Tests} classes that load an engine or start a process, with the
 * path that does it, and leaves alone those that do neither or are tagged gpu: a rule that could never fail
 * would check nothing.
 */
class TestKindsRulesTests {

    private static final JavaClasses FIXTURES = new ClassFileImporter().importPackages("io.trtllm.testing.fixture",
            "io.trtllm.api");

    private static final DescribedPredicate<JavaClass> IN_FIXTURES = DescribedPredicate.describe("fixtures",
            c -> c.getPackageName().equals("io.trtllm.testing.fixture"));

    @Test
    void aUnitTestLoadingAnEngineThroughAHelperOrStartingAProcessFromALambdaIsNamed() {
        assertThatThrownBy(() -> TestKinds.unitTestsStartNothing(FIXTURES, IN_FIXTURES).check(FIXTURES))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("io.trtllm.testing.fixture.EngineThroughAHelperTests " + TestKinds.MARK
                        + " EngineThroughAHelperTests.generates() -> Helper.load() -> new LLM(..)")
                .hasMessageContaining("io.trtllm.testing.fixture.ChildJvmTests " + TestKinds.MARK)
                .hasMessageContaining("new ProcessBuilder(..)")
                .hasMessageContaining("was violated (2 times)");
    }

    @Test
    void gpuTestsAndTestsThatOnlyBuildArgumentsPass() {
        assertThatThrownBy(() -> TestKinds.unitTestsStartNothing(FIXTURES, IN_FIXTURES).check(FIXTURES))
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("GpuTaggedTests").doesNotContain("ArgsOnlyTests"));
    }
}
