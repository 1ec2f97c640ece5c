package io.trtllm.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.trtllm.testing.Architecture;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The command line is a module on top of trtllm-core: nothing outside {@code io.trtllm.cli} uses it
 * ({@link Architecture#NOTHING_USES_THE_CLI}, over every production class of ours on this module's class path:
 * trtllm-core's and this module's), and this module holds nothing but {@code io.trtllm.cli}. Classes are
 * named by string: a test that named the commands as class objects would reach them (see TestKinds).
 */
class CliArchitectureTests {

    /** Production classes: test classes (this module's, core's test-jar as a directory or a jar) left out. */
    private static JavaClasses ours() {
        return new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(location -> !location.contains("-tests.jar"))
                .importPackages("io.trtllm");
    }

    @Test
    void nothingOutsideTheCommandLineUsesIt() {
        JavaClasses ours = ours();
        // The check sees both sides: the engine's API and the command line.
        assertThat(ours.contain("io.trtllm.api.LLM")).isTrue();
        assertThat(ours.contain("io.trtllm.cli.Main")).isTrue();
        assertThat(ours.contain("io.trtllm.cli.SettlingTests")).isFalse();
        Architecture.NOTHING_USES_THE_CLI.check(ours);
    }

    @Test
    void thisModuleHoldsOnlyTheCommandLine() {
        JavaClasses module = new ClassFileImporter().importPath(Path.of("target", "classes"));
        assertThat(module.contain("io.trtllm.cli.Main")).isTrue();
        classes().should().resideInAPackage("io.trtllm.cli..")
                .because("trtllm-cli is the command line; what else it needs belongs in trtllm-core")
                .check(module);
    }

    @Test
    void aClassOutsideTheCommandLineThatUsesItBreaksTheRule() {
        JavaClasses fixture = new ClassFileImporter().importPackages("io.trtllm.testing.fixture.cli");
        assertThatThrownBy(() -> Architecture.NOTHING_USES_THE_CLI.check(fixture))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("<io.trtllm.testing.fixture.cli.CliImportFixture.run([Ljava.lang.String;)> calls "
                        + "method <io.trtllm.cli.Main.execute(");
    }
}
