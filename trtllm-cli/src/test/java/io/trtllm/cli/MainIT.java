package io.trtllm.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: output on stdout, stats lines, clear errors with exit codes. */
class MainIT {
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
        // 20 tokens: 19 gaps, the first 9 apart from the last 10
        assertThat(r.out()).containsPattern("(?m)^decode per token: median [0-9.]+ ms \\(gaps 1-9: [0-9.]+ ms, 10-19: "
                + "[0-9.]+ ms\\), p90 [0-9.]+ ms, max [0-9.]+ ms$");
        assertThat(r.out()).containsPattern("(?m)^peak heap: [0-9.]+ MiB");
        assertThat(r.out()).containsPattern("(?m)^load: [0-9]+ ms without JIT warm-up \\(engine [a-z_]+ in [0-9]+ ms, tokenizer [0-9]+ ms, "
                + "runner [0-9]+ ms\\), JIT warm-up [0-9]+ ms, requests [0-9]+ ms; dtype auto$");
    }

    @Test
    void benchLatencyPrintsMedianDecodeAndPrefillSpeed() {
        Result r = run("bench", "--latency", "--runs", "3", "--warmup-runs", "0", "--max-tokens", "8", "--prefill-tokens", "16",
                "--quantization", "int8", "--kv-cache-dtype", "float16");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^load: .*; quantization int8$");
        assertThat(r.out()).containsPattern("(?m)^model: stories15M \\(llama, 6 layers, hidden 288\\), backend cpu \\[.*KV cache F16\\]");
        assertThat(r.out()).containsPattern("(?m)^decode: median [0-9.]+ of 3 runs \\(min [0-9.]+, max [0-9.]+\\) tok/s, 8 tokens after a 5-token prompt");
        assertThat(r.out()).containsPattern("(?m)^prefill: median [0-9.]+ of 3 runs .* tok/s, 16-token prompt");
        assertThat(r.out()).containsPattern("(?m)^first requests after load: prefill [0-9.]+ tok/s \\([0-9.]+x the warm median\\), "
                + "decode [0-9.]+ tok/s \\([0-9.]+x\\)$");
        // No warm-up asked for: nothing to show the figures settled, and the bench says so on both streams.
        assertThat(r.out()).containsPattern("(?m)^warm-up: 0 runs in [0-9.]+ s, decode NOT settled .*, prefill NOT settled");
        assertThat(r.err()).contains("WARNING: the warm-up figures did not settle");
        r = run("bench", "--latency", "--prefill-tokens", "300");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--prefill-tokens 300").contains("max_seq_len 256");
        r = run("bench", "--latency", "--quantization", "int3");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("quantization 'int3' is not one of [none, int8, int4, fp8]");
        r = run("bench", "--latency", "--kv-cache-dtype", "fp4");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("kv_cache_config.dtype 'fp4' is not one of [auto, float32, float16, bfloat16, fp8]");
        r = run("bench", "--latency", "--backend", "cpu", "--kv-cache-dtype", "fp8");
        assertThat(r.code()).isNotZero();
        assertThat(r.err()).contains("kv_cache_config.dtype fp8 needs the cuda backend");
        r = run("bench", "--latency", "--kv-cache-memory-fraction", "1.5");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("kv_cache_config.memory_fraction must be in (0, 1], got 1.5");
        r = run("bench", "--latency", "--kv_cache_free_gpu_mem_fraction", "0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("kv_cache_config.memory_fraction must be in (0, 1], got 0.0");
    }

    @Test
    void benchPassTimesTheCpuRunnersDecodeAndPrefillPasses() {
        Result r = run("bench", "--pass", "decode", "--pass-sequences", "3", "--pass-context", "40", "--runs", "2",
                "--warmup-runs", "0", "--kv-cache-dtype", "bfloat16");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^model: stories15M \\(llama, 6 layers, hidden 288\\), backend cpu \\[.*KV cache BF16\\]");
        assertThat(r.out()).containsPattern("(?m)^decode pass, 3 sequences, 40 cached positions each: median [0-9.]+ of 2 runs "
                + "\\(min [0-9.]+, max [0-9.]+\\) ms per pass; [0-9.]+ tokens/s$");
        assertThat(r.out()).containsPattern("(?m)^warm-up: [0-9]+ runs in [0-9.]+ s, ms per pass (NOT )?settled \\(last [0-9]+ ");
        r = run("bench", "--pass", "prefill", "--pass-sequences", "2", "--pass-context", "16", "--runs", "1", "--warmup-runs", "0");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^prefill pass, 2 sequences, 16-token prompts: median [0-9.]+ of 1 runs");
        r = run("bench", "--pass", "verify");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--pass 'verify' is not one of [decode, prefill]");
        r = run("bench", "--pass", "decode", "--pass-context", "256");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--pass-context 256 needs 257 positions; the engine's max_seq_len is 256");
        r = run("bench", "--pass", "decode", "--backend", "cuda");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--pass measures the CPU runner");
        r = run("bench", "--pass", "decode", "--latency");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--latency, --engine-load and --pass are different modes");
    }

    @Test
    void benchEngineLoadTimesColdBuildsAgainstWarmLoadsInATemporaryCache() {
        Result r = run("bench", "--engine-load", "--runs", "2", "--warmup-runs", "1", "--quantization", "int8");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^engine: stories15M, backend auto, dtype auto, quantization int8$");
        assertThat(r.out()).containsPattern("(?m)^cold build: median [0-9.]+ of 2 runs \\(min [0-9.]+, max [0-9.]+\\) ms$");
        assertThat(r.out()).containsPattern("(?m)^warm load: median [0-9.]+ of 2 runs \\(min [0-9.]+, max [0-9.]+\\) ms$");
        assertThat(r.out()).containsPattern("(?m)^warm load is [0-9.]+x faster than cold build \\(first pair in this JVM: ");
        // Every pair's cold run was a cache miss and its warm run a hit (checked by the bench itself), in
        // temporary caches that are gone again: nothing was added to this test's engine cache.
        r = run("bench", "--engine-load", "--latency");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--latency, --engine-load and --pass are different modes");
    }

    @Test
    void benchThroughputOfSyntheticRequestsPrintsLatencyPercentilesAndWritesJson(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("out/result.json");
        Result r = run("bench", "--num-requests", "6", "--concurrency", "3", "--input-len", "20", "--output-len", "7",
                "--warmup-requests", "0", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("requests: 6 at concurrency 3, 20.0 input and 7.0 output tokens per request (avg)");
        for (String metric : new String[] {"TTFT", "TPOT", "ITL", "E2E latency"}) {
            assertThat(r.out()).containsPattern("(?m)^" + metric + " ms: avg [0-9.]+, p50 [0-9.]+, p90 [0-9.]+, p99 [0-9.]+");
        }
        assertThat(r.out()).containsPattern("(?m)^request throughput: [0-9.]+ req/s").containsPattern("(?m)^output tokens/s: [0-9.]+");
        var node = new ObjectMapper().readTree(json.toFile());
        assertThat(node.get("num_requests").asInt()).isEqualTo(6);
        assertThat(node.get("warmup_requests").asInt()).isZero();
        assertThat(node.get("total_output_tokens").asInt()).isEqualTo(42);
        assertThat(node.get("total_input_tokens").asInt()).isEqualTo(120);
        double seconds = node.get("total_time_s").asDouble();
        assertThat(node.get("output_tokens_per_second").asDouble()).isCloseTo(42 / seconds, within(1e-6));
        assertThat(node.get("request_throughput").asDouble()).isCloseTo(6 / seconds, within(1e-6));
        for (String key : new String[] {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
            var d = node.get(key);
            assertThat(d.get("p50").asDouble()).as(key).isPositive().isLessThanOrEqualTo(d.get("p90").asDouble());
            assertThat(d.get("p90").asDouble()).as(key).isLessThanOrEqualTo(d.get("p99").asDouble());
            assertThat(d.get("p99").asDouble()).as(key).isLessThanOrEqualTo(d.get("max").asDouble());
        }
        // Time to first token comes before the end of each request.
        assertThat(node.get("ttft_ms").get("max").asDouble()).isLessThan(node.get("e2e_ms").get("max").asDouble());
        try (var files = Files.list(json.getParent())) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("result.json");
        }
    }

    @Test
    void benchRunsAJsonLinesDataset(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data.jsonl");
        Files.writeString(data, """
                {"task_id": 0, "prompt": "Once upon a time", "output_tokens": 5}

                {"task_id": "b", "input_ids": [1, 9038, 2501, 263, 931], "output_tokens": 3}
                """);
        Path json = tmp.resolve("result.json");
        Result r = run("bench", "--dataset", data.toString(), "--concurrency", "2", "--json", json.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("requests: 2 at concurrency 2, 5.0 input and 4.0 output tokens per request (avg)");
        // The default warm-up: rounds of 2 for at least 3 s (each round takes a few milliseconds here).
        int warmup = new ObjectMapper().readTree(json.toFile()).get("warmup_requests").asInt();
        assertThat(warmup).isGreaterThan(2).matches(w -> w % 2 == 0, "whole rounds");
    }

    @Test
    void badDatasetsNameTheFileAndLine(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("bad.jsonl");
        String[][] cases = {
                {"{\"task_id\": 1, \"prompt\": \"hi\"}", "line 1: 'output_tokens' must be an integer >= 1"},
                {"{\"task_id\": 1, \"output_tokens\": 4}", "line 1: exactly one of 'prompt' and 'input_ids'"},
                {"{\"task_id\": 1, \"prompt\": \"a\", \"output_tokens\": 2}\n{oops", "line 2 is not valid JSON"},
                {"{\"task_id\": 1, \"input_ids\": [1, 99999], \"output_tokens\": 2}", "input_ids[1] = 99999 is not a token id in [0, 32000)"},
                {"{\"task_id\": 7, \"input_ids\": [1, 2], \"output_tokens\": 255}", "task_id 7: 2 input + 255 output tokens exceed max_seq_len 256"},
                {"[1, 2]", "line 1: expected a JSON object"},
                {"", "has no requests"},
        };
        for (String[] c : cases) {
            Files.writeString(data, c[0]);
            Result r = run("bench", "--dataset", data.toString());
            assertThat(r.code()).as(c[0]).isEqualTo(2);
            assertThat(r.err()).as(c[0]).contains(c[1]);
            if (!c[1].startsWith("task_id")) {
                assertThat(r.err()).contains(data.toString());
            }
        }
        Result r = run("bench", "--dataset", tmp.resolve("missing.jsonl").toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("missing.jsonl' is not a readable file");
    }

    @Test
    void percentilesInterpolateBetweenRanks() {
        double[] sorted = {1, 2, 3, 4};
        assertThat(ThroughputBench.Distribution.percentile(sorted, 50)).isEqualTo(2.5);
        assertThat(ThroughputBench.Distribution.percentile(sorted, 90)).isCloseTo(3.7, within(1e-12));
        assertThat(ThroughputBench.Distribution.percentile(sorted, 100)).isEqualTo(4);
        assertThat(ThroughputBench.Distribution.percentile(new double[] {5}, 99)).isEqualTo(5);
        var d = ThroughputBench.Distribution.ofNanos(new double[] {2e6, Double.NaN, 4e6});
        assertThat(d.avg()).isEqualTo(3);
        assertThat(d.min()).isEqualTo(2);
    }

    @Test
    void generateStreamPrintsWhatTheBlockingCallPrints() {
        Result streamed = run("generate", "--prompt", "Once upon a time", "--max-tokens", "24", "--temperature", "0", "--stream");
        Result blocking = run("generate", "--prompt", "Once upon a time", "--max-tokens", "24", "--temperature", "0");
        assertThat(streamed.code()).as(streamed.err()).isZero();
        assertThat(streamed.out()).isEqualTo(blocking.out()).startsWith(", there was a little girl named Lily.");
        Result r = run("generate", "--prompt", "hi", "--stream", "--n", "2", "--temperature", "0.8");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--stream").contains("--n");
    }

    @Test
    void generateTakesTheSamplingOptions() {
        Result r = run("generate", "--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "0", "--stop", "Lily");
        assertThat(r.out()).isEqualTo(", there was a little girl named " + System.lineSeparator());
        r = run("generate", "--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "0", "--stop", "Lily",
                "--include-stop-str");
        assertThat(r.out()).isEqualTo(", there was a little girl named Lily" + System.lineSeparator());
        r = run("generate", "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0", "--beam-width", "3", "--n", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^\\[0\\] , there").containsPattern("(?m)^\\[1\\] ");
        r = run("generate", "--prompt", "Once upon a time", "--max-tokens", "3", "--temperature", "0", "--logprobs", "2");
        assertThat(r.out()).contains("logprobs [0]:").containsPattern("(?m)^ +29892 \",\" +-[0-9.]+  \",\" -[0-9.]+  \"there\" -[0-9.]+$");
        r = run("generate", "--prompt", "Once upon a time", "--max-tokens", "6", "--temperature", "0.9", "--seed", "7",
                "--top-k", "20", "--top-p", "0.9", "--min-p", "0.05", "--repetition-penalty", "1.2", "--presence-penalty", "0.5",
                "--frequency-penalty", "0.5", "--min-tokens", "6", "--stop-token-ids", "13,2", "--bad", "dragon");
        Result again = run("generate", "--prompt", "Once upon a time", "--max-tokens", "6", "--temperature", "0.9", "--seed", "7",
                "--top-k", "20", "--top-p", "0.9", "--min-p", "0.05", "--repetition-penalty", "1.2", "--presence-penalty", "0.5",
                "--frequency-penalty", "0.5", "--min-tokens", "6", "--stop-token-ids", "13,2", "--bad", "dragon");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isNotBlank().isEqualTo(again.out());
        r = run("generate", "--prompt", "hi", "--top-p", "1.5");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("top_p");
        r = run("generate", "--prompt", "hi", "--beam-width", "2", "--best-of", "3");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--beam-width and --best-of");
    }

    @Test
    void maxInputLenRefusesLongerPromptsUnlessTruncated() {
        // "Once upon a time there was a dog" is 9 tokens with the BOS token.
        Result r = run("generate", "--max-input-len", "6", "--prompt", "Once upon a time there was a dog", "--max-tokens", "2",
                "--temperature", "0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("prompt (9 tokens) exceeds the engine's max_input_len 6");
        r = run("generate", "--max-seq-len", "32", "--max-input-len", "40", "--prompt", "hi");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("max_input_len 40 exceeds max_seq_len 32");
        r = run("generate", "--max-input-len", "9", "--prompt", "Once upon a time there was a dog", "--max-tokens", "2",
                "--temperature", "0");
        assertThat(r.code()).as(r.err()).isZero();
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
