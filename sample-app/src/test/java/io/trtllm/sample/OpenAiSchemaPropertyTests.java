package io.trtllm.sample;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.LLM;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Property tests over the OpenAI request schema: arbitrary JSON for each field of
 * {@code /v1/chat/completions} and {@code /v1/completions} (wrong types, extremes, huge strings and
 * arrays, nested garbage, unpaired surrogates and other unicode, missing fields, unknown fields,
 * numbers no double holds, bodies that are not JSON or not sent as JSON). Whatever comes in, the answer
 * is a 200 or a well-formed OpenAI-shaped 4xx, never a 5xx, and never carries a stack trace, a class
 * name or a server path; after each request the engine is healthy, idle and holds no KV block.
 *
 * <p>The sample app runs once for all tries (jqwik does not run Spring's test context), with an API
 * key, and replies of at most 8 tokens so that the tries that do generate stay quick.
 */
class OpenAiSchemaPropertyTests {
    private static final String KEY = "sk-property-tests";
    private static final ObjectMapper JSON = new ObjectMapper();
    /** What an answer must never contain, unless the request itself did (an echo is the client's own text). */
    private static final List<String> LEAKS = List.of("Exception", "\tat ", "java.", "javax.", "io.trtllm", "jdk.",
            "org.springframework", "tools.jackson", "com.fasterxml", "/root", "/home/", "/tmp/", ".cache/trtllm",
            "stories15M/", "Caused by");

    private static ConfigurableApplicationContext app;
    private static LLM llm;
    private static String base;

    @BeforeContainer
    static void start() {
        app = new SpringApplicationBuilder(SampleApplication.class)
                .properties("server.port=0", "spring.main.banner-mode=off", "trtllm.openai.api-key=" + KEY,
                        "trtllm.chat.options.max-tokens=8")
                .run();
        llm = app.getBean(LLM.class);
        base = "http://localhost:" + ((WebServerApplicationContext) app).getWebServer().getPort();
    }

    @AfterContainer
    static void stop() {
        if (app != null) {
            app.close();
        }
    }

    // ---- properties ----

    @Property(tries = 200, shrinking = ShrinkingMode.BOUNDED, edgeCases = EdgeCasesMode.NONE)
    void chatCompletionsAnswerEveryBodyWithA200OrAnOpenAi4xx(@ForAll("chatBodies") Body body) throws Exception {
        check("/v1/chat/completions", body);
    }

    @Property(tries = 200, shrinking = ShrinkingMode.BOUNDED, edgeCases = EdgeCasesMode.NONE)
    void completionsAnswerEveryBodyWithA200OrAnOpenAi4xx(@ForAll("completionBodies") Body body) throws Exception {
        check("/v1/completions", body);
    }

    /** A request body: its text (JSON or not) and the Content-Type it is sent with (null: none). */
    record Body(String text, String contentType) {
        @Override
        public String toString() {
            String shown = text.length() > 400 ? text.substring(0, 400) + "... (" + text.length() + " chars)" : text;
            return contentType + " " + shown;
        }
    }

    private static void check(String path, Body body) throws Exception {
        var request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body.text(), StandardCharsets.UTF_8));
        if (body.contentType() != null) {
            request.header("Content-Type", body.contentType());
        }
        HttpResponse<String> response;
        try (HttpClient http = client()) {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        }
        int status = response.statusCode();
        String answer = response.body();
        // Reported after each property: how the tries spread over the answers (a property that only ever
        // saw 400s would prove little).
        Statistics.label("status").collect(status);

        assertThat(status).as("status for %s", body).isIn(200, 400, 404, 413, 415);
        for (String leak : LEAKS) {
            if (!body.text().contains(leak)) {
                assertThat(answer).as("answer to %s", body).doesNotContain(leak);
            }
        }
        String type = response.headers().firstValue("Content-Type").orElse("");
        if (status == 200 && type.startsWith("text/event-stream")) {
            List<String> events = answer.lines().filter(l -> !l.isEmpty()).toList();
            assertThat(events).as("events").isNotEmpty().allSatisfy(e -> assertThat(e).startsWith("data: "));
            assertThat(events.getLast()).isEqualTo("data: [DONE]");
            for (String event : events.subList(0, events.size() - 1)) {
                JsonNode chunk = JSON.readTree(event.substring("data: ".length()));
                assertThat(chunk.has("error")).as("an error event in %s", answer).isFalse();
                assertThat(chunk.path("choices").isArray()).isTrue();
            }
        } else {
            assertThat(type).as("content type of %s", answer).startsWith("application/json");
            JsonNode json = JSON.readTree(answer);
            if (status == 200) {
                assertThat(json.path("choices").isArray()).as(answer).isTrue();
                assertThat(json.path("usage").path("completion_tokens").asInt()).isPositive();
            } else {
                JsonNode error = json.path("error");
                assertThat(error.path("message").isTextual()).as(answer).isTrue();
                assertThat(error.path("message").asText()).isNotBlank();
                assertThat(error.path("type").asText()).isIn("invalid_request_error");
                assertThat(error.path("param").isNull() || error.path("param").isTextual()).as(answer).isTrue();
                assertThat(error.path("code").isNull() || error.path("code").isTextual()).as(answer).isTrue();
            }
        }
        assertEngineWell();
    }

    /**
     * A client of its own for each request, so that no connection is reused. Reactor Netty 1.3.6 can stop
     * reading a keep-alive connection when a request arrives before the previous response's operations
     * have terminated (reactor/reactor-netty#4361): the next request on it then hangs until the client
     * gives up. That bug is not what this test is about (see docs/security-notes/http.md); with reused
     * connections it showed up about once in 400 requests here.
     */
    private static HttpClient client() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** The engine is alive, not failed, and back to idle with every KV block free. */
    private static void assertEngineWell() throws InterruptedException, IOException {
        for (int i = 0; i < 500; i++) {
            var stats = llm.stats();
            if (stats.running() == 0 && stats.waiting() == 0 && stats.kvCache().usedBlocks() == 0) {
                break;
            }
            Thread.sleep(10);
        }
        assertThat(llm.failure()).isNull();
        assertThat(llm.stats().alive()).isTrue();
        assertThat(llm.stats().kvCache().usedBlocks()).as("KV blocks held").isZero();
        assertThat(llm.stats().running() + llm.stats().waiting()).as("requests in the engine").isZero();
        HttpResponse<String> health;
        try (HttpClient http = client()) {
            health = http.send(HttpRequest.newBuilder(URI.create(base + "/actuator/health"))
                    .header("Authorization", "Bearer " + KEY).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
        }
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(health.body()).path("components").path("trtllm").path("status").asText()).isEqualTo("UP");
    }

    // ---- generators ----

    /** A JSON number literal written as is: values no Java number round-trips (1e400, 30 digits, -0). */
    record Raw(String literal) {
    }

    @Provide
    Arbitrary<Body> chatBodies() {
        return bodies("messages", messages(), Map.ofEntries(
                Map.entry("model", Arbitraries.of("stories15M", "")),
                Map.entry("max_tokens", smallInts()),
                Map.entry("max_completion_tokens", smallInts()),
                Map.entry("temperature", Arbitraries.of(0.0, 0.7, 1.0, 2.0)),
                Map.entry("top_p", Arbitraries.of(0.5, 1.0)),
                Map.entry("top_k", Arbitraries.of(0, 1, 40)),
                Map.entry("min_p", Arbitraries.of(0.0, 0.1)),
                Map.entry("stop", Arbitraries.of("\n", "The", List.of("a", "b"))),
                Map.entry("seed", Arbitraries.longs()),
                Map.entry("presence_penalty", Arbitraries.of(-2.0, 0.0, 1.5)),
                Map.entry("frequency_penalty", Arbitraries.of(-2.0, 0.0, 1.5)),
                Map.entry("repetition_penalty", Arbitraries.of(0.5, 1.0, 1.3)),
                Map.entry("logprobs", Arbitraries.of(true, false)),
                Map.entry("stream", Arbitraries.of(true, false)),
                Map.entry("response_format", Arbitraries.of(Map.of("type", "text"))),
                Map.entry("ignore_eos", Arbitraries.of(true, false)),
                Map.entry("stop_token_ids", Arbitraries.of(List.of(13), List.of())),
                Map.entry("user", Arbitraries.strings().ofMaxLength(20))),
                List.of("n", "best_of", "top_logprobs", "stream_options", "min_tokens", "tools", "tool_choice",
                        "logit_bias", "modalities", "functions", "audio"));
    }

    @Provide
    Arbitrary<Body> completionBodies() {
        return bodies("prompt", prompts(), Map.ofEntries(
                Map.entry("model", Arbitraries.of("stories15M")),
                Map.entry("max_tokens", smallInts()),
                Map.entry("temperature", Arbitraries.of(0.0, 0.8)),
                Map.entry("top_p", Arbitraries.of(0.9, 1.0)),
                Map.entry("n", Arbitraries.integers().between(1, 3)),
                Map.entry("logprobs", Arbitraries.integers().between(0, 5)),
                Map.entry("echo", Arbitraries.of(false)),
                Map.entry("stop", Arbitraries.of(".", List.of("Once"))),
                Map.entry("seed", Arbitraries.longs()),
                Map.entry("ignore_eos", Arbitraries.of(true, false)),
                Map.entry("skip_special_tokens", Arbitraries.of(true, false)),
                Map.entry("include_stop_str_in_output", Arbitraries.of(true, false))),
                List.of("best_of", "stream", "stream_options", "suffix", "logit_bias", "min_tokens", "echo",
                        "stop_token_ids", "min_p", "top_k", "repetition_penalty"));
    }

    /**
     * Bodies of one endpoint: a valid request (the required field and any of the optional ones, each a
     * value of its own kind), then up to three mutations (a field, optional, required or one of
     * {@code others}, set to any JSON at all; the required field removed; an unknown field added); now
     * and then not an object, not JSON, or not sent as JSON.
     */
    private static Arbitrary<Body> bodies(String required, Arbitrary<Object> requiredValue,
                                          Map<String, Arbitrary<?>> optional, List<String> others) {
        List<Arbitrary<Map.Entry<String, Object>>> entries = new ArrayList<>();
        for (var field : optional.entrySet()) {
            entries.add(Arbitraries.frequencyOf(
                    net.jqwik.api.Tuple.of(3, Arbitraries.just(new AbstractMap.SimpleImmutableEntry<>(field.getKey(),
                            (Object) Absent.VALUE))),
                    net.jqwik.api.Tuple.of(1, field.getValue().map(v -> new AbstractMap.SimpleImmutableEntry<>(
                            field.getKey(), (Object) v)))));
        }
        Arbitrary<Map<String, Object>> valid = Combinators.combine(Combinators.combine(entries).as(l -> l), requiredValue)
                .as((list, value) -> {
                    Map<String, Object> object = new LinkedHashMap<>();
                    object.put(required, value);
                    for (var e : list) {
                        if (e.getValue() != Absent.VALUE) {
                            object.put(e.getKey(), e.getValue());
                        }
                    }
                    return object;
                });
        List<String> names = new ArrayList<>(optional.keySet());
        names.add(required);
        names.addAll(others);
        Arbitrary<Mutation> mutation = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Combinators.combine(Arbitraries.of(names), json(2)).as(Mutation::new)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(new Mutation(required, Absent.VALUE))),
                net.jqwik.api.Tuple.of(1, Combinators.combine(Arbitraries.strings().ofMaxLength(12), json(2))
                        .as(Mutation::new)));
        Arbitrary<Map<String, Object>> mutated = Combinators.combine(valid,
                        Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, Arbitraries.just(List.<Mutation>of())),
                                net.jqwik.api.Tuple.of(7, mutation.list().ofMinSize(1).ofMaxSize(3))))
                .as((object, mutations) -> {
                    Map<String, Object> body = new LinkedHashMap<>(object);
                    for (Mutation m : mutations) {
                        if (m.value() == Absent.VALUE) {
                            body.remove(m.field());
                        } else {
                            body.put(m.field(), m.value());
                        }
                    }
                    return body;
                });
        Arbitrary<String> text = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(30, mutated.map(OpenAiSchemaPropertyTests::write)),
                net.jqwik.api.Tuple.of(1, json(3).map(OpenAiSchemaPropertyTests::write)),
                net.jqwik.api.Tuple.of(1, Arbitraries.strings().ofMaxLength(40)));
        Arbitrary<String> contentType = Arbitraries.frequency(
                net.jqwik.api.Tuple.of(40, "application/json"),
                net.jqwik.api.Tuple.of(4, "application/json; charset=utf-8"),
                net.jqwik.api.Tuple.of(1, "text/plain"),
                net.jqwik.api.Tuple.of(1, "application/x-www-form-urlencoded"));
        return Combinators.combine(text, contentType.injectNull(0.02)).as(Body::new);
    }

    /** A change to a valid body: {@code field} set to {@code value}, or removed for {@link Absent#VALUE}. */
    record Mutation(String field, Object value) {
    }

    /** Marks a field left out of the body. */
    private enum Absent { VALUE }

    private static Arbitrary<Integer> smallInts() {
        return Arbitraries.integers().between(1, 8);
    }

    private static Arbitrary<Object> messages() {
        Arbitrary<Object> content = Arbitraries.oneOf(text(),
                text().map(t -> List.of(Map.of("type", "text", "text", t))));
        Arbitrary<Object> message = Combinators.combine(Arbitraries.of("user", "system", "assistant", "developer"), content)
                .as((role, c) -> Map.of("role", role, "content", c));
        return Arbitraries.oneOf(message.list().ofMinSize(1).ofMaxSize(3).map(l -> (Object) l),
                Arbitraries.oneOf(message, json(2)).list().ofMaxSize(3).map(l -> (Object) l));
    }

    private static Arbitrary<Object> prompts() {
        Arbitrary<Object> ids = Arbitraries.integers().between(0, 32_000).list().ofMinSize(1).ofMaxSize(20).map(l -> l);
        return Arbitraries.oneOf(text(), ids, text().list().ofMinSize(1).ofMaxSize(3).map(l -> l),
                ids.list().ofMinSize(1).ofMaxSize(3).map(l -> l));
    }

    /** Text: short English, any unicode (unpaired surrogates, controls, right-to-left), or very long. */
    private static Arbitrary<Object> text() {
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(20, Arbitraries.of("Once upon a time", "Hi", "The cat sat", " ")),
                net.jqwik.api.Tuple.of(8, Arbitraries.strings().all().ofMaxLength(60)),
                net.jqwik.api.Tuple.of(1, Arbitraries.strings().withChars("ab \u202e\u0000\ud83d\ude00").ofMinLength(2000)
                        .ofMaxLength(6000)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just("x".repeat(300_000)))); // beyond the 256KB body limit
    }

    /** Any JSON value, nested at most {@code depth} deep; numbers at the edges of every type. */
    private static Arbitrary<Object> json(int depth) {
        Arbitrary<Object> scalars = Arbitraries.oneOf(
                Arbitraries.just(null),
                Arbitraries.of(true, false),
                Arbitraries.of(0, 1, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 2_147_483_648L, Long.MAX_VALUE, Long.MIN_VALUE,
                        1_000_000_000),
                Arbitraries.of(0.5, 1.5, 2.0, -0.5, 1e20, 1e308, -1e308, 4.9e-324, 1e9),
                Arbitraries.of(new Raw("1e400"), new Raw("-1e400"), new Raw("123456789012345678901234567890"),
                        new Raw("-0"), new Raw("1E2"), new Raw("0.0000001")),
                Arbitraries.strings().all().ofMaxLength(30),
                Arbitraries.of("abc", "", "1", "NaN", "Infinity", "null", "true", "{{ 6*7 }}", "../../etc/passwd"));
        if (depth == 0) {
            return scalars;
        }
        Arbitrary<Object> inner = json(depth - 1);
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, scalars),
                net.jqwik.api.Tuple.of(2, inner.list().ofMaxSize(4).map(l -> l)),
                net.jqwik.api.Tuple.of(2, Arbitraries.maps(Arbitraries.strings().ofMaxLength(8), inner).ofMaxSize(3).map(m -> m)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(1).list().ofSize(5000).map(l -> l)));
    }

    // ---- JSON text, written by hand: any char (an unpaired surrogate too) as a \\u escape, raw numbers as is ----

    private static String write(Object value) {
        var out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        switch (value) {
            case null -> out.append("null");
            case Raw raw -> out.append(raw.literal());
            case String s -> {
                out.append('"');
                for (int i = 0; i < s.length(); i++) {
                    char c = s.charAt(i);
                    if (c == '"' || c == '\\') {
                        out.append('\\').append(c);
                    } else if (c < 0x20 || c > 0x7e) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
                out.append('"');
            }
            case Map<?, ?> map -> {
                out.append('{');
                boolean first = true;
                for (var e : map.entrySet()) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    write(String.valueOf(e.getKey()), out);
                    out.append(':');
                    write(e.getValue(), out);
                }
                out.append('}');
            }
            case List<?> list -> {
                out.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) {
                        out.append(',');
                    }
                    write(list.get(i), out);
                }
                out.append(']');
            }
            default -> out.append(value); // Boolean, Integer, Long, Double (finite: JSON has no NaN)
        }
    }
}
