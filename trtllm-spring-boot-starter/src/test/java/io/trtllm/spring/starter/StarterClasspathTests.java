package io.trtllm.spring.starter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The starter carries what a server needs (issue 17.9): the engine and the Spring modules, not the command line.
 * Checked on the starter's resolved runtime class path (Maven's, written at build time by the dependency plugin)
 * and on this test's class path, which holds it.
 */
class StarterClasspathTests {

    /** The starter's runtime dependencies: one jar (or, inside the reactor, a classes directory) a line. */
    private static List<String> runtimeClasspath() throws IOException {
        String text = Files.readString(Path.of("target", "runtime-classpath.txt")).strip();
        return Arrays.stream(text.split(File.pathSeparator)).map(e -> Path.of(e).toString()).toList();
    }

    @Test
    void theRuntimeClasspathHasTheEngineAndNoCommandLine() throws IOException {
        List<String> classpath = runtimeClasspath();
        assertThat(classpath).anyMatch(e -> e.contains("trtllm-core"))
                .anyMatch(e -> e.contains("trtllm-spring-boot-autoconfigure"))
                .anyMatch(e -> e.contains("tokenizers-"));
        assertThat(classpath).as("the command line and its logging backend")
                .noneMatch(e -> e.contains("picocli") || e.contains("trtllm-cli") || e.contains("slf4j-simple"));
    }

    @Test
    void noCommandLineClassLoads() throws Exception {
        Class.forName("io.trtllm.api.LLM", false, getClass().getClassLoader());
        assertThatThrownBy(() -> Class.forName("picocli.CommandLine", false, getClass().getClassLoader())).isInstanceOf(ClassNotFoundException.class);
        assertThatThrownBy(() -> Class.forName("io.trtllm.cli.Main", false, getClass().getClassLoader())).isInstanceOf(ClassNotFoundException.class);
        assertThat(StarterClasspathTests.class.getClassLoader().getResource("simplelogger.properties")).isNull();
    }
}
