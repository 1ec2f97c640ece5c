package io.trtllm.cli;

import com.tngtech.archunit.core.domain.JavaClasses;
import io.trtllm.testing.TestKinds;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * trtllm-cli's {@code *Tests} classes are unit tests: none loads an engine or starts a JVM (see
 * {@link TestKinds}); those that do are {@code *IT}.
 */
class TestKindsTests {

    @Test
    void unitTestsStartNothing() {
        JavaClasses ours = TestKinds.importOurs();
        TestKinds.unitTestsStartNothing(ours, Path.of("target", "test-classes")).check(ours);
    }
}
