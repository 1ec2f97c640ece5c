package io.trtllm.sampling.guided;

import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.GuidedDecodingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * Decode throughput with and without a guide, end to end through {@link LLM} (executor, sampler, runner): rounds
 * of {@code concurrency} requests submitted at once, free and guided rounds interleaved (free, guided, free,
 * guided...) so that a machine whose load changes affects both alike; the median of each kind and the guided
 * one's share of the free one. Free requests ignore the end token; guided ones use a guide that never completes
 * before {@code tokens} ({@code regex}: {@code [a-z ]{16·tokens}}, longer than any output of that many tokens) or the 20-property
 * schema ({@code json}, compact; its outputs end where the object does, so its rate is per token generated), or
 * the JSON Schema in a file ({@code FILE.json}, compact).
 * Warm-up rounds of both kinds come first: the JIT, and the guide's masks computed as its configurations are
 * reached (the cold cost is GuidedDecodingBench's "first pass").
 *
 * <pre>scripts/bench-guided.sh sampled [model] [backend] [regex|json|FILE.json] [rounds] [tokens] [concurrency] [max_seq_len]</pre>
 * (docs/PERFORMANCE.md, "Guided decoding"). Defaults: stories15M, cpu, regex, 5 rounds, 128 tokens, 32 requests, the
 * model's default max_seq_len (scripts/gpu-llama8b.sh passes 512, the engine its other steps build).
 */
public final class GuidedSampledDecodeBench {
    public static void main(String[] args) {
        String model = arg(args, 0, "stories15M");
        String backend = arg(args, 1, "cpu");
        String kind = arg(args, 2, "regex");
        int rounds = Integer.parseInt(arg(args, 3, "5"));
        int tokens = Integer.parseInt(arg(args, 4, "128"));
        int concurrency = Integer.parseInt(arg(args, 5, "32"));
        String maxSeqLen = arg(args, 6, "");
        GuidedDecodingParams guide = switch (kind) {
            case "regex" -> GuidedDecodingParams.regex("[a-z ]{" + 16 * tokens + "}");
            case "json" -> GuidedDecodingParams.json(TestSchemas.twentyProperties()).withCompactWhitespace(true);
            default -> {
                if (!kind.endsWith(".json")) {
                    throw new IllegalArgumentException("guide '" + kind + "' is not one of [regex, json, FILE.json]");
                }
                try {
                    yield GuidedDecodingParams.json(java.nio.file.Files.readString(java.nio.file.Path.of(kind)))
                            .withCompactWhitespace(true);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
        var free = SamplingParams.builder().maxTokens(tokens).temperature(0.8f).ignoreEos(true).build();
        var guided = SamplingParams.builder().maxTokens(tokens).temperature(0.8f).guidedDecoding(guide).build();
        try (var llm = new LLM(maxSeqLen.isEmpty()
                ? LlmArgs.builder(model).backend(backend).maxBatchSize(concurrency).build()
                : LlmArgs.builder(model).backend(backend).maxBatchSize(concurrency).maxSeqLen(Integer.parseInt(maxSeqLen)).build())) {
            System.out.printf(Locale.ROOT, "%s on %s, %d concurrent requests of up to %d tokens, guide %s, %d CPUs%n", model,
                    backend, concurrency, tokens, kind, Runtime.getRuntime().availableProcessors());
            for (int i = 0; i < 2; i++) {
                round(llm, free, concurrency, "warm-up " + i);
                round(llm, guided, concurrency, "warm-up " + i);
            }
            double[] freeRates = new double[rounds];
            double[] guidedRates = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                freeRates[r] = round(llm, free, concurrency, "free " + r);
                guidedRates[r] = round(llm, guided, concurrency, "guided " + r);
            }
            Arrays.sort(freeRates);
            Arrays.sort(guidedRates);
            double f = freeRates[rounds / 2];
            double g = guidedRates[rounds / 2];
            System.out.printf(Locale.ROOT, "median of %d rounds: free %.0f tok/s, guided %.0f tok/s: %.1f%% of free "
                    + "(overhead %.1f%%)%n", rounds, f, g, 100 * g / f, 100 * (1 - g / f));
        }
    }

    /** One round: {@code n} requests at once; output tokens per second of wall time. */
    private static double round(LLM llm, SamplingParams params, int n, String label) {
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            futures.add(llm.generateAsync("Once upon a time " + i, params));
        }
        long generated = 0;
        for (var f : futures) {
            generated += f.join().output().tokenIds().length;
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        double rate = generated / seconds;
        System.out.printf(Locale.ROOT, "  %-10s %6d tokens in %6.2f s: %7.0f tok/s%n", label, generated, seconds, rate);
        return rate;
    }

    private static String arg(String[] args, int i, String otherwise) {
        return args.length > i ? args[i] : otherwise;
    }
}
