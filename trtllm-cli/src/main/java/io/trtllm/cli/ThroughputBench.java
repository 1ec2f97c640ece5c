package io.trtllm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.LLM;
import io.trtllm.api.RequestOutput;
import io.trtllm.api.SamplingParams;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * A {@code trtllm-bench throughput}-style run: the dataset's requests are streamed through one
 * {@link LLM} with at most {@code concurrency} in flight (a new one starts as soon as one ends), greedy,
 * ignoring end-of-sequence so that each generates exactly its {@code output_tokens}. Latencies are
 * measured where a caller sees them: from submission to each streamed token.
 */
final class ThroughputBench {
    /** What one request saw: token counts and, in nanoseconds, time to first token, total time and the gaps between tokens. */
    record RequestResult(int inputTokens, int outputTokens, long ttftNanos, long e2eNanos, double[] interTokenNanos) {
        /** Mean time per output token after the first, or NaN for a one-token request. */
        double tpotNanos() {
            return outputTokens > 1 ? (double) (e2eNanos - ttftNanos) / (outputTokens - 1) : Double.NaN;
        }
    }

    /** Average and percentiles (linear interpolation between closest ranks, as numpy's default) in milliseconds. */
    record Distribution(double avg, double p50, double p90, double p99, double min, double max) {
        static Distribution ofNanos(double[] nanos) {
            double[] ms = Arrays.stream(nanos).filter(v -> !Double.isNaN(v)).map(v -> v / 1e6).sorted().toArray();
            if (ms.length == 0) {
                return new Distribution(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            }
            return new Distribution(Arrays.stream(ms).average().orElseThrow(), percentile(ms, 50), percentile(ms, 90),
                    percentile(ms, 99), ms[0], ms[ms.length - 1]);
        }

        static double percentile(double[] sorted, double p) {
            double rank = p / 100 * (sorted.length - 1);
            int lo = (int) Math.floor(rank);
            int hi = Math.min(lo + 1, sorted.length - 1);
            return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
        }

        String line(String name) {
            return String.format(Locale.ROOT, "%s ms: avg %.2f, p50 %.2f, p90 %.2f, p99 %.2f (min %.2f, max %.2f)", name, avg,
                    p50, p90, p99, min, max);
        }

        ObjectNode json(ObjectMapper mapper) {
            ObjectNode n = mapper.createObjectNode();
            n.put("avg", avg).put("p50", p50).put("p90", p90).put("p99", p99).put("min", min).put("max", max);
            return n;
        }
    }

    /** The run's figures. */
    record Summary(int requests, int concurrency, long totalInputTokens, long totalOutputTokens, double totalSeconds,
                   Distribution ttft, Distribution tpot, Distribution itl, Distribution e2e) {
        double requestThroughput() {
            return requests / totalSeconds;
        }

        double outputTokensPerSecond() {
            return totalOutputTokens / totalSeconds;
        }

        double totalTokensPerSecond() {
            return (totalInputTokens + totalOutputTokens) / totalSeconds;
        }

        /** Decode speed one stream sees: 1000 / mean TPOT. */
        double perStreamTokensPerSecond() {
            return 1000 / tpot.avg();
        }

        static Summary of(List<RequestResult> results, int concurrency, long totalNanos) {
            var itl = new ArrayList<Double>();
            for (var r : results) {
                for (double g : r.interTokenNanos()) {
                    itl.add(g);
                }
            }
            return new Summary(results.size(), concurrency,
                    results.stream().mapToLong(RequestResult::inputTokens).sum(),
                    results.stream().mapToLong(RequestResult::outputTokens).sum(), totalNanos / 1e9,
                    Distribution.ofNanos(results.stream().mapToDouble(RequestResult::ttftNanos).toArray()),
                    Distribution.ofNanos(results.stream().mapToDouble(RequestResult::tpotNanos).toArray()),
                    Distribution.ofNanos(itl.stream().mapToDouble(Double::doubleValue).toArray()),
                    Distribution.ofNanos(results.stream().mapToDouble(RequestResult::e2eNanos).toArray()));
        }

        void print(PrintWriter out) {
            out.printf(Locale.ROOT, "requests: %d at concurrency %d, %.1f input and %.1f output tokens per request (avg)%n",
                    requests, concurrency, (double) totalInputTokens / requests, (double) totalOutputTokens / requests);
            out.printf(Locale.ROOT, "total time: %.3f s%n", totalSeconds);
            out.printf(Locale.ROOT, "request throughput: %.2f req/s%n", requestThroughput());
            out.printf(Locale.ROOT, "output tokens/s: %.1f%n", outputTokensPerSecond());
            out.printf(Locale.ROOT, "total tokens/s: %.1f%n", totalTokensPerSecond());
            out.printf(Locale.ROOT, "per-stream decode: %.1f tok/s%n", perStreamTokensPerSecond());
            out.println(ttft.line("TTFT"));
            out.println(tpot.line("TPOT"));
            out.println(itl.line("ITL"));
            out.println(e2e.line("E2E latency"));
        }

        ObjectNode json(ObjectMapper mapper) {
            ObjectNode n = mapper.createObjectNode();
            n.put("num_requests", requests).put("concurrency", concurrency)
                    .put("total_input_tokens", totalInputTokens).put("total_output_tokens", totalOutputTokens)
                    .put("total_time_s", totalSeconds).put("request_throughput", requestThroughput())
                    .put("output_tokens_per_second", outputTokensPerSecond())
                    .put("total_tokens_per_second", totalTokensPerSecond())
                    .put("per_stream_output_tokens_per_second", perStreamTokensPerSecond());
            n.set("ttft_ms", ttft.json(mapper));
            n.set("tpot_ms", tpot.json(mapper));
            n.set("itl_ms", itl.json(mapper));
            n.set("e2e_ms", e2e.json(mapper));
            return n;
        }
    }

