package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: output on stdout, stats lines, clear errors with exit codes. */
class MainTests {
    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        var out = new StringWriter();
        var err = new StringWriter();
        int code = Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void generatePrintsTheCompletionAndStats() {
        Result r = run("generate", "--model", "stories15M", "--prompt", "Once upon a time", "--max-tokens", "20",
                "--temperature", "0", "--stats");
        assertThat(r.code()).isZero();
        // The completion only, not the prompt.
        assertThat(r.out()).startsWith(", there was a little girl named Lily.");
        assertThat(r.out()).containsPattern("(?m)^prefill: [0-9.]+ tok/s");
        assertThat(r.out()).containsPattern("(?m)^decode: [0-9.]+ tok/s");
        assertThat(r.out()).containsPattern("(?m)^peak heap: [0-9.]+ MiB");
    }

    @Test
    void benchPrintsMedianDecodeAndPrefillSpeed() {
        Result r = run("bench", "--runs", "3", "--warmup-runs", "0", "--max-tokens", "8", "--prefill-tokens", "16",
                "--concurrency", "3");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^model: stories15M \\(llama, 6 layers, hidden 288\\), backend cpu \\[");
        assertThat(r.out()).containsPattern("(?m)^decode: median [0-9.]+ of 3 runs \\(min [0-9.]+, max [0-9.]+\\) tok/s, 8 tokens after a 5-token prompt");
        assertThat(r.out()).containsPattern("(?m)^prefill: median [0-9.]+ of 3 runs .* tok/s, 16-token prompt");
        assertThat(r.out()).containsPattern("(?m)^throughput: median [0-9.]+ of 3 runs .* output tok/s, 3 concurrent requests of 8 tokens after 16-token prompts");
        r = run("bench", "--prefill-tokens", "300");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--prefill-tokens 300").contains("max_seq_len 256");
    }

    @Test
    void argumentErrorsLeaveStandardOutputEmpty() {
        Result r = run("generate", "--prompt", "Once upon a time", "--max-tokens", "300");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("exceeds max_seq_len 256");
    }

    @Test
    void missingModelDirectoryIsAClearError(@TempDir Path tmp) throws Exception {
        Result r = run("generate", "--model", tmp.resolve("nope").toString(), "--prompt", "hi");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("error: model '" + tmp.resolve("nope") + "' is neither");

        Files.writeString(tmp.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        r = run("generate", "--model", tmp.toString(), "--prompt", "hi");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("model_type 'gpt2' is not supported").contains("llama, mistral, qwen2, qwen3");
    }

    @Test
    void badArgumentsAreRejected() {
        Result r = run("generate", "--model", "stories15M", "--prompt", "hi", "--temperature", "-1");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("temperature must be");
        r = run("generate", "--model", "stories15M");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--prompt");
    }
}
