package io.trtllm.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.ChatMessage;
import io.trtllm.model.ModelFormatException;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Jinja2 idioms of real chat templates render as Python Jinja2 (with transformers' settings) renders
 * them. Each expected value is what Python prints.
 */
class ChatTemplateCompatibilityTests {
    private static final List<ChatMessage> MESSAGES = List.of(
            ChatMessage.system("sys"), ChatMessage.user("hi"), ChatMessage.assistant("<think>\nr\n</think>\n\nanswer"));

    private static String render(String template) {
        return render(template, Map.of());
    }

    private static String render(String template, Map<String, ?> variables) {
        return new ChatTemplate(template, "test-template").render(MESSAGES, true, variables);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiterString = " => ", quoteCharacter = '`', textBlock = """
            {{ 'a</think>'.split('</think>')[-1] }} => ``
            {{ 'x</think>y'.split('</think>')[0] }} => x
            {{ 'a,b,,'.split(',') }} => ['a', 'b', '', '']
            {{ ' a  b\tc '.split() }} => ['a', 'b', 'c']
            {{ 'a.b.c'.split('.', 1) }} => ['a', 'b.c']
            {{ 'a.b.c'.rsplit('.', 1) }} => ['a.b', 'c']
            {{ 'a|b'.split('|') }} => ['a', 'b']
            {{ '  x  '.strip() }}. => x.
            {{ '\\n\\nab\\n'.strip('\\n') }}. => ab.
            {{ '\\n\\nab'.lstrip('\\n') }}. => ab.
            {{ 'ab\\n\\n'.rstrip() }}. => ab.
            {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} => True True
            {{ 'abc'.startswith('b') }} => False
            {{ 'hello world'.title() }} {{ 'ABC'.lower() }} {{ 'abc'.upper() }} => Hello World abc ABC
            {{ 'abc'.capitalize() }} => Abc
            {{ ', '.join(['x', 'y']) }} => x, y
            {{ 'aaa'.replace('a', 'b', 2) }} => bba
            {{ '{} and {}'.format(1, 'x') }} => 1 and x
            {{ 'abc'.find('c') }} {{ 'abc'.count('b') }} => 2 1
            {{ 'abc'[-1] }} {{ 'abc'[::-1] }} {{ 'abcdef'[1:4:2] }} => c cba bd
            {{ [1, 2, 3, 4][::2] }} {{ [1, 2, 3][-2:] }} {{ [1, 2, 3][:-1] }} => [1, 3] [2, 3] [1, 2]
            {% set n = 1 %}{{ [1, 2, 3][:n+1] }} => [1, 2]
            {% for m in messages[::-1] %}{{ m.role }},{% endfor %} => assistant,user,system,
            {{ messages[0]['role'] }} {{ messages[-1].role }} => system assistant
            {% for m in messages %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }};{% endfor %} => 0TrueFalse;1FalseFalse;2FalseTrue;
            {% set ns = namespace(i=messages|length - 1, s='a' + 'b') %}{{ ns.i }} {{ ns.s }} => 2 ab
            {% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }} => True
            {% for m in messages if m.role != 'system' %}{{ m.role }}{{ loop.index }}{{ loop.last }};{% endfor %} => user1False;assistant2True;
            {% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}={{ v }};{% endfor %} => a=1;b=2;
            {% for k in {'a': 1, 'b': 2} %}{{ k }};{% endfor %} => a;b;
            {% set c = ({'a': 1, 'b': 2}) %}{% for k in c %}{{ k }};{% endfor %} => a;b;
            {{ true }} {{ false }} {{ 1.0 }} {{ 1.5e-07 }} {{ [1, 'a', none] }} => True False 1.0 1.5e-07 [1, 'a', None]
            {{ {'a': 1} }} {{ {'a': 1}|string }} => {'a': 1} {'a': 1}
            {{ undefined_variable }}.{{ undefined_variable is defined }} => .False
            {% if messages[0].reasoning is not defined and none is none %}ok{% endif %} => ok
            {{ '</think>' in messages[2].content }} {{ 'x' not in 'abc' }} => True True
            {{ -1 }} {{ 7 // 2 }} {{ 2 ** 3 }} {{ 'a' ~ 1 }} => -1 3 8 a1
            {{ [{'content': [{'type': 'text'}]}][0].content.0.type }} => text
            {{ '\u00a0 x \u3000'|trim }}. => x.
            {{ 'a\\nb'|indent(2) }} => `a\n  b`
            {{ 'a\\nb'|indent(2, first=true) }} => `  a\n  b`
            {% generation %}kept{% endgeneration %} => kept
            """)
    void rendersLikePythonJinja2(String template, String expected) {
        assertThat(render(template)).isEqualTo(expected.replace("\\n", "\n"));
    }

    @Test
    void striptagsIsMarkupSafesAndRendersNothing() {
        // Expected values are Jinja2 3.1 with MarkupSafe 3.0.
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("<b>bold</b>  and\n <i>it</i> &amp; &lt;x&gt; &#39;q&#39; &#x41;&quot;", "bold and it & <x> 'q' A\"");
        cases.put("{{ 6*7 }} <p>{% include 'a' %}</p>", "{{ 6*7 }} {% include 'a' %}");
        cases.put("<!-<!--x-->-y-->z", "z");
        cases.put("a<!-- c <b> -->b", "ab");
        cases.put("<!-->x", "x");
        cases.put("a < b > c", "a c");
        cases.put("unclosed <tag", "unclosed <tag");
        cases.put("x<!--unclosed", "x<!--unclosed");
        cases.put("&nbsp;a&nbsp;\u00a0b", "\u00a0a\u00a0 b");
        cases.forEach((value, expected) -> assertThat(render("{{ s|striptags }}", Map.of("s", value)))
                .as(value).isEqualTo(expected));
    }

    @Test
    void tojsonSpellsJsonAsPython() {
        String template = "{{ {'a': 1, 'b': [1, 2.5, none, true], 'c': 'é\"\\n', 'd': {}} | tojson }}";
        assertThat(render(template)).isEqualTo("{\"a\": 1, \"b\": [1, 2.5, null, true], \"c\": \"é\\\"\\n\", \"d\": {}}");
        assertThat(render("{{ {'a': [1, 2]} | tojson(indent=2) }}")).isEqualTo("{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        assertThat(render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}")).isEqualTo("{\"a\": 2, \"b\": 1}");
        assertThat(render("{{ 'é' | tojson(ensure_ascii=true) }}")).isEqualTo("\"\\u00e9\"");
    }

    @Test
    void tojsonOfCallerValues() {
        Map<String, Object> tool = Map.of("type", "function", "function", Map.of("name", "get_weather"));
        assertThat(render("{% for t in tools %}{{ t | tojson }}{% endfor %}", Map.of("tools", List.of(tool))))
                .satisfiesAnyOf(
                        s -> assertThat(s).isEqualTo("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}"),
                        s -> assertThat(s).isEqualTo("{\"function\": {\"name\": \"get_weather\"}, \"type\": \"function\"}"));
    }

    @Test
    void whitespaceFollowsTrimBlocksAndLstripBlocks() {
        // trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before it goes.
        assertThat(render("a\n    {% if true %}\n    b\n    {% endif %}\nc")).isEqualTo("a\n    b\nc");
        // lstrip_blocks only strips from the start of a line.
        assertThat(render("name: {% if true %}x{% endif %}")).isEqualTo("name: x");
        // Expressions are not blocks: their line keeps its indentation and newline.
        assertThat(render("  {{ 'x' }}\ny")).isEqualTo("  x\ny");
        // '+' switches either rule off.
        assertThat(render("  {%+ if true %}x{% endif %}")).isEqualTo("  x");
        assertThat(render("{% if true +%}\nx{% endif %}")).isEqualTo("\nx");
        // '-' strips all whitespace on its side, for blocks, expressions and comments.
        assertThat(render("a  \n  {{- 'b' -}}  \n  c")).isEqualTo("abc");
        assertThat(render("a\n  {#- comment -#}\n b")).isEqualTo("ab");
        assertThat(render("{# comment #}\nx")).isEqualTo("x");
    }

    @Test
    void oneTrailingNewlineIsDroppedAndCrLfIsNewline() {
        assertThat(render("x\n")).isEqualTo("x");
        assertThat(render("x\n\n")).isEqualTo("x\n");
        assertThat(render("a\r\nb\rc")).isEqualTo("a\nb\nc");
    }

    @Test
    void rawBlocksAreNotRendered() {
        assertThat(render("{% raw %}{{ not rendered }}{% endraw %}")).isEqualTo("{{ not rendered }}");
    }

    @Test
    void stringsKeepTagDelimitersAndQuotes() {
        assertThat(render("{{ '}}' + \"%}\" + 'it\\'s' }}")).isEqualTo("}}%}it's");
    }

    @Test
    void strftimeFollowsPythonDirectives() {
        ZonedDateTime t = ZonedDateTime.of(2024, 7, 5, 14, 3, 9, 0, ZoneOffset.UTC);
        assertThat(JinjaExtensions.strftime("%d %b %Y", t)).isEqualTo("05 Jul 2024");
        assertThat(JinjaExtensions.strftime("%-d %B %Y", t)).isEqualTo("5 July 2024");
        assertThat(JinjaExtensions.strftime("%A %Y-%m-%d %H:%M:%S %I%p %j %%", t))
                .isEqualTo("Friday 2024-07-05 14:03:09 02PM 187 %");
        assertThat(render("{{ strftime_now('%Y') }}")).matches("\\d{4}");
    }

    @Test
    void unsupportedMethodsFailWithTheTemplatesOrigin() {
        assertThatThrownBy(() -> render("{{ 'abc'.no_such_method() }}"))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("test-template");
        assertThatThrownBy(() -> render("{{ 'abc'.split('') }}"))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("empty separator");
    }

    @Test
    void preprocessorLeavesMacroSignaturesAndStringsAlone() {
        assertThat(render("{% macro f(a, b='q') %}{{ a }}{{ b }}{% endmacro %}{{ f('1') }}{{ f('1', b='2') }}"))
                .isEqualTo("1q12");
        assertThat(JinjaPreprocessor.rewriteExpression(" 'a[1:2]' + x[1:2] ", true))
                .isEqualTo(" 'a[1:2]' + x[__py_slice(1, 2, none)] ");
        assertThat(JinjaPreprocessor.rewriteExpression(" namespace(a=1 + 2, b=[x, y]) ", true))
                .isEqualTo(" namespace(a=(1 + 2), b=([x, y])) ");
        assertThat(JinjaPreprocessor.rewriteExpression(" 1.5 + x.0 ", true)).isEqualTo(" 1.5 + x[0] ");
    }
}
