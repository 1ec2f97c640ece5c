package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trtllm.api.LLM;
import io.trtllm.model.CacheDirectory;
import io.trtllm.model.builtin.BuiltinModels;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Issue 13's closing check: the sample app with an API key and a chat template that a hostile checkpoint
 * could carry takes 1,000 bad requests of every kind the hardening covers, mixed and eight at a time —
 * broken and absurd JSON, sizes up to 2^31 - 1 and beyond, template code in messages, runaway and
 * file-reading templates, wrong content types, missing and wrong keys, cross-site posts, bodies over the
 * limit, token ids outside the vocabulary, prompts beyond max_seq_len, bad chat-endpoint values, clients
 * that hang up mid-stream — with a valid request every tenth, which must still be answered in full.
 *
 * <p>Each answer has its expected status; the engine stays alive after each request and both probes
 * stay UP after each batch; at the end no KV block is held, nothing runs or waits, and neither the
 * live threads nor the heap after a collection have grown between the first 200 requests (the
 * warm-up, when pools and caches fill) and the last.
 */
class HostileInputSoakIT {
    private static final String KEY = "sk-soak";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int REQUESTS = 1000;
    private static final int WARM_UP = 200;
    private static final int CONCURRENCY = 8;

    private static ConfigurableApplicationContext app;
    private static LLM llm;
    private static String base;

    @BeforeAll
    static void start() throws IOException {
        app = new SpringApplicationBuilder(SampleApplication.class)
                .properties("server.port=0", "spring.main.banner-mode=off", "trtllm.openai.api-key=" + KEY,
                        "trtllm.tokenizer=" + tokenizerWithHostileTemplate(), "trtllm.max-queue-size=64")
                .run();
        llm = app.getBean(LLM.class);
        base = "http://localhost:" + ((WebServerApplicationContext) app).getWebServer().getPort();
    }

    @AfterAll
    static void stop() {
        if (app != null) {
            app.close();
        }
    }

