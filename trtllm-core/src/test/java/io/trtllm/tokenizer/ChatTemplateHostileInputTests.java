package io.trtllm.tokenizer;

import static io.trtllm.api.config.ChatMessage.user;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.ChatMessage;
import io.trtllm.model.ModelFormatException;
import io.trtllm.testing.TestFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Messages are data, never template code, and a template (a hostile checkpoint's) cannot read files,
 * run away or exhaust the heap: issue 13's payloads through the real Llama 3 and Qwen3 templates, and
 * hostile template sources against the limits.
 */
class ChatTemplateHostileInputTests {
    /** Three nested loops over range(1000): 10^9 iterations in 124 bytes. */
    static final String NESTED_RANGES = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}x"
            + "{% endfor %}{% endfor %}{% endfor %}";

    /** Short render time for the tests that only need the limit to trip (the defaults have their own test). */
    private static final ChatTemplate.Limits FAST = new ChatTemplate.Limits(Duration.ofMillis(300), 4 << 20, 100_000);

    private static Tokenizer llama3;
    private static Tokenizer qwen3;

    @BeforeAll
    static void load() {
        llama3 = Tokenizer.load(TestFixtures.llama3Tokenizer());
        qwen3 = Tokenizer.load(TestFixtures.qwen3Tokenizer());
    }

    @AfterAll
    static void close() {
        llama3.close();
        qwen3.close();
    }

    // ---- message text is data ----

    @ParameterizedTest
    @ValueSource(strings = {
            "{{ 6*7 }}",
            "{% include 'application.yml' %}",
            "{% import 'application.yml' as config %}{{ config }}",
            "{% from 'application.yml' import x %}",
            "{% extends 'application.yml' %}",
            NESTED_RANGES,
            "{{ raise_exception('boom') }}",
            "{% raw %}{{ 1 }}{% endraw %}{# comment #}",
            "{{ messages }}{{ bos_token }}"})
    void messageTextReachesThePromptAsWritten(String payload) {
        for (Tokenizer tokenizer : List.of(llama3, qwen3)) {
            String placeholder = "PAYLOAD";
            String expected = tokenizer.applyChatTemplate(List.of(user(placeholder)), true).replace(placeholder, payload);

            long start = System.nanoTime();
            String prompt = tokenizer.applyChatTemplate(List.of(user(payload)), true);

            assertThat(prompt).isEqualTo(expected).contains(payload);
            // Literal text costs nothing: no loop ran.
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        }
    }

    @Test
    void sixTimesSevenIsNotFortyTwo() {
        String prompt = llama3.applyChatTemplate(List.of(user("{{ 6*7 }}")), true);
        assertThat(prompt).isEqualTo("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{{ 6*7 }}<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n");
        assertThat(llama3.decode(llama3.encodeChat(List.of(user("{{ 6*7 }}")), true), false)).contains("{{ 6*7 }}")
                .doesNotContain("42");
    }

    @Test
    void anyMixOfTemplateSyntaxInMessagesIsPrintedVerbatim() {
        // Pseudo-random messages made of Jinja delimiters, tags and expressions (seeded: reproducible).
        String[] pieces = {"{{", "}}", "{%", "%}", "{#", "#}", "{{-", "-}}", "{%-", "-%}", " ", "\n", "x", "6*7",
                "raw", "endraw", "for i in range(1000)", "endfor", "include 'a'", "'", "\"", "\\", "range(10**9)",
                "messages", "loop", "set x = 1", "if", "endif", "é", "🙂"};
        Random random = new Random(13);
        for (int i = 0; i < 300; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 1 + random.nextInt(24);
            for (int j = 0; j < n; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            String text = "<" + sb + ">";
            String prompt = qwen3.applyChatTemplate(List.of(user(text)), true);
            assertThat(prompt).as("message %s", text)
                    .isEqualTo("<|im_start|>user\n" + text + "<|im_end|>\n<|im_start|>assistant\n");
        }
    }

    // ---- template sources read no file ----

    @ParameterizedTest
    @ValueSource(strings = {
            "{% include 'application.yml' %}",
            "{% include 'io/trtllm/model/builtin/llama2-tokenizations.json' %}",
            "{% import 'io/trtllm/model/builtin/llama2-tokenizations.json' as t %}{{ t }}",
            "{% from 'io/trtllm/model/builtin/llama2-tokenizations.json' import x %}{{ x }}",
            "{% extends 'io/trtllm/model/builtin/llama2-tokenizations.json' %}",
            "{% for m in messages %}{% if m.role == 'user' %}{% include '/etc/passwd' %}{% endif %}{% endfor %}"})
    void templateThatReadsAFileIsRefusedNamingItsOrigin(String source) {
        // The second file is on the test class path: Jinjava's default locator would have read it.
        assertThatThrownBy(() -> new ChatTemplate(source, "/models/hostile/tokenizer_config.json")
                .render(List.of(user("hi")), true, Map.of()))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith("/models/hostile/tokenizer_config.json: the chat template reads the template file '")
                .hasMessageContaining("self-contained")
                .hasMessageNotContaining("generated_by")
                .hasMessageNotContaining("root:");
    }

    @Test
    void templateFileInTokenizerConfigIsRefusedNamingTheFile(@TempDir Path dir) throws IOException {
        String config = "{\"chat_template\": \"{% include 'application.yml' %}{{ messages[0].content }}\"}";
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, config)) {
            assertThatThrownBy(() -> tokenizer.applyChatTemplate(List.of(user("hi")), true))
                    .isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining(dir.resolve("tokenizer_config.json").toString())
                    .hasMessageContaining("'application.yml'");
        }
    }

    @Test
    void striptagsPrintsMessageTextWithoutRenderingIt() {
        // Jinjava's striptags renders its value as a template first; this one is MarkupSafe's.
        ChatTemplate template = new ChatTemplate("{{ messages[0].content|striptags }}", "t");
        assertThat(template.render(List.of(user("<b>{{ 6*7 }}</b> " + NESTED_RANGES)), true, Map.of()))
                .isEqualTo("{{ 6*7 }} " + NESTED_RANGES);
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ messages[0].content|render }}", "{{ messages[0].content|regex_replace('(a+)+$', '') }}"})
    void filtersThatRunMessageTextAreDisabled(String source) {
        assertThatThrownBy(() -> new ChatTemplate(source, "t").render(List.of(user("{{ 6*7 }}aaaaaaaaaaaaaaaaaaaaaaaaab")),
                true, Map.of()))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("disabled");
    }

    // ---- a runaway template stops within its limits ----

    @Test
    void nestedRangesInTheTemplateStopAtTheDefaultLimits(@TempDir Path dir) throws IOException {
        String config = "{\"chat_template\": \"" + NESTED_RANGES + "\"}";
        try (Tokenizer tokenizer = tokenizerWithConfig(dir, config)) {
            assertThat(tokenizer.chatTemplate().limits()).isEqualTo(ChatTemplate.Limits.DEFAULT);
            long start = System.nanoTime();

            // Whichever comes first on this machine: 4 Mi characters of x, or 5 s.
            assertThatThrownBy(() -> tokenizer.applyChatTemplate(List.of(user("hi")), true))
                    .isInstanceOf(TemplateLimitException.class)
                    .isInstanceOf(ChatTemplateException.class)
                    .hasMessageStartingWith(dir.resolve("tokenizer_config.json") + ": ")
                    .hasMessageMatching(".*(took longer than its limit of 5000 ms|exceed its limit of 4194304 characters)");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        }
    }

    @Test
    void silentLoopsStopAtTheDefaultTimeLimit() {
        ChatTemplate silent = new ChatTemplate("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
                + "{% endfor %}{% endfor %}{% endfor %}", "/models/hostile/tokenizer_config.json");
        long start = System.nanoTime();

        assertThatThrownBy(() -> silent.render(List.of(user("hi")), true, Map.of()))
                .isInstanceOf(TemplateLimitException.class)
                .hasMessage("/models/hostile/tokenizer_config.json: rendering the chat template took longer than its limit "
                        + "of 5000 ms")
                .satisfies(e -> assertThat(((ChatTemplateException) e).reason())
                        .isEqualTo("rendering the chat template took longer than its limit of 5000 ms"));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofMillis(4900), Duration.ofSeconds(10));
    }

    @Test
    void runawayRenderFreesItsThreadForTheNextRender() {
        ChatTemplate runaway = new ChatTemplate(
                "{% if messages[0].content == 'loop' %}" + NESTED_RANGES + "{% endif %}{{ messages[0].content }}", "t", FAST);
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> runaway.render(List.of(user("loop")), true, Map.of()))
                    .isInstanceOf(TemplateLimitException.class);
            assertThat(Thread.currentThread().isInterrupted()).isFalse();
            assertThat(runaway.render(List.of(user("ok")), true, Map.of())).isEqualTo("ok");
        }
    }

    @Test
    void interruptingARenderStopsIt() throws Exception {
        ChatTemplate slow = new ChatTemplate(NESTED_RANGES, "t",
                new ChatTemplate.Limits(Duration.ofMinutes(5), 4 << 20, 100_000));
        AtomicBoolean stillInterrupted = new AtomicBoolean();
        CompletableFuture<Throwable> failure = new CompletableFuture<>();
        Thread renderer = Thread.ofPlatform().start(() -> {
            try {
                slow.render(List.of(user("x")), true, Map.of());
                failure.complete(null);
            } catch (Throwable e) {
                stillInterrupted.set(Thread.currentThread().isInterrupted());
                failure.complete(e);
            }
        });
        Thread.sleep(200);
        renderer.interrupt();

        assertThat(failure.get(10, TimeUnit.SECONDS)).isInstanceOf(CancellationException.class)
                .hasMessageContaining("interrupted");
        assertThat(stillInterrupted).isTrue();
        renderer.join();
    }

    /** Templates that grow output, strings, lists or nesting beyond any context, each in a few lines. */
    @ParameterizedTest
    @ValueSource(strings = {
            NESTED_RANGES,
            "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
            "{% set ns = namespace(s='a') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "{% set ns = namespace(s='a') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
            "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
            "{{ 'x'|center(2000000000) }}",
            "{{ '%2000000000s'|format('x') }}",
            "{{ '%.2000000000f'|format(1.5) }}",
            "{{ 'a\\nb'|indent(2000000000) }}",
            "{{ {'a': 1}|tojson(indent=2000000000) }}",
            "{{ range(10)|batch(2000000000, 'x') }}",
            "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s.replace('a', ns.s) %}{% endfor %}",
            "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s|replace('a', ns.s) %}{% endfor %}",
            "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s.join([ns.s, ns.s, ns.s]) %}{% endfor %}",
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = '{0}{0}'.format(ns.s) %}{% endfor %}",
            "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = [ns.s, ns.s]|join %}{% endfor %}",
            "{% set ns = namespace(s='x') %}{% for i in range(30) %}{% set ns.s = [ns.s, ns.s]|tojson %}{% endfor %}",
            "{% set ns = namespace(s='x') %}{% for i in range(22) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                    + "{{ [ns.s, ns.s, ns.s, ns.s, ns.s, ns.s, ns.s, ns.s]|string|length }}",
            "{% set ns = namespace(s='x') %}{% for i in range(22) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                    + "{{ [ns.s, ns.s, ns.s, ns.s, ns.s, ns.s, ns.s, ns.s]|pprint|length }}",
            "{% set ns = namespace(s='x,') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                    + "{{ ns.s.rsplit(',')|length }}",
            "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% for j in range(1000) %}{% do ns.l.append(j) %}"
                    + "{% endfor %}{% endfor %}",
            "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% for j in range(100) %}{% set ns.l = [ns.l] %}"
                    + "{% endfor %}{% endfor %}{{ ns.l }}"})
    void runawayTemplateStopsWithALimitError(String source) {
        long start = System.nanoTime();

        assertThatThrownBy(() -> new ChatTemplate(source, "/models/hostile/tokenizer_config.json", FAST)
                .render(List.of(user("hi")), true, Map.of()))
                .isInstanceOf(TemplateLimitException.class)
                .hasMessageStartingWith("/models/hostile/tokenizer_config.json: ")
                .hasMessageMatching(".*(limit of 300 ms|limit of 4194304|limit of 100000|1000 levels deep).*")
                .satisfies(e -> assertThat(((TemplateLimitException) e).reason()).doesNotContain("/models"));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
    }

    /** A list that holds one 32,768-character string eight times, printed by Jinjava's own code. */
    @ParameterizedTest
    @ValueSource(strings = {"l|e", "l|escape", "l|forceescape", "l|title", "l|wordcount", "l|urlencode", "l|wordwrap(10)",
            "l|int", "l|float", "l|urlize", "l|filesizeformat", "l|attr('x')", "'%s'|format(l)", "'x'|replace(l, 'y')",
            "l|string", "l|pprint", "l|tojson", "l|indent", "l|center(3)", "l|trim", "l|striptags"})
    void listsThatWouldPrintPastTheLimitAreRefusedBeforeJavaPrintsThem(String expression) {
        var limits = new ChatTemplate.Limits(Duration.ofSeconds(30), 1 << 16, 100_000);
        String source = "{% set ns = namespace(s='x') %}{% for i in range(15) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                + "{% set l = [ns.s, ns.s, ns.s, ns.s, ns.s, ns.s, ns.s, ns.s] %}{{ " + expression + " }}";

        assertThatThrownBy(() -> new ChatTemplate(source, "t", limits).render(List.of(user("hi")), true, Map.of()))
                .isInstanceOf(TemplateLimitException.class)
                .hasMessageMatching("t: .*(would print a value over|would build a string of \\d+ characters, over) the chat "
                        + "template's limit of 65536.*");
    }

    @ParameterizedTest
    @ValueSource(strings = {"'x'.repeat(2000000000)", "'a\\nb'.indent(2000000000)", "'%s'.formatted(messages)",
            "messages.toString()", "messages[0].content.getClass()", "messages[0].toString()", "messages.append(1)",
            "messages.subList(0, 1)", "messages[0].update({'role': 'system'})", "messages[0].content.length()"})
    void javaMethodsOfTemplateValuesCannotBeCalled(String expression) {
        assertThatThrownBy(() -> new ChatTemplate("{{ " + expression + " }}", "t").render(List.of(user("hi")), true, Map.of()))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageMatching("t: the chat template failed to render at line 1: .*(has no method|cannot be called here).*");
    }

    @Test
    void pythonsNonMutatingMethodsStillWork() {
        // As Jinja2 3.1 renders it in transformers' sandbox.
        String source = "{% set d = {'a': 1, 'b': 2} %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} "
                + "{{ d.keys()|list }} {{ d.values()|list }} "
                + "{{ d.get('a') }} {{ [1, 2].copy()|length }} {{ [1, 2, 2].index(2) }} {{ [1, 2, 2].count(2) }} "
                + "{% for m in messages %}{{ loop.cycle('odd', 'even') }}{% endfor %} {{ messages[0]['content'].upper() }}";
        assertThat(new ChatTemplate(source, "t").render(List.of(user("hi"), user("there")), true, Map.of()))
                .isEqualTo("a=1;b=2; ['a', 'b'] [1, 2] 1 2 1 2 oddeven HI");
    }

    @Test
    void limitsOfOutputAndItemsAreTheConfiguredOnes() {
        var small = new ChatTemplate.Limits(Duration.ofSeconds(10), 1000, 10);
        ChatTemplate echo = new ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}", "t", small);
        assertThat(echo.render(List.of(user("a".repeat(1000))), true, Map.of())).hasSize(1000);
        assertThatThrownBy(() -> echo.render(List.of(user("a".repeat(1001))), true, Map.of()))
                .isInstanceOf(TemplateLimitException.class)
                .hasMessageContaining("1000 characters");
        List<ChatMessage> eleven = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            eleven.add(user("m"));
        }
        assertThatThrownBy(() -> echo.render(eleven, true, Map.of()))
                .isInstanceOf(TemplateLimitException.class)
                .hasMessageContaining("limit of 10 items");
        assertThatThrownBy(() -> new ChatTemplate.Limits(Duration.ZERO, 1, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ChatTemplate.Limits(Duration.ofSeconds(1), 0, 1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void longConversationWithinTheLimitsRenders() {
        // Far beyond any context length (1,000 turns, 1 MB of text), yet within the default limits.
        List<ChatMessage> conversation = new ArrayList<>();
        String text = "A sentence of ordinary text with {{ braces }} and {% tags %}. ".repeat(16);
        for (int i = 0; i < 500; i++) {
            conversation.add(user(i + text));
            conversation.add(ChatMessage.assistant(i + text));
        }
        String prompt = qwen3.applyChatTemplate(conversation, true);
        assertThat(prompt).startsWith("<|im_start|>user\n0A sentence").endsWith("<|im_start|>assistant\n")
                .hasSizeGreaterThan(1_000_000);
    }

    /** Qwen3's tokenizer.json with {@code config} as tokenizer_config.json. */
    private static Tokenizer tokenizerWithConfig(Path dir, String config) throws IOException {
        Files.copy(TestFixtures.qwen3Tokenizer().resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
                StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(dir.resolve("tokenizer_config.json"), config);
        return Tokenizer.load(dir);
    }
}
