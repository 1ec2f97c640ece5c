package io.trtllm.cli;

import io.trtllm.api.KvCacheConfig;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.SamplingParams;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Single-stream speed of one model: greedy decode tokens/s and prefill tokens/s, each the median of
 * several timed runs after warm-up runs, in one JVM (so the numbers are the engine's, not the JIT's).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure single-stream decode and prefill speed.")
final class Bench implements Callable<Integer> {
    /** Text repeated to build the prefill prompt. */
    private static final String PREFILL_TEXT = "Once upon a time, there was a little girl named Lily. "
            + "She loved to play outside in the sunshine with her friends and her dog. ";

    @CommandLine.Mixin
    EngineOptions engine;

    @Option(names = "--prompt", defaultValue = "Once upon a time", description = "Prompt of the decode runs.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "200", description = "Tokens generated per decode run (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--prefill-tokens", defaultValue = "128", description = "Prompt length of the prefill runs (default ${DEFAULT-VALUE}).")
    int prefillTokens;

    @Option(names = "--runs", defaultValue = "5", description = "Timed runs of each kind (default ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--warmup-runs", defaultValue = "3", description = "Untimed runs first (default ${DEFAULT-VALUE}).")
    int warmupRuns;

    @Option(names = "--concurrency", defaultValue = "1",
            description = "Also measure aggregate output tok/s of this many concurrent requests (default ${DEFAULT-VALUE}: off).")
    int concurrency;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (runs < 1 || warmupRuns < 0 || maxTokens < 1 || prefillTokens < 1 || concurrency < 1) {
            throw new IllegalArgumentException("--runs, --max-tokens, --prefill-tokens and --concurrency must be >= 1, "
                    + "--warmup-runs >= 0");
        }
        PrintWriter out = spec.commandLine().getOut();
        // Block reuse off: every run computes its whole prompt, as a first request would.
        var args = engine.builder().kvCacheConfig(new KvCacheConfig(null, 0.25, false, 32)).build();
        try (var llm = new LLM(args)) {
            var decode = SamplingParams.builder().maxTokens(maxTokens).temperature(0).ignoreEos(true).build();
            int[] longPrompt = prefillPrompt(llm);
            if (concurrency > 1 && longPrompt.length + maxTokens > llm.maxSeqLen()) {
                throw new IllegalArgumentException("--prefill-tokens " + longPrompt.length + " + --max-tokens " + maxTokens
                        + " exceeds max_seq_len " + llm.maxSeqLen());
            }
            var prefill = SamplingParams.greedy(1);
            for (int i = 0; i < warmupRuns; i++) {
                llm.generate(prompt, decode);
                llm.generate(longPrompt, prefill);
            }
            RequestMetrics[] decodeRuns = new RequestMetrics[runs];
            RequestMetrics[] prefillRuns = new RequestMetrics[runs];
            for (int i = 0; i < runs; i++) {
                decodeRuns[i] = llm.generate(prompt, decode).metrics();
                prefillRuns[i] = llm.generate(longPrompt, prefill).metrics();
            }
            var c = llm.modelConfig();
            out.printf(Locale.ROOT, "model: %s (%s, %d layers, hidden %d), backend %s%n", engine.model, c.modelType(),
                    c.numLayers(), c.hiddenSize(), llm.backendDescription());
            out.printf(Locale.ROOT, "decode: %s tok/s, %d tokens after a %d-token prompt%n",
                    summary(decodeRuns, RequestMetrics::decodeTokensPerSecond), maxTokens, decodeRuns[0].promptTokens());
            out.printf(Locale.ROOT, "prefill: %s tok/s, %d-token prompt%n",
                    summary(prefillRuns, RequestMetrics::prefillTokensPerSecond), longPrompt.length);
            if (concurrency > 1) {
                double[] throughput = new double[runs];
                for (int i = 0; i < runs; i++) {
                    throughput[i] = concurrent(llm, longPrompt, decode);
                }
                Arrays.sort(throughput);
                out.printf(Locale.ROOT, "throughput: median %.1f of %d runs (min %.1f, max %.1f) output tok/s, %d concurrent "
                                + "requests of %d tokens after %d-token prompts%n", median(throughput), runs, throughput[0],
                        throughput[runs - 1], concurrency, maxTokens, longPrompt.length);
            }
            EngineOptions.printMemory(out);
        }
        return 0;
    }

    private int[] prefillPrompt(LLM llm) {
        int limit = llm.maxSeqLen() - 1;
        if (prefillTokens > limit) {
            throw new IllegalArgumentException("--prefill-tokens " + prefillTokens + " leaves no room to generate within max_seq_len "
                    + llm.maxSeqLen());
        }
        int[] text = llm.tokenizer().encode(PREFILL_TEXT.repeat(1 + prefillTokens / 8), true);
        return Arrays.copyOf(text, Math.min(prefillTokens, text.length));
    }

    /**
     * Output tokens per second of {@code concurrency} requests submitted at once, each a
     * {@code --prefill-tokens} prompt (made distinct per request) generating {@code --max-tokens}.
     */
    private double concurrent(LLM llm, int[] basePrompt, SamplingParams params) {
        long start = System.nanoTime();
        var futures = new java.util.ArrayList<java.util.concurrent.CompletableFuture<io.trtllm.api.RequestOutput>>();
        for (int i = 0; i < concurrency; i++) {
            int[] p = basePrompt.clone();
            p[Math.min(1, p.length - 1)] = 100 + i;
            futures.add(llm.generateAsync(p, params));
        }
        long tokens = 0;
        for (var f : futures) {
            tokens += f.join().output().tokenIds().length;
        }
        return tokens * 1e9 / (System.nanoTime() - start);
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static String summary(RequestMetrics[] runs, ToDoubleFunction<RequestMetrics> f) {
        double[] v = Arrays.stream(runs).mapToDouble(f).sorted().toArray();
        double median = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
        return String.format(Locale.ROOT, "median %.1f of %d runs (min %.1f, max %.1f)", median, v.length, v[0], v[v.length - 1]);
    }
}