    /** stories15M's tokenizer with the template of {@link ChatTemplateEndpointsIT#HOSTILE_CHECKPOINT}. */
    private static String tokenizerWithHostileTemplate() throws IOException {
        Path model = BuiltinModels.resolve("stories15M", CacheDirectory.resolve(null));
        Path dir = Files.createDirectories(Path.of("target", "test-models", "stories15M-soak")).toAbsolutePath();
        Files.copy(model.resolve("tokenizer.json"), dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        ObjectNode config = (ObjectNode) JSON.readTree(model.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", ChatTemplateEndpointsIT.HOSTILE_CHECKPOINT);
        JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        return dir.toString();
    }

    /** One kind of request: how to send it and which statuses may answer it. */
    record Case(String name, String method, String path, String contentType, String body, boolean key,
                Map<String, String> headers, Set<Integer> expected) {
    }

    private static Case post(String name, String path, String body, Integer... expected) {
        return new Case(name, "POST", path, "application/json", body, true, Map.of(), Set.of(expected));
    }

    private static String chat(String content, String extra) {
        try {
            return "{\"messages\": [{\"role\": \"user\", \"content\": " + JSON.writeValueAsString(content) + "}]"
                    + (extra.isEmpty() ? "" : ", " + extra) + "}";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The bad requests, cycled through; the hostile-template ones are rare (each renders up to its 5 s limit). */
    private static List<Case> badCases() {
        String longPrompt = "Once upon a time there was a cat. ".repeat(200);
        List<Case> cases = new ArrayList<>(List.of(
                post("broken JSON", "/v1/chat/completions", "{\"messages\": [", 400),
                post("not an object", "/v1/completions", "[1, 2, 3]", 400),
                post("max_tokens 2^31-1", "/v1/chat/completions", chat("Hi", "\"max_tokens\": 2147483647"), 400),
                post("max_tokens 2^31", "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2147483648}", 400),
                post("max_tokens -1", "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": -1}", 400),
                post("max_tokens 1e20", "/v1/chat/completions", chat("Hi", "\"max_tokens\": 1e20"), 400),
                post("max_tokens text", "/v1/chat/completions", chat("Hi", "\"max_tokens\": \"abc\""), 400),
                post("n 1e9", "/v1/completions", "{\"prompt\": \"Hi\", \"n\": 1000000000, \"max_tokens\": 2}", 400),
                post("best_of 2^31-1", "/v1/completions", "{\"prompt\": \"Hi\", \"best_of\": 2147483647, \"max_tokens\": 2}", 400),
                post("logprobs huge", "/v1/completions", "{\"prompt\": \"Hi\", \"logprobs\": 2147483647, \"max_tokens\": 2}", 400),
                post("top_logprobs huge", "/v1/chat/completions",
                        chat("Hi", "\"logprobs\": true, \"top_logprobs\": 100000, \"max_tokens\": 2"), 400),
                post("temperature 1e308", "/v1/chat/completions", chat("Hi", "\"temperature\": 1e308"), 400),
                post("temperature -1", "/v1/chat/completions", chat("Hi", "\"temperature\": -1"), 400),
                post("token id out of range", "/v1/completions", "{\"prompt\": [1, 999999], \"max_tokens\": 2}", 400),
                post("negative token id", "/v1/completions", "{\"prompt\": [1, -5], \"max_tokens\": 2}", 400),
                post("prompt beyond max_seq_len", "/v1/completions",
                        "{\"prompt\": " + quote(longPrompt) + ", \"max_tokens\": 2}", 400),
                post("template code in a message", "/v1/chat/completions",
                        chat("{{ 6*7 }}", "\"max_tokens\": 2, \"temperature\": 0"), 200),
                post("include in a message", "/v1/chat/completions",
                        chat("{% include 'application.yml' %}", "\"max_tokens\": 2, \"temperature\": 0"), 200),
                post("nested ranges in a message", "/v1/chat/completions",
                        chat(ChatTemplateEndpointsIT.NESTED_RANGES, "\"max_tokens\": 2, \"temperature\": 0"), 200),
                post("unknown role", "/v1/chat/completions",
                        "{\"messages\": [{\"role\": \"wizard\", \"content\": \"Hi\"}]}", 400),
                post("tools", "/v1/chat/completions", chat("Hi", "\"tools\": 42"), 400),
                post("body over the limit", "/v1/completions",
                        "{\"prompt\": " + quote("x".repeat(300_000)) + "}", 413),
                post("api/chat maxTokens -5", "/api/chat", "{\"message\": \"Hi\", \"maxTokens\": -5}", 400),
                post("api/chat maxTokens 2^31-1", "/api/chat", "{\"message\": \"Hi\", \"maxTokens\": 2147483647}", 400),
                post("api/chat temperature 1e308", "/api/chat", "{\"message\": \"Hi\", \"temperature\": 1e308}", 400),
                post("api/chat no message", "/api/chat", "{\"temperature\": 0}", 400),
                post("api/chat message over max_seq_len", "/api/chat",
                        "{\"message\": " + quote(longPrompt) + ", \"maxTokens\": 2}", 400),
                new Case("text/plain body", "POST", "/v1/chat/completions", "text/plain", chat("Hi", ""), true, Map.of(),
                        Set.of(415)),
                new Case("form body", "POST", "/api/chat", "application/x-www-form-urlencoded", "message=Hi", true,
                        Map.of(), Set.of(415)),
                new Case("no key", "POST", "/v1/chat/completions", "application/json", chat("Hi", ""), false, Map.of(),
                        Set.of(401)),
                new Case("wrong key", "POST", "/v1/completions", "application/json", "{\"prompt\": \"Hi\"}", true,
                        Map.of("Authorization", "Bearer sk-wrong"), Set.of(401)),
                new Case("cross-site post", "POST", "/v1/chat/completions", "application/json",
                        chat("Hi", "\"max_tokens\": 2"), true, Map.of("Origin", "https://evil.example"), Set.of(403)),
                new Case("unknown path", "GET", "/v1/nothing", null, null, true, Map.of(), Set.of(404)),
                new Case("stream, hung up", "POST", "/v1/completions", "application/json",
                        "{\"prompt\": \"Once upon a time\", \"max_tokens\": 200, \"ignore_eos\": true, \"stream\": true}",
                        true, Map.of(), Set.of(200))));
        return cases;
    }

    private static final List<Case> HOSTILE_TEMPLATE = List.of(
            post("template that reads a file", "/v1/chat/completions", chat("hostile: include", "\"max_tokens\": 2"), 500),
            post("runaway template", "/v1/chat/completions", chat("hostile: silent", "\"max_tokens\": 2"), 400),
            post("runaway template, api/chat", "/api/chat", "{\"message\": \"hostile: loop\", \"maxTokens\": 2}", 400));

    private static final Case VALID = post("valid", "/v1/chat/completions",
            chat("Once upon a time", "\"max_tokens\": 4, \"temperature\": 0, \"ignore_eos\": true"), 200);

    private static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aThousandBadRequestsLeaveTheServerHealthyWithNothingHeldAndNothingGrown() throws Exception {
        List<Case> bad = badCases();
        Map<String, AtomicInteger> seen = new ConcurrentHashMap<>();
        Footprint warm = null;
        try (ExecutorService clients = Executors.newFixedThreadPool(CONCURRENCY)) {
            for (int batch = 0; batch < REQUESTS; batch += 50) {
                List<Future<?>> sent = new ArrayList<>();
                for (int i = batch; i < batch + 50; i++) {
                    Case c = i % 10 == 9 ? VALID
                            : i % 97 == 13 ? HOSTILE_TEMPLATE.get(i / 97 % HOSTILE_TEMPLATE.size())
                            : bad.get(i % bad.size());
                    sent.add(clients.submit(() -> {
                        send(c);
                        seen.computeIfAbsent(c.name(), k -> new AtomicInteger()).incrementAndGet();
                        // One bad request fails itself, never the engine.
                        assertThat(llm.failure()).as("after %s", c.name()).isNull();
                        return null;
                    }));
                }
                for (Future<?> f : sent) {
                    f.get();
                }
                assertProbesUp();
                if (batch + 50 == WARM_UP) {
                    warm = footprint();
                }
            }
        }
        assertThat(seen.keySet()).as("every kind of request was sent").containsAll(bad.stream().map(Case::name).toList())
                .containsAll(HOSTILE_TEMPLATE.stream().map(Case::name).toList());
        assertThat(seen.get(VALID.name()).get()).isEqualTo(REQUESTS / 10);

        awaitIdle();
        var stats = llm.stats();
        assertThat(stats.kvCache().usedBlocks()).as("KV blocks held").isZero();
        assertThat(stats.running() + stats.waiting()).as("requests in the engine").isZero();
        assertThat(stats.alive()).isTrue();

        Footprint end = footprint();
        // Pools that grow lazily have grown during the warm-up; after it nothing may grow with the requests.
        assertThat(end.threads()).as("live threads: warm %s, end %s", warm, end).isLessThanOrEqualTo(warm.threads() + 8);
        assertThat(end.heapBytes()).as("heap after a collection: warm %s, end %s", warm, end)
                .isLessThanOrEqualTo(warm.heapBytes() + 48L * 1024 * 1024);
        System.out.printf("soak: %d requests, warm %s, end %s, kinds %s%n", REQUESTS, warm, end, new java.util.TreeMap<>(seen));
    }

    private static void send(Case c) throws IOException, InterruptedException {
        var builder = HttpRequest.newBuilder(URI.create(base + c.path())).timeout(Duration.ofSeconds(60));
        if (c.key()) {
            builder.header("Authorization", "Bearer " + KEY);
        }
        c.headers().forEach(builder::setHeader);
        if (c.contentType() != null) {
            builder.header("Content-Type", c.contentType());
        }
        builder.method(c.method(), c.body() == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(c.body()));
        // A connection of its own per request (see OpenAiSchemaPropertyIT.client on Reactor Netty #4361).
        try (HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build()) {
            if (c.name().equals("stream, hung up")) {
                // Read the first event, then hang up: the engine must abort the request and free its blocks.
                HttpResponse<InputStream> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofInputStream());
                assertThat(response.statusCode()).as(c.name()).isEqualTo(200);
                try (InputStream in = response.body()) {
                    assertThat(in.read(new byte[64])).isPositive();
                }
                return;
            }
            HttpResponse<String> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as("%s: %s", c.name(), response.body()).isIn(c.expected());
            String body = response.body();
            for (String leak : List.of("Exception", "\tat ", "io.trtllm.", "/root", "/tmp/", ".cache/trtllm", "target/")) {
                assertThat(body).as("%s leaks %s", c.name(), leak).doesNotContain(leak);
            }
            if (c == VALID) {
                assertThat(JSON.readTree(body).path("usage").path("completion_tokens").asInt()).isEqualTo(4);
            }
        }
    }

    private static void assertProbesUp() throws IOException, InterruptedException {
        try (HttpClient http = HttpClient.newHttpClient()) {
            for (String probe : List.of("/actuator/health/liveness", "/actuator/health/readiness")) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + probe)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(probe).isEqualTo(200);
                assertThat(JSON.readTree(r.body()).path("status").asText()).as(probe).isEqualTo("UP");
            }
        }
    }

    private static void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000; i++) {
            var stats = llm.stats();
            if (stats.running() == 0 && stats.waiting() == 0 && stats.kvCache().usedBlocks() == 0) {
                return;
            }
            Thread.sleep(10);
        }
    }

    /** Live threads and heap in use after a full collection (the JVM's own counts). */
    record Footprint(int threads, long heapBytes) {
        @Override
        public String toString() {
            return threads + " threads, " + heapBytes / (1024 * 1024) + " MiB heap";
        }
    }

    private static Footprint footprint() throws InterruptedException {
        awaitIdle();
        Thread.sleep(500); // let connection handlers and per-request tasks finish
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return new Footprint(ManagementFactory.getThreadMXBean().getThreadCount(),
                ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
}
