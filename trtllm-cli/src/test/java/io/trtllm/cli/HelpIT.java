package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code trtllm ... --help} of every command, each in a JVM of its own as the launcher runs it: the usage on
 * standard output and nothing on standard error. picocli warns there, on the JVM's own {@code System.err}
 * (not the command line's writers), when an option's description does not format (a lone {@code %}).
 */
class HelpIT {
    /** What the JVM itself prints whenever the Vector API's module is added. */
    private static final String INCUBATOR_NOTE = "WARNING: Using incubator modules: jdk.incubator.vector";

    /** Every command's path below {@code trtllm}: [], [generate], ..., [cache, list], [cache, clear]. */
    private static List<List<String>> commands(CommandLine command, List<String> path) {
        List<List<String>> all = new ArrayList<>();
        all.add(path);
        command.getSubcommands().forEach((name, sub) -> {
            if (name.equals(sub.getCommandName())) { // not an alias of it
                all.addAll(commands(sub, Stream.concat(path.stream(), Stream.of(name)).toList()));
            }
        });
        return all;
    }

    @Test
    void everyCommandsHelpPrintsItsUsageAndNoWarning(@TempDir Path tmp) throws Exception {
        List<List<String>> commands = commands(new CommandLine(new Main()), List.of());
        assertThat(commands).contains(List.of(), List.of("generate"), List.of("bench"), List.of("build"),
                List.of("cache"), List.of("cache", "list"), List.of("cache", "clear"));
        for (List<String> command : commands) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                    "-cp", System.getProperty("java.class.path"), Main.class.getName()));
            cmd.addAll(command);
            cmd.add("--help");
            Path out = tmp.resolve("out.txt");
            Path err = tmp.resolve("err.txt");
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("%s --help finished", command).isTrue();
            String stdout = Files.readString(out, StandardCharsets.UTF_8);
            String stderr = Files.readString(err, StandardCharsets.UTF_8);
            String name = String.join(" ", Stream.concat(Stream.of("trtllm"), command.stream()).toList());
            assertThat(p.exitValue()).as("%s --help: %s", name, stderr).isZero();
            assertThat(stdout).as(name).startsWith("Usage: " + name + " ").contains("-h, --help");
            assertThat(stderr.lines().filter(l -> !l.equals(INCUBATOR_NOTE)))
                    .as("%s --help writes nothing to standard error but the JVM's note", name).isEmpty();
        }
    }
}
