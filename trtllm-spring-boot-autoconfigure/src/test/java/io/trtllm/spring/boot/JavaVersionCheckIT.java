package io.trtllm.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Spring Boot application with the starter's classes, really started on Java 17 (Spring Boot 4's
 * oldest): it fails with Boot's failure analysis naming the Java version, instead of starting without
 * the engine. With {@code spring.ai.model.chat=none} (the starter off by choice) it starts.
 */
class JavaVersionCheckIT {
    private static final Path JAVA_17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64/bin/java");

    @TempDir
    static Path app;

    /** A plain @SpringBootApplication, compiled here for Java 17 (the test classes are Java 25's). */
    @BeforeAll
    static void compileAnApplicationForJava17() throws Exception {
        Path source = app.resolve("j17app/Java17App.java");
        Files.createDirectories(source.getParent());
        Files.writeString(source, """
                package j17app;

                @org.springframework.boot.autoconfigure.SpringBootApplication
                public class Java17App {
                    public static void main(String[] args) {
                        org.springframework.boot.SpringApplication.run(Java17App.class, args);
                    }
                }
                """);
        var errors = new StringWriter();
        boolean ok = ToolProvider.getSystemJavaCompiler().getTask(errors, null, null,
                List.of("--release", "17", "-proc:none", "-cp", System.getProperty("java.class.path"), "-d", app.toString()),
                null, ToolProvider.getSystemJavaCompiler().getStandardFileManager(null, null, StandardCharsets.UTF_8)
                        .getJavaFileObjects(source)).call();
        assertThat(ok).as(errors.toString()).isTrue();
    }

    @Test
    void onJava17StartupFailsWithAnAnalysisNamingTheVersion() throws Exception {
        Result r = run();
        assertThat(r.code()).as(r.output()).isNotZero();
        assertThat(r.output()).contains("APPLICATION FAILED TO START")
                .contains("trtllm-java needs Java 25 or newer; this JVM is 17")
                .contains("Action:").contains("Run the application on Java 25 or newer")
                .doesNotContain("required a bean of type");
    }

    @Test
    void onJava17WithAnotherChatProviderTheCheckStandsAside() throws Exception {
        Result r = run("--spring.ai.model.chat=none");
        assertThat(r.output()).doesNotContain("needs Java 25");
        assertThat(r.code()).as(r.output()).isZero();
    }

    record Result(int code, String output) {
    }

    private static Result run(String... args) throws Exception {
        assertThat(JAVA_17).as("a Java 17 runtime (Debian openjdk-17-jre-headless)").exists();
        List<String> cmd = new ArrayList<>(List.of(JAVA_17.toString(), "-cp",
                app + java.io.File.pathSeparator + System.getProperty("java.class.path"), "j17app.Java17App",
                "--spring.main.web-application-type=none"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
        return new Result(p.exitValue(), out);
    }
}