    private ThroughputBench() {
    }

    /** Checks every request fits the engine before anything runs. */
    static void check(List<BenchDataset.Entry> entries, int maxSeqLen) {
        for (var e : entries) {
            if ((long) e.inputIds().length + e.outputTokens() > maxSeqLen) { // output_tokens may be up to 2^31 - 1
                throw new IllegalArgumentException("request task_id " + e.taskId() + ": " + e.inputIds().length
                        + " input + " + e.outputTokens() + " output tokens exceed max_seq_len " + maxSeqLen);
            }
        }
    }

    /** Runs every entry with at most {@code concurrency} in flight; fails with the first request's failure. */
    static Summary run(LLM llm, List<BenchDataset.Entry> entries, int concurrency) {
        var permits = new Semaphore(concurrency);
        var done = new CountDownLatch(entries.size());
        var failure = new AtomicReference<@Nullable Throwable>();
        var results = new RequestResult[entries.size()];
        long start = System.nanoTime();
        int submitted = 0;
        try {
            for (int i = 0; i < entries.size() && failure.get() == null; i++) {
                permits.acquire();
                var e = entries.get(i);
                var params = SamplingParams.builder().maxTokens(e.outputTokens()).temperature(0).ignoreEos(true).build();
                int index = i;
                llm.generateStream(e.inputIds(), params).subscribe(new Recorder(e.inputIds().length, r -> {
                    results[index] = r;
                    permits.release();
                    done.countDown();
                }, t -> {
                    failure.compareAndSet(null, t);
                    permits.release();
                    done.countDown();
                }));
                submitted++;
            }
            for (int i = submitted; i < entries.size(); i++) {
                done.countDown();
            }
            done.await();
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("benchmark interrupted", ex);
        }
        long elapsed = System.nanoTime() - start;
        Throwable t = failure.get();
        if (t != null) {
            throw new IllegalStateException("a benchmark request failed: " + t.getMessage(), t);
        }
        return Summary.of(Arrays.asList(results), concurrency, elapsed);
    }

    /** Writes the summary (and what ran) as JSON, atomically: a temporary file moved into place. */
    static void writeJson(Path file, Summary summary, ObjectNode header) {
        var mapper = new ObjectMapper();
        ObjectNode root = header.deepCopy();
        root.setAll(summary.json(mapper));
        Path absolute = file.toAbsolutePath();
        Path tmp = null;
        try {
            Files.createDirectories(absolute.getParent());
            tmp = Files.createTempFile(absolute.getParent(), "." + absolute.getFileName(), ".tmp");
            mapper.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), root);
            Files.move(tmp, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original failure is the one to report
                }
            }
            throw new UncheckedIOException("cannot write --json file '" + file + "'", e);
        }
    }

    /** Subscribes to one request's stream and times its tokens. */
    private static final class Recorder implements Flow.Subscriber<RequestOutput> {
        private final int inputTokens;
        private final java.util.function.Consumer<RequestResult> onDone;
        private final java.util.function.Consumer<Throwable> onFailure;
        private final long submitted = System.nanoTime();
        private final List<Double> gaps = new ArrayList<>();
        private long first;
        private long last;
        private int tokens;

        Recorder(int inputTokens, java.util.function.Consumer<RequestResult> onDone,
                 java.util.function.Consumer<Throwable> onFailure) {
            this.inputTokens = inputTokens;
            this.onDone = onDone;
            this.onFailure = onFailure;
        }

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            subscription.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(RequestOutput item) {
            int k = item.output().tokenIdsDiff().length;
            if (k == 0) {
                return;
            }
            long now = System.nanoTime();
            if (tokens == 0) {
                first = now;
                for (int i = 1; i < k; i++) {
                    gaps.add(0.0);
                }
            } else {
                // Tokens that arrive together share the gap since the previous arrival.
                for (int i = 0; i < k; i++) {
                    gaps.add((double) (now - last) / k);
                }
            }
            tokens += k;
            last = now;
        }

        @Override
        public void onError(Throwable throwable) {
            onFailure.accept(throwable);
        }

        @Override
        public void onComplete() {
            long now = System.nanoTime();
            onDone.accept(new RequestResult(inputTokens, tokens, (tokens > 0 ? first : now) - submitted, now - submitted,
                    gaps.stream().mapToDouble(Double::doubleValue).toArray()));
        }
    }
}
