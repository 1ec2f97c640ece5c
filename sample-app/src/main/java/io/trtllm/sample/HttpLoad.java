package io.trtllm.sample;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * An HTTP load generator for the OpenAI-compatible API, shaped like {@code ./trtllm bench}: requests of
 * {@code --input-len} random token ids each ({@code --seed}), greedy, end-of-sequence ignored so each
 * generates exactly {@code --output-len} tokens, at most {@code --concurrency} streaming clients at
 * once, after an untimed warm-up round. Each client sends {@code POST /completions} with
 * {@code "stream": true} and reads the server-sent events as they come; output tokens are the
 * {@code usage.completion_tokens} of each stream's usage chunk.
 *
 * <p>JDK only, so it also runs as a single source file:
 * {@code java sample-app/src/main/java/io/trtllm/sample/HttpLoad.java --url http://localhost:8080/v1 --concurrency 64 --num-requests 128}
 */
public final class HttpLoad {
    private static final Pattern COMPLETION_TOKENS = Pattern.compile("\"completion_tokens\":(\\d+)");

    private record Result(long startNanos, long firstTokenNanos, long endNanos, int outputTokens, int chunks) {
    }

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final URI completions;
    private final String apiKey;

    private HttpLoad(String url, String apiKey) {
        this.completions = URI.create(url.replaceAll("/+$", "") + "/completions");
        this.apiKey = apiKey;
    }

    public static void main(String[] args) throws Exception {
        String url = "http://localhost:8080/v1";
        String apiKey = "";
        int concurrency = 64;
        int numRequests = 128;
        int inputLen = 128;
        int outputLen = 128;
        int vocabSize = 32000;
        int firstId = 3; // stories15M: 0-2 are <unk>, <s>, </s>
        long seed = 0;
        Integer warmup = null;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : "";
            switch (args[i]) {
                case "--url" -> url = value;
                case "--api-key" -> apiKey = value;
                case "--concurrency" -> concurrency = Integer.parseInt(value);
                case "--num-requests" -> numRequests = Integer.parseInt(value);
                case "--input-len" -> inputLen = Integer.parseInt(value);
                case "--output-len" -> outputLen = Integer.parseInt(value);
                case "--vocab-size" -> vocabSize = Integer.parseInt(value);
                case "--first-token-id" -> firstId = Integer.parseInt(value);
                case "--seed" -> seed = Long.parseLong(value);
                case "--warmup-requests" -> warmup = Integer.parseInt(value);
                default -> {
                    System.err.println("unknown option " + args[i] + "; options: --url --api-key --concurrency "
                            + "--num-requests --input-len --output-len --vocab-size --first-token-id --seed --warmup-requests");
                    System.exit(2);
                }
            }
            i++;
        }
        if (concurrency < 1 || numRequests < 1 || inputLen < 1 || outputLen < 1 || firstId >= vocabSize) {
            throw new IllegalArgumentException("--concurrency, --num-requests, --input-len and --output-len must be >= 1");
        }
        var random = new SplittableRandom(seed);
        List<String> bodies = new ArrayList<>();
        for (int r = 0; r < numRequests; r++) {
            StringBuilder ids = new StringBuilder();
            for (int t = 0; t < inputLen; t++) {
                ids.append(t == 0 ? "" : ",").append(firstId + random.nextInt(vocabSize - firstId));
            }
            bodies.add("{\"prompt\":[" + ids + "],\"max_tokens\":" + outputLen + ",\"temperature\":0,\"ignore_eos\":true,"
                    + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        }
        var load = new HttpLoad(url, apiKey);
        int warmupRequests = warmup != null ? warmup : Math.min(concurrency, numRequests);
        if (warmupRequests > 0) {
            load.run(bodies.subList(0, Math.min(warmupRequests, bodies.size())), concurrency);
        }
        long start = System.nanoTime();
        List<Result> results = load.run(bodies, concurrency);
        long end = System.nanoTime();
        report(results, start, end, concurrency, inputLen, outputLen);
    }

    private List<Result> run(List<String> bodies, int concurrency) throws Exception {
        var slots = new Semaphore(concurrency);
        List<Future<Result>> futures = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (String body : bodies) {
                slots.acquire();
                futures.add(clients.submit(() -> {
                    try {
                        return request(body);
                    } finally {
                        slots.release();
                    }
                }));
            }
            List<Result> results = new ArrayList<>();
            for (Future<Result> f : futures) {
                results.add(f.get());
            }
            return results;
        }
    }

    private Result request(String body) throws IOException, InterruptedException {
        var builder = HttpRequest.newBuilder(completions).timeout(Duration.ofMinutes(10))
                .header("Content-Type", "application/json").header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (!apiKey.isEmpty()) {
            builder.header("Authorization", "Bearer " + apiKey);
        }
        long start = System.nanoTime();
        HttpResponse<Stream<String>> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofLines());
        if (response.statusCode() != 200) {
            String error;
            try (Stream<String> lines = response.body()) {
                error = String.join("\n", lines.toList());
            }
            throw new IOException("HTTP " + response.statusCode() + ": " + error);
        }
        long firstToken = 0;
        int chunks = 0;
        int outputTokens = -1;
        boolean done = false;
        try (Stream<String> lines = response.body()) {
            for (String line : (Iterable<String>) lines::iterator) {
                if (!line.startsWith("data: ")) {
                    continue;
                }
                String data = line.substring(6);
                if (data.equals("[DONE]")) {
                    done = true;
                } else if (data.contains("\"usage\":{")) {
                    Matcher m = COMPLETION_TOKENS.matcher(data);
                    if (m.find()) {
                        outputTokens = Integer.parseInt(m.group(1));
                    }
                } else if (data.startsWith("{\"error\"")) {
                    throw new IOException("error event: " + data);
                } else {
                    if (chunks++ == 0) {
                        firstToken = System.nanoTime();
                    }
                }
            }
        }
        if (!done || outputTokens < 0) {
            throw new IOException("the stream ended without its usage chunk or [DONE]");
        }
        return new Result(start, firstToken, System.nanoTime(), outputTokens, chunks);
    }

    private static void report(List<Result> results, long start, long end, int concurrency, int inputLen, int outputLen) {
        double seconds = (end - start) / 1e9;
        long outputTokens = results.stream().mapToLong(Result::outputTokens).sum();
        double[] ttft = results.stream().mapToDouble(r -> (r.firstTokenNanos() - r.startNanos()) / 1e6).sorted().toArray();
        double[] e2e = results.stream().mapToDouble(r -> (r.endNanos() - r.startNanos()) / 1e6).sorted().toArray();
        double[] tpot = results.stream().filter(r -> r.outputTokens() > 1)
                .mapToDouble(r -> (r.endNanos() - r.firstTokenNanos()) / 1e6 / (r.outputTokens() - 1)).sorted().toArray();
        System.out.printf(Locale.ROOT, "requests: %d (concurrency %d, input %d, output %d tokens) over HTTP streaming%n",
                results.size(), concurrency, inputLen, outputLen);
        System.out.printf(Locale.ROOT, "duration: %.2f s%n", seconds);
        System.out.printf(Locale.ROOT, "request throughput: %.2f req/s%n", results.size() / seconds);
        System.out.printf(Locale.ROOT, "output tokens/s: %.1f%n", outputTokens / seconds);
        System.out.printf(Locale.ROOT, "total tokens/s: %.1f%n", (outputTokens + (long) results.size() * inputLen) / seconds);
        System.out.printf(Locale.ROOT, "SSE chunks: %d%n", results.stream().mapToLong(Result::chunks).sum());
        line("TTFT ms", ttft);
        line("TPOT ms", tpot);
        line("E2E ms", e2e);
    }

    private static void line(String name, double[] sorted) {
        System.out.printf(Locale.ROOT, "%s: avg %.1f, p50 %.1f, p90 %.1f, p99 %.1f%n", name,
                Arrays.stream(sorted).average().orElse(0), pct(sorted, 50), pct(sorted, 90), pct(sorted, 99));
    }

    private static double pct(double[] sorted, int p) {
        if (sorted.length == 0) {
            return 0;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1)];
    }
}
