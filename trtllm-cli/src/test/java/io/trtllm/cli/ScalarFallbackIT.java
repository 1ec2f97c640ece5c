package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JVM started without {@code --add-modules jdk.incubator.vector} still generates, on the scalar
 * kernels, the same greedy text, and says once why it is slower.
 */
class ScalarFallbackIT {

    @Test
    void withoutTheVectorModuleTheScalarKernelsGiveTheSameText(@TempDir Path tmp) throws Exception {
        String[] args = {"generate", "--model", "stories15M", "--prompt", "Once upon a time", "--max-tokens", "12",
            "--temperature", "0"};
        Result simd = run(tmp, true, args);
        Result scalar = run(tmp, false, args);
        assertThat(simd.code()).as(simd.err()).isZero();
        assertThat(scalar.code()).as(scalar.err()).isZero();
        assertThat(scalar.out()).isEqualTo(simd.out()).startsWith(", there was a little girl");
        assertThat(scalar.err()).contains("module jdk.incubator.vector is not enabled")
                .contains("--add-modules jdk.incubator.vector");
        assertThat(simd.err()).doesNotContain("is not enabled");
    }

    record Result(int code, String out, String err) {
    }

    private static Result run(Path tmp, boolean vector, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        if (vector) {
            cmd.add("--add-modules");
            cmd.add("jdk.incubator.vector");
        }
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        Path out = tmp.resolve((vector ? "vector" : "scalar") + ".out");
        Path err = tmp.resolve((vector ? "vector" : "scalar") + ".err");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("generate did not finish in 5 minutes");
        }
        return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }
}
