package io.trtllm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.LLM;
import io.trtllm.api.LlmArgs;
import io.trtllm.api.RequestMetrics;
import io.trtllm.api.SamplingParams;
import io.trtllm.api.config.BuildCacheConfig;
import io.trtllm.api.config.EngineLoad;
import io.trtllm.engine.EngineBuilder;
import io.trtllm.engine.EngineLease;
import io.trtllm.model.DType;
import io.trtllm.model.ModelConfig;
import io.trtllm.runtime.Batch;
import io.trtllm.runtime.KvCacheSpec;
import io.trtllm.runtime.SequenceChunk;
import io.trtllm.runtime.cpu.CpuModelRunner;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code trtllm bench}: by default a {@code trtllm-bench throughput}-style run (a JSON Lines dataset or
 * synthetic requests, a concurrency limit; request throughput, output tokens/s, TTFT, TPOT, ITL and
 * end-to-end latency percentiles, optionally as JSON); with {@code --latency}, single-stream greedy
 * decode and prefill speed, each the median of several timed runs after warm-up runs. Everything runs
 * in one JVM, so the numbers are the engine's, not the JIT's.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure throughput and latency (trtllm-bench throughput style), or with --latency "
                + "single-stream decode and prefill speed."})
final class Bench implements Callable<Integer> {
    /** Text repeated to build the prefill prompt. */
    private static final String PREFILL_TEXT = "Once upon a time, there was a little girl named Lily. "
            + "She loved to play outside in the sunshine with her friends and her dog. ";

    @CommandLine.Mixin
    EngineOptions engine;

    @Option(names = "--dataset", description = "JSON Lines requests: task_id, prompt or input_ids, output_tokens "
            + "(default: synthetic requests).")
    @Nullable Path dataset;

    @Option(names = "--num-requests", defaultValue = "32", description = "Synthetic requests (default ${DEFAULT-VALUE}).")
    int numRequests;

    @Option(names = "--input-len", defaultValue = "128", description = "Prompt tokens of each synthetic request (default ${DEFAULT-VALUE}).")
    int inputLen;

    @Option(names = "--output-len", defaultValue = "128", description = "Generated tokens of each synthetic request (default ${DEFAULT-VALUE}).")
    int outputLen;

    @Option(names = "--concurrency", defaultValue = "0",
            description = "Most requests in flight; 0 = all at once (default ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--warmup-requests", description = "Untimed requests first, at the same concurrency "
            + "(default: rounds of min(concurrency, requests) for at least 3 s and until the last 3 rounds' output tok/s "
            + "agree within 5%% (at most 60 s; a warning says when they did not), so that the JIT has compiled the kernels "
            + "before the timed run).")
    @Nullable Integer warmupRequests;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the synthetic prompts (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--enable-block-reuse", description = "Reuse cached prompt prefixes (off: every prompt is computed).")
    boolean blockReuse;

    @Option(names = "--json", description = "Also write the results to this JSON file.")
    @Nullable Path json;

    @Option(names = "--latency", description = "Single-stream mode: median decode and prefill speed.")
    boolean latency;

    @Option(names = "--prompt", defaultValue = "Once upon a time", description = "--latency: prompt of the decode runs.")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "200", description = "--latency: tokens per decode run (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--beam-width", defaultValue = "1", description = "--latency: also time beam-search decode runs of "
            + "this width (max_tokens steps each, no early stopping) against greedy, per step (default ${DEFAULT-VALUE}: off).")
    int beamWidth;

    @Option(names = "--prefill-tokens", defaultValue = "128", description = "--latency: prompt length of the prefill runs (default ${DEFAULT-VALUE}).")
    int prefillTokens;

    @Option(names = "--runs", defaultValue = "5", description = "--latency and --engine-load: timed runs of each kind (default ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--warmup-runs", description = "--latency, --pass and --engine-load: untimed runs first (default: "
            + "--engine-load 3; --latency at least 3 and until the last 3 runs' decode and prefill figures each agree within "
            + "5%%, at most 60 s; --pass at least 3 s and until the last 3 runs agree within 5%%, at most 60 s; given, exactly "
            + "that many (--pass: and at least 3 s), and a warning says when they did not agree). --latency reports "
            + "the first requests after load apart.")
    @Nullable Integer warmupRuns;

