package io.trtllm.spring;

import com.tngtech.archunit.core.domain.JavaClasses;
import io.trtllm.testing.TestKinds;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * This module's {@code *Tests} classes are unit tests: none loads an engine or starts a JVM, a server or a
 * container (see {@link TestKinds}); those that do are {@code *IT}, run by Failsafe in {@code mvn verify}.
 */
class TestKindsTests {

    @Test
    void unitTestsStartNothing() {
        JavaClasses ours = TestKinds.importOurs();
        TestKinds.unitTestsStartNothing(ours, Path.of("target", "test-classes")).check(ours);
    }
}
