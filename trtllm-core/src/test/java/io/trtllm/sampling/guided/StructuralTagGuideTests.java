package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import org.junit.jupiter.api.Test;

/** What structural tags (tool calls in a model's format) accept and refuse, and their errors. */
class StructuralTagGuideTests {
    private static final String WEATHER = """
            {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8}}, "required": ["city"]}""";
    private static final String ADD = """
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#/$defs/n"}},
             "required": ["a", "b"], "$defs": {"n": {"type": "integer", "minimum": 0, "maximum": 9}}}""";

    private static CompiledGuide compact(String tag) {
        return GuidedDecoding.compile(GuidedDecodingParams.structuralTag(tag), Vocabularies.bytes(),
                new GuideOptions(0, 64));
    }

    private static String hermes(boolean atLeastOne, boolean stopAfterFirst) {
        return """
                {"type": "structural_tag", "format": {"type": "tags_with_separator", "separator": "\\n",
                 "at_least_one": %s, "stop_after_first": %s, "tags": [
                   {"type": "tag", "begin": "<tool_call>\\n{\\"name\\": \\"weather\\", \\"arguments\\": ",
                    "content": {"type": "json_schema", "json_schema": %s}, "end": "}\\n</tool_call>"},
                   {"type": "tag", "begin": "<tool_call>\\n{\\"name\\": \\"add\\", \\"arguments\\": ",
                    "content": {"type": "json_schema", "json_schema": %s}, "end": "}\\n</tool_call>"}]}}"""
                .formatted(atLeastOne, stopAfterFirst, WEATHER, ADD);
    }

    private static void accepts(CompiledGuide g, String... texts) {
        for (String t : texts) {
            assertThat(Languages.matches(g, t)).as("accepts %s", t).isTrue();
        }
    }

    private static void rejects(CompiledGuide g, String... texts) {
        for (String t : texts) {
            assertThat(Languages.matches(g, t)).as("rejects %s", t).isFalse();
        }
    }

    private static final String CALL_W = "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>";
    private static final String CALL_A = "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\":1,\"b\":9}}\n</tool_call>";

    @Test
    void toolCallsInHermesFormatEachSchemaWithItsOwnRefs() {
        CompiledGuide g = compact(hermes(true, false));
        accepts(g, CALL_W, CALL_A, CALL_W + "\n" + CALL_A, CALL_A + "\n" + CALL_A + "\n" + CALL_W);
        rejects(g, "", "hello", CALL_W + CALL_A, CALL_W + "\n",
                "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>",
                "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\":10,\"b\":1}}\n</tool_call>",
                "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\":\"Paris is big\"}}\n</tool_call>",
                "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>");
        assertThat(Languages.isViablePrefix(g, "<tool_call>\n{\"name\": \"we")).isTrue();
        assertThat(Languages.isViablePrefix(g, "<tool_call>\n{\"name\": \"x")).isFalse();
    }

    @Test
    void stopAfterFirstAllowsOneTagAndWithoutAtLeastOneNoneAtAll() {
        CompiledGuide one = compact(hermes(true, true));
        accepts(one, CALL_W, CALL_A);
        rejects(one, CALL_W + "\n" + CALL_A, "");
        CompiledGuide any = compact(hermes(false, false));
        accepts(any, "", CALL_W, CALL_W + "\n" + CALL_W);
    }

    @Test
    void sequencesAlternativesConstantsAndRegexes() {
        CompiledGuide g = compact("""
                {"type": "structural_tag", "format": {"type": "sequence", "elements": [
                  {"type": "const_string", "value": "[TOOL_CALLS]["},
                  {"type": "or", "elements": [{"type": "regex", "pattern": "[0-9]{2}"},
                                              {"type": "grammar", "grammar": "root ::= \\"x\\" root | \\"y\\""}]},
                  {"type": "const_string", "value": "]"}]}}""");
        accepts(g, "[TOOL_CALLS][42]", "[TOOL_CALLS][xxy]", "[TOOL_CALLS][y]");
        rejects(g, "[TOOL_CALLS][4]", "[TOOL_CALLS][x]", "[42]");
    }

    @Test
    void errorsNameTheFormatAndTheSchemaKeywordWithAPointerFromTheTop() {
        assertThatThrownBy(() -> compact("""
                {"type": "structural_tag", "format": {"type": "tags_with_separator", "tags": [
                  {"type": "tag", "begin": "<a>", "end": "</a>", "content": {"type": "json_schema", "json_schema": {"type": "string"}}},
                  {"type": "tag", "begin": "<b>", "end": "</b>",
                   "content": {"type": "json_schema", "json_schema": {"type": "object", "properties": {"x": {"not": {}}}}}}]}}"""))
                .isInstanceOfSatisfying(GuidedDecodingException.class, e -> {
                    assertThat(e.keyword()).isEqualTo("not");
                    assertThat(e.pointer()).isEqualTo("/format/tags/1/content/json_schema/properties/x/not");
                });
        assertThatThrownBy(() -> compact("{\"type\": \"structural_tag\", \"format\": {\"type\": \"any_text\"}}"))
                .isInstanceOfSatisfying(GuidedDecodingException.class, e -> {
                    assertThat(e.getMessage()).contains("\"any_text\" is not supported");
                    assertThat(e.pointer()).isEqualTo("/format");
                });
        assertThatThrownBy(() -> compact("{\"type\": \"structural_tag\", \"structures\": [], \"triggers\": []}"))
                .hasMessageContaining("no \"format\"");
        assertThatThrownBy(() -> compact("{\"type\": \"structural_tag\", \"format\": {\"type\": \"sequence\", "
                + "\"elements\": [{\"type\": \"regex\", \"pattern\": \"(\"}]}}"))
                .isInstanceOfSatisfying(GuidedDecodingException.class,
                        e -> assertThat(e.pointer()).isEqualTo("/format/elements/0/pattern"));
        assertThatThrownBy(() -> compact("[1]")).hasMessageContaining("must be a JSON object");
    }
}