    @Option(names = "--pass", description = "Forward-pass mode (CPU runner alone, no executor): decode (one new token "
            + "for each of --pass-sequences sequences at --pass-context cached positions) or prefill (--pass-sequences "
            + "prompts of --pass-context tokens); median ms per pass of --runs runs of 10 passes, after at least 3 s "
            + "of untimed runs and --warmup-runs of them, or without it until the last 3 agree within 5%% (at most 60 s; "
            + "a warning when they did not).")
    @Nullable String pass;

    @Option(names = "--pass-sequences", defaultValue = "32", description = "--pass: sequences in the pass (default ${DEFAULT-VALUE}).")
    int passSequences;

    @Option(names = "--pass-context", defaultValue = "192",
            description = "--pass: decode: positions already cached; prefill: prompt tokens (default ${DEFAULT-VALUE}).")
    int passContext;

    @Option(names = "--engine-load", description = "Engine cache mode: cold build vs warm load of the model's engine "
            + "(--runs timed pairs after --warmup-runs, in a temporary engine cache).")
    boolean engineLoad;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if ((latency ? 1 : 0) + (engineLoad ? 1 : 0) + (pass != null ? 1 : 0) > 1) {
            throw new IllegalArgumentException("--latency, --engine-load and --pass are different modes; pick one");
        }
        return engineLoad ? engineLoad() : latency ? latency() : pass != null ? pass(pass) : throughput();
    }

    /** Warm-up runs (rounds) whose figures must agree before the timed ones. */
    private static final int SETTLE_RUNS = 3;
    /** How far apart those figures may be. */
    private static final double SETTLE_TOLERANCE = 0.05;
    /** Most warm-up time spent waiting for the figures to settle. */
    private static final long SETTLE_LIMIT_NANOS = 60_000_000_000L;

    /** Passes per timed run of {@code --pass}. */
    private static final int PASSES_PER_RUN = 10;
    /** Least untimed time of {@code --pass} before its runs. */
    private static final long WARMUP_NANOS = 3_000_000_000L;

    /**
     * One kind of forward pass of the CPU runner, timed without the executor, the sampler's callers or
     * the bench's clients: a decode step of {@code --pass-sequences} sequences at {@code --pass-context}
     * cached positions, or a prefill of that many prompts of {@code --pass-context} tokens. Tokens are
     * drawn from the vocabulary with a fixed seed; each sequence has its own blocks, interleaved in the
     * pool as a busy cache hands them out.
     */
    private int pass(String kind) {
        boolean decode = switch (kind) {
            case "decode" -> true;
            case "prefill" -> false;
            default -> throw new IllegalArgumentException("--pass '" + kind + "' is not one of [decode, prefill]");
        };
        int warmupRuns = warmupRunsOr3();
        if (runs < 1 || warmupRuns < 0 || passSequences < 1 || passContext < (decode ? 0 : 1)) {
            throw new IllegalArgumentException("--runs and --pass-sequences must be >= 1, --warmup-runs >= 0, --pass-context >= "
                    + (decode ? 0 : 1));
        }
        if (!engine.backend.equals("auto") && !engine.backend.equals("cpu")) {
            throw new IllegalArgumentException("--pass measures the CPU runner; --backend " + engine.backend
                    + " is measured by --latency and the throughput mode");
        }
        PrintWriter out = spec.commandLine().getOut();
        LlmArgs args = engine.builder().backend("cpu").build();
        try (EngineLease lease = LLM.acquireEngine(args)) {
            ModelConfig config = lease.config().modelConfig();
            long needed = (long) passContext + (decode ? 1 : 0); // a long: --pass-context may be up to 2^31 - 1
            int maxSeq = lease.config().buildConfig().maxSeqLen();
            if (needed > maxSeq) {
                throw new IllegalArgumentException("--pass-context " + passContext + " needs " + needed
                        + " positions; the engine's max_seq_len is " + maxSeq);
            }
            int positions = (int) needed;
            int blockSize = args.kvCacheConfig().tokensPerBlock();
            int perSequence = Math.ceilDiv(positions, blockSize);
            DType kvType = DType.of(args.kvCacheConfig().dtype(), DType.F32);
            int threads = args.threads() > 0 ? args.threads() : Runtime.getRuntime().availableProcessors();
            long blocks = (long) passSequences * perSequence;
            if (blocks > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("--pass-sequences " + passSequences + " × " + perSequence
                        + " KV blocks each exceeds 2^31 - 1 blocks");
            }
            var kv = new KvCacheSpec((int) blocks, blockSize);
            try (var runner = new CpuModelRunner(config, lease.weights(), kv, kvType, threads)) {
                var random = new java.util.Random(seed);
                var chunks = new java.util.ArrayList<SequenceChunk>();
                for (int s = 0; s < passSequences; s++) {
                    int[] table = new int[perSequence];
                    for (int b = 0; b < perSequence; b++) {
                        table[b] = b * passSequences + s;
                    }
                    int[] ids = random.ints(decode ? 1 : passContext, 0, config.vocabSize()).toArray();
                    chunks.add(new SequenceChunk(ids, decode ? passContext : 0, table, SequenceChunk.LogitsMode.ARGMAX));
                }
                var batch = new Batch(chunks);
                // Untimed: runs of PASSES_PER_RUN passes for at least WARMUP_NANOS (the JIT compiles the kernels), and
                // --warmup-runs of them, or until the last runs agree (or the warm-up time is spent).
                var settling = new Settling(SETTLE_RUNS, SETTLE_TOLERANCE);
                long warmupStart = System.nanoTime();
                int warmups = 0;
                while (System.nanoTime() - warmupStart < WARMUP_NANOS || (this.warmupRuns != null ? warmups < warmupRuns
                        : !settling.settled() && System.nanoTime() - warmupStart < SETTLE_LIMIT_NANOS)) {
                    long start = System.nanoTime();
                    for (int p = 0; p < PASSES_PER_RUN; p++) {
                        runner.forward(batch);
                    }
                    settling.add((System.nanoTime() - start) / 1e6 / PASSES_PER_RUN);
                    warmups++;
                }
                double warmupSeconds = (System.nanoTime() - warmupStart) / 1e9;
                double[] ms = new double[runs];
                for (int i = 0; i < runs; i++) {
                    long start = System.nanoTime();
                    for (int p = 0; p < PASSES_PER_RUN; p++) {
                        runner.forward(batch);
                    }
                    ms[i] = (System.nanoTime() - start) / 1e6 / PASSES_PER_RUN;
                }
                int tokens = batch.tokenCount();
                out.printf(Locale.ROOT, "model: %s (%s, %d layers, hidden %d), backend cpu [%s]%n", engine.model,
                        config.modelType(), config.numLayers(), config.hiddenSize(), runner.description());
                out.printf(Locale.ROOT, "%s pass, %d sequences, %s: %s ms per pass; %.1f tokens/s%n", kind, passSequences,
                        decode ? passContext + " cached positions each" : passContext + "-token prompts", summary(ms), tokens
                                / (median(ms) / 1e3));
                printWarmup(out, warmups, warmupSeconds, "ms per pass " + settling.describe(), settling.settled());
            }
        }
        return 0;
    }

    /**
     * Pairs of (cold, warm) engine acquisitions in this JVM, each pair in a new temporary engine cache:
     * cold builds the engine there (a cache miss), warm loads it back (key, lock, checksum verification,
     * mapping). The first pair is reported apart: it pays this JVM's class loading and interpretation.
     */
    private int engineLoad() throws IOException {
        int warmupRuns = warmupRunsOr3();
        if (runs < 1 || warmupRuns < 0) {
            throw new IllegalArgumentException("--runs must be >= 1, --warmup-runs >= 0");
        }
        PrintWriter out = spec.commandLine().getOut();
        Path root = Files.createTempDirectory("trtllm-bench-engine-load-");
        double[] cold = new double[runs];
        double[] warm = new double[runs];
        double[] first = new double[2];
        try {
            for (int i = 0; i < warmupRuns + runs; i++) {
                var limits = new BuildCacheConfig(root.resolve("run-" + i), BuildCacheConfig.DEFAULT_MAX_RECORDS,
                        BuildCacheConfig.DEFAULT_MAX_SIZE_BYTES);
                LlmArgs args = engine.builder().buildCacheConfig(limits).build();
                double c = acquireMillis(args, EngineLoad.Kind.BUILT);
                double w = acquireMillis(args, EngineLoad.Kind.LOADED_FROM_CACHE);
                EngineBuilder.deleteTree(limits.cacheRoot()); // one engine on disk at a time (an 8B one is 15 GiB)
                if (i == 0) {
                    first[0] = c;
                    first[1] = w;
                }
                if (i >= warmupRuns) {
                    cold[i - warmupRuns] = c;
                    warm[i - warmupRuns] = w;
                }
            }
        } finally {
            EngineBuilder.deleteTree(root);
        }
        out.printf(Locale.ROOT, "engine: %s, backend %s, dtype %s, quantization %s%n", engine.model, engine.backend, engine.dtype,
                engine.quantization);
        out.printf(Locale.ROOT, "cold build: %s ms%n", summary(cold));
        out.printf(Locale.ROOT, "warm load: %s ms%n", summary(warm));
        out.printf(Locale.ROOT, "warm load is %.1fx faster than cold build (first pair in this JVM: %.1f vs %.1f ms, %.1fx)%n",
                median(cold) / median(warm), first[0], first[1], first[0] / first[1]);
        return 0;
    }

    /** Milliseconds to acquire (and release) the engine of {@code args}, checking it came as {@code expected}. */
    private static double acquireMillis(LlmArgs args, EngineLoad.Kind expected) {
        long start = System.nanoTime();
        try (EngineLease lease = LLM.acquireEngine(args)) {
            double ms = (System.nanoTime() - start) / 1e6;
            if (lease.load().kind() != expected) {
                throw new IllegalStateException("engine came " + lease.load().kind() + ", expected " + expected);
            }
            return ms;
        }
    }

    private int throughput() {
        if (numRequests < 1 || inputLen < 1 || outputLen < 1 || concurrency < 0
                || (warmupRequests != null && warmupRequests < 0)) {
            throw new IllegalArgumentException("--num-requests, --input-len and --output-len must be >= 1, "
                    + "--concurrency and --warmup-requests >= 0");
        }
        PrintWriter out = spec.commandLine().getOut();
        var args = engine.builder().kvCacheConfig(engine.kvCacheConfig(blockReuse)).build();
        try (var llm = new LLM(args)) {
            var tokenizer = llm.tokenizer();
            int vocab = Math.min(tokenizer.vocabSize(), llm.modelConfig().vocabSize());
            if (dataset == null && (long) inputLen + outputLen > llm.maxSeqLen()) { // before making the prompts
                throw new IllegalArgumentException("--input-len " + inputLen + " + --output-len " + outputLen
                        + " exceeds max_seq_len " + llm.maxSeqLen());
            }
            List<BenchDataset.Entry> entries = dataset != null
                    ? BenchDataset.read(dataset, tokenizer, vocab)
                    : BenchDataset.synthetic(numRequests, inputLen, outputLen, vocab, tokenizer::isSpecialToken, seed);
            ThroughputBench.check(entries, llm.maxSeqLen());
            int limit = concurrency == 0 ? entries.size() : Math.min(concurrency, entries.size());
            // Untimed: --warmup-requests, or rounds of `limit` requests for at least WARMUP_NANOS and until the last
            // rounds' output rates agree. One round is not enough at low concurrency: a single stream's round is a
            // fraction of a second, and a decode step's kernels were measured 30% slower while C2 was still compiling
            // them (docs/PERFORMANCE.md).
            int warmup = 0;
            var settling = new Settling(SETTLE_RUNS, SETTLE_TOLERANCE);
            long warmupStart = System.nanoTime();
            while (warmupRequests != null ? warmup < warmupRequests
                    : warmup == 0 || (!settling.settled() && System.nanoTime() - warmupStart < SETTLE_LIMIT_NANOS)
                    || System.nanoTime() - warmupStart < WARMUP_NANOS) {
                int from = warmup;
                int n = warmupRequests != null ? Math.min(limit, warmupRequests - warmup) : limit;
                var round = ThroughputBench.run(llm, java.util.stream.IntStream.range(from, from + n)
                        .mapToObj(i -> entries.get(i % entries.size())).toList(), limit);
                if (n == limit) { // a shorter last round of --warmup-requests is not comparable
                    settling.add(round.outputTokensPerSecond());
                }
                warmup += n;
            }
            double warmupSeconds = (System.nanoTime() - warmupStart) / 1e9;
            var summary = ThroughputBench.run(llm, entries, limit);
            printModel(out, llm);
            printWarmup(out, settling.count(), warmupSeconds, "rounds of " + limit + " requests: output tok/s "
                    + settling.describe(), settling.settled());
            summary.print(out);
            EngineOptions.printMemory(out);
            if (json != null) {
                var header = new ObjectMapper().createObjectNode();
                header.put("model", engine.model).put("backend", llm.backendDescription())
                        .put("dataset", dataset != null ? dataset.toString() : "synthetic")
                        .put("warmup_requests", warmup).put("enable_block_reuse", blockReuse)
                        .put("peak_heap_bytes", MemoryStats.peakHeapBytes()).put("peak_rss_bytes", MemoryStats.peakRssBytes());
                ThroughputBench.writeJson(json, summary, header);
            }
        }
        return 0;
    }

    private void printModel(PrintWriter out, LLM llm) {
        var c = llm.modelConfig();
        out.printf(Locale.ROOT, "model: %s (%s, %d layers, hidden %d), backend %s%n", engine.model, c.modelType(),
                c.numLayers(), c.hiddenSize(), llm.backendDescription());
    }

    private int latency() {
        if (runs < 1 || (warmupRuns != null && warmupRuns < 0) || maxTokens < 1 || prefillTokens < 1) {
            throw new IllegalArgumentException("--runs, --max-tokens and --prefill-tokens must be >= 1, --warmup-runs >= 0");
        }
        PrintWriter out = spec.commandLine().getOut();
        // Block reuse off: every run computes its whole prompt, as a first request would.
        if (beamWidth < 1 || (beamWidth > 1 && maxTokens < 2)) {
            throw new IllegalArgumentException("--beam-width must be >= 1, and --max-tokens >= 2 with it");
        }
        var args = engine.builder().kvCacheConfig(engine.kvCacheConfig(false)).maxBeamWidth(beamWidth).build();
        try (var llm = new LLM(args)) {
            var decode = SamplingParams.builder().maxTokens(maxTokens).temperature(0).ignoreEos(true).build();
            // Every beam run takes max_tokens steps: end tokens ignored, no early stopping.
            var beams = SamplingParams.builder().maxTokens(maxTokens).useBeamSearch(true).bestOf(beamWidth).n(1)
                    .ignoreEos(true).earlyStopping(2).build();
            int[] longPrompt = prefillPrompt(llm);
            var prefill = SamplingParams.greedy(1);
            // The first requests after construction, as a user's would meet the engine: reported apart.
            RequestMetrics firstPrefill = llm.generate(longPrompt, prefill).metrics();
            RequestMetrics firstDecode = llm.generate(prompt, decode).metrics();
            // Untimed: --warmup-runs, or until the last runs agree (or the warm-up time is spent).
            var decodeSettling = new Settling(SETTLE_RUNS, SETTLE_TOLERANCE);
            var prefillSettling = new Settling(SETTLE_RUNS, SETTLE_TOLERANCE);
            long warmupStart = System.nanoTime();
            int warmups = 0;
            while (warmupRuns != null ? warmups < warmupRuns : warmups < SETTLE_RUNS
                    || (!(decodeSettling.settled() && prefillSettling.settled())
                    && System.nanoTime() - warmupStart < SETTLE_LIMIT_NANOS)) {
                decodeSettling.add(llm.generate(prompt, decode).metrics().decodeTokensPerSecond());
                prefillSettling.add(llm.generate(longPrompt, prefill).metrics().prefillTokensPerSecond());
                if (beamWidth > 1) {
                    llm.generate(prompt, beams);
                }
                warmups++;
            }
            double warmupSeconds = (System.nanoTime() - warmupStart) / 1e9;
            RequestMetrics[] decodeRuns = new RequestMetrics[runs];
            RequestMetrics[] prefillRuns = new RequestMetrics[runs];
            double[] greedyStepMs = new double[runs];
            double[] beamStepMs = new double[runs];
            for (int i = 0; i < runs; i++) {
                decodeRuns[i] = llm.generate(prompt, decode).metrics();
                prefillRuns[i] = llm.generate(longPrompt, prefill).metrics();
                greedyStepMs[i] = stepMillis(decodeRuns[i]);
                if (beamWidth > 1) {
                    beamStepMs[i] = stepMillis(llm.generate(prompt, beams).metrics()); // interleaved: the same noise
                }
            }
            printModel(out, llm);
            EngineOptions.printLoad(out, llm);
            out.printf(Locale.ROOT, "decode: %s tok/s, %d tokens after a %d-token prompt%n",
                    summary(decodeRuns, RequestMetrics::decodeTokensPerSecond), maxTokens, decodeRuns[0].promptTokens());
            out.printf(Locale.ROOT, "prefill: %s tok/s, %d-token prompt%n",
                    summary(prefillRuns, RequestMetrics::prefillTokensPerSecond), longPrompt.length);
            if (beamWidth > 1) {
                out.println(beamSummary(beamWidth, beamStepMs, greedyStepMs, maxTokens - 1));
            }
            double warmDecode = median(Arrays.stream(decodeRuns).mapToDouble(RequestMetrics::decodeTokensPerSecond).toArray());
            double warmPrefill = median(Arrays.stream(prefillRuns).mapToDouble(RequestMetrics::prefillTokensPerSecond).toArray());
            out.printf(Locale.ROOT, "first requests after load: prefill %.1f tok/s (%.2fx the warm median), decode %.1f tok/s "
                    + "(%.2fx)%n", firstPrefill.prefillTokensPerSecond(), firstPrefill.prefillTokensPerSecond() / warmPrefill,
                    firstDecode.decodeTokensPerSecond(), firstDecode.decodeTokensPerSecond() / warmDecode);
            printWarmup(out, warmups, warmupSeconds, "decode " + decodeSettling.describe() + ", prefill "
                    + prefillSettling.describe(), decodeSettling.settled() && prefillSettling.settled());
            EngineOptions.printMemory(out);
        }
        return 0;
    }

    /**
     * The beam line of {@code --latency}: beam and greedy milliseconds per step (steps of ≈ 1 ms: three decimals) and
     * their ratio, as the median of each run's ratio against the greedy run just before it (the same minute's noise),
     * with the ratio of the medians beside it.
     */
    static String beamSummary(int beamWidth, double[] beamStepMs, double[] greedyStepMs, int steps) {
        double[] ratios = new double[beamStepMs.length];
        for (int i = 0; i < ratios.length; i++) {
            ratios[i] = beamStepMs[i] / greedyStepMs[i];
        }
        return String.format(Locale.ROOT, "beam search width %d: %s ms per step; greedy %s ms per step; %.3fx greedy "
                + "(median of the runs' ratios, min %.3fx, max %.3fx; ratio of the medians %.3fx; %d steps after the "
                + "first token)", beamWidth, summary(beamStepMs, 3), summary(greedyStepMs, 3), median(ratios), min(ratios),
                max(ratios), median(beamStepMs) / median(greedyStepMs), steps);
    }

    /** Milliseconds per decode step after the first token: every step of a beam search decodes all its beams. */
    private double stepMillis(RequestMetrics m) {
        return (m.finishNanos() - m.firstTokenNanos()) / 1e6 / (maxTokens - 1);
    }

    private int warmupRunsOr3() {
        return warmupRuns != null ? warmupRuns : 3;
    }

    /** One line on the warm-up; when its figures did not settle, a loud one on stderr as well. */
    private void printWarmup(PrintWriter out, int warmups, double seconds, String how, boolean settled) {
        out.printf(Locale.ROOT, "warm-up: %d runs in %.1f s, %s%n", warmups, seconds, how);
        if (!settled) {
            var err = spec.commandLine().getErr();
            err.printf(Locale.ROOT, "WARNING: the warm-up figures did not settle within %d s: the results below may be a cold "
                    + "JIT's or a busy machine's, not the engine's%n", SETTLE_LIMIT_NANOS / 1_000_000_000L);
            err.flush();
        }
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

    private static String summary(RequestMetrics[] runs, ToDoubleFunction<RequestMetrics> f) {
        return summary(Arrays.stream(runs).mapToDouble(f).toArray());
    }

    private static String summary(double[] values) {
        return summary(values, 1);
    }

    /** Median, count, min and max of {@code values}, each with {@code decimals} decimals. */
    private static String summary(double[] values, int decimals) {
        double[] v = values.clone();
        Arrays.sort(v);
        String f = "%." + decimals + "f";
        return String.format(Locale.ROOT, "median " + f + " of %d runs (min " + f + ", max " + f + ")", median(v), v.length, v[0],
                v[v.length - 1]);
    }

    private static double min(double[] values) {
        return Arrays.stream(values).min().orElseThrow();
    }

    private static double max(double[] values) {
        return Arrays.stream(values).max().orElseThrow();
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return ThroughputBench.Distribution.percentile(v, 50);
    }
}
