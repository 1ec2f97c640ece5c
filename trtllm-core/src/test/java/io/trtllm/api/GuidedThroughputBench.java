package io.trtllm.api;

import io.trtllm.api.config.GuidedDecodingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * The end-to-end cost of token masks on the CPU backend: decode throughput of {@code concurrency} requests
 * at once (stories15M, greedy, a prompt of its own per request), free and guided, in alternating rounds.
 *
 * <ul>
 *   <li><b>free</b>: no guide;</li>
 *   <li><b>mask, all allowed</b>: the regex {@code [\s\S]*}, whose mask allows every token the model
 *       writes (special tokens aside) and the end token everywhere: greedy draws the same tokens as free (the
 *       outputs are checked to be equal), so the difference is the machinery alone (matcher fill and accept,
 *       the mask on the row, the executor's check). Sampled, the two would differ: the special tokens' mass
 *       leaves the masked distribution;</li>
 *   <li><b>mask, letters</b>: {@code [a-z ,.]+}, a mask that changes what is drawn (fewer tokens allowed;
 *       outputs and lengths differ, so only tokens per second compare).</li>
 * </ul>
 *
 * Throughput is generated tokens over the wall time of the round (all requests submitted at once, prefill
 * included in both). Run with {@code scripts/bench-guided.sh e2e [concurrency] [max_tokens] [rounds]}
 * (docs/PERFORMANCE.md, "Guided decoding").
 */
public final class GuidedThroughputBench {
    public static void main(String[] args) throws Exception {
        int concurrency = args.length > 0 ? Integer.parseInt(args[0]) : 32;
        int maxTokens = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        try (LLM llm = new LLM(LlmArgs.builder("stories15M").maxBatchSize(Math.max(concurrency, 8)).build())) {
            System.out.printf(Locale.ROOT, "stories15M, %d concurrent requests, max_tokens %d, %d rounds%n",
                    concurrency, maxTokens, rounds);
            GuidedDecodingParams all = GuidedDecodingParams.regex("[\\s\\S]*");
            GuidedDecodingParams letters = GuidedDecodingParams.regex("[a-z ,.]+");
            run(llm, concurrency, maxTokens, null); // warm-up: JIT, masks of the guides' few configurations
            run(llm, concurrency, maxTokens, all);
            run(llm, concurrency, maxTokens, letters);
            double[] free = new double[rounds];
            double[] masked = new double[rounds];
            double[] narrow = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                Result f = run(llm, concurrency, maxTokens, null);
                Result m = run(llm, concurrency, maxTokens, all);
                Result n = run(llm, concurrency, maxTokens, letters);
                if (!f.texts().equals(m.texts())) {
                    throw new IllegalStateException("an all-allowing mask changed the outputs");
                }
                free[r] = f.tokensPerSecond();
                masked[r] = m.tokensPerSecond();
                narrow[r] = n.tokensPerSecond();
                System.out.printf(Locale.ROOT, "round %d: free %.0f tok/s (%d tokens), mask all allowed %.0f tok/s "
                                + "(%+.1f%%), mask letters %.0f tok/s (%d tokens, %+.1f%%)%n", r + 1, free[r], f.tokens(),
                        masked[r], 100 * (masked[r] / free[r] - 1), narrow[r], n.tokens(), 100 * (narrow[r] / free[r] - 1));
            }
            double fm = median(free);
            System.out.printf(Locale.ROOT, "median: free %.0f tok/s, mask all allowed %.0f tok/s (%+.1f%%), mask letters "
                    + "%.0f tok/s (%+.1f%%)%n", fm, median(masked), 100 * (median(masked) / fm - 1), median(narrow),
                    100 * (median(narrow) / fm - 1));
        }
    }

    /** Greedy, so each request needs a prompt of its own to write a story of its own. */
    private static final String[] PROMPTS = {"Once upon a time, there was a girl named ", "One day, a little boy named ",
            "There was a big dog called ", "A cat named ", "In the park, a bird named ", "Long ago, a king named ",
            "Mom said to ", "The sun was shining when "};
    private static final String[] NAMES = {"Lily", "Tim", "Sue", "Max"};

    private record Result(List<String> texts, int tokens, double tokensPerSecond) {
    }

    private static Result run(LLM llm, int concurrency, int maxTokens, GuidedDecodingParams guide)
            throws Exception {
        List<CompletableFuture<RequestOutput>> futures = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < concurrency; i++) {
            SamplingParams.Builder b = SamplingParams.builder().maxTokens(maxTokens).temperature(0f);
            if (guide != null) {
                b.guidedDecoding(guide);
            }
            futures.add(llm.generateAsync(PROMPTS[i % PROMPTS.length] + NAMES[(i / PROMPTS.length) % NAMES.length],
                    b.build()));
        }
        List<String> texts = new ArrayList<>();
        int tokens = 0;
        for (var f : futures) {
            RequestOutput out = f.get();
            texts.add(out.output().text());
            tokens += out.output().tokenIds().length;
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(texts, tokens, tokens / seconds);
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
