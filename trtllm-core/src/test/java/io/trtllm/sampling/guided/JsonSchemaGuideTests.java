package io.trtllm.sampling.guided;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trtllm.api.config.GuidedDecodingException;
import io.trtllm.api.config.GuidedDecodingParams;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What JSON Schema guides accept and refuse, keyword by keyword, and the errors they give. */
class JsonSchemaGuideTests {
    private static CompiledGuide schema(String json) {
        return Languages.compile(GuidedDecodingParams.json(json));
    }

    private static CompiledGuide schema(String json, int maxWhitespace) {
        return GuidedDecoding.compile(GuidedDecodingParams.json(json), Vocabularies.bytes(),
                new GuideOptions(maxWhitespace, 64));
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

    @Test
    void integerFormatsBoundTheValueToTheirJavaType() {
        CompiledGuide int32 = schema("{\"type\": \"integer\", \"format\": \"int32\"}");
        accepts(int32, "0", "2147483647", "-2147483648", "42");
        rejects(int32, "2147483648", "-2147483649", "10000000000", "1.5");
        CompiledGuide int64 = schema("{\"type\": \"integer\", \"format\": \"int64\", \"minimum\": 0}");
        accepts(int64, "9223372036854775807", "0");
        rejects(int64, "9223372036854775808", "-1");
    }

    @Test
    void objectsHavePropertiesInSchemaOrderRequiredOnesAlways() {
        CompiledGuide g = schema("""
                {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}},
                 "required": ["b"]}""");
        accepts(g, "{\"b\":\"x\"}", "{\"a\":1,\"b\":\"\"}", "{\"a\": -3, \"b\": \"y\", \"c\": true}", "{\"b\":\"z\",\"c\":false}",
                " {\n  \"b\": \"x\"\n}\n");
        rejects(g, "{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}", "{\"b\":\"x\",\"d\":1}", "{\"b\":\"x\",}", "{\"b\":1}",
                "{\"a\":1.5,\"b\":\"x\"}");
    }

    @Test
    void additionalPropertiesComeAfterTheDeclaredOnesAndNeverRepeatThem() {
        CompiledGuide open = schema("{\"properties\": {\"a\": {\"type\": \"integer\"}}, \"additionalProperties\": true}");
        accepts(open, "{}", "{\"a\":1}", "{\"a\":1,\"x\":[1,{\"y\":null}]}", "{\"x\":\"s\",\"yy\":2}");
        rejects(open, "{\"x\":1,\"a\":1}", "{\"a\":1,\"a\":2}");
        CompiledGuide typed = schema("{\"properties\": {\"a\": {\"type\": \"integer\"}}, \"additionalProperties\": {\"type\": \"boolean\"}}");
        accepts(typed, "{\"a\":1,\"b\":true}", "{\"zz\":false}");
        rejects(typed, "{\"b\":1}");
        CompiledGuide closed = schema("{\"properties\": {\"a\": {\"type\": \"integer\"}}}");
        rejects(closed, "{\"b\":true}");
        CompiledGuide freeForm = schema("{\"type\": \"object\"}");
        accepts(freeForm, "{}", "{\"b\":true,\"c\":[{}]}");
        CompiledGuide empty = schema("{\"type\": \"object\", \"additionalProperties\": false}");
        accepts(empty, "{}");
        rejects(empty, "{\"b\":true}");
    }

    @Test
    void arraysCountTheirItems() {
        CompiledGuide g = schema("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 2, \"maxItems\": 3}");
        accepts(g, "[1,2]", "[1, 2, 3]", "[ 0 ,\n 1 ]");
        rejects(g, "[]", "[1]", "[1,2,3,4]", "[1,,2]", "[1,2,]");
        CompiledGuide tuple = schema("""
                {"type": "array", "prefixItems": [{"type": "string"}, {"type": ["integer", "null"]}], "items": false, "minItems": 1}""");
        accepts(tuple, "[\"a\"]", "[\"a\",null]", "[\"a\",7]");
        rejects(tuple, "[]", "[\"a\",7,8]", "[1]", "[\"a\",\"b\"]");
        CompiledGuide empty = schema("{\"type\": \"array\", \"maxItems\": 0}");
        accepts(empty, "[]", "[ ]");
        rejects(empty, "[1]");
    }

    @Test
    void stringsWithLengthsPatternsAndFormats() {
        CompiledGuide len = schema("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}");
        accepts(len, "\"ab\"", "\"abc\"", "\"\\n\\t\"", "\"é😀\"", "\"\\ud83d\\ude00x\"", "\"\\u00e9a\"");
        rejects(len, "\"a\"", "\"abcd\"", "\"\\ud83dx\"", "\"a\nb\"", "\"a\\qb\"");
        CompiledGuide pattern = schema("{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3}$\"}");
        accepts(pattern, "\"AB-123\"");
        rejects(pattern, "\"AB-12\"", "\"ab-123\"", "\"xAB-123\"");
        CompiledGuide search = schema("{\"type\": \"string\", \"pattern\": \"b\\\"c\", \"maxLength\": 4}");
        accepts(search, "\"b\\\"c\"", "\"ab\\\"c\"", "\"b\\\"cd\"");
        rejects(search, "\"bc\"", "\"aab\\\"c\"");
        CompiledGuide date = schema("{\"type\": \"string\", \"format\": \"date\"}");
        accepts(date, "\"2024-02-29\"", "\"2023-12-31\"", "\"2000-02-29\"");
        rejects(date, "\"2023-02-29\"", "\"1900-02-29\"", "\"2023-04-31\"", "\"2023-13-01\"");
        CompiledGuide uuid = schema("{\"type\": \"string\", \"format\": \"uuid\"}");
        accepts(uuid, "\"123e4567-e89b-12d3-a456-426614174000\"");
        rejects(uuid, "\"123e4567e89b12d3a456426614174000\"");
    }

    @Test
    void enumsConstsAndUnions() {
        CompiledGuide e = schema("{\"enum\": [\"red\", 1.50, null, {\"a\": [true]}, \"ü\\\"\"]}");
        // Values are written compactly, numbers as Jackson writes them.
        accepts(e, "\"red\"", "1.5", "null", "{\"a\":[true]}", "\"ü\\\"\"");
        rejects(e, "\"blue\"", "2", "{\"a\": [true]}");
        CompiledGuide typed = schema("{\"type\": \"string\", \"enum\": [\"a\", 1, \"b\"]}");
        accepts(typed, "\"a\"", "\"b\"");
        rejects(typed, "1");
        CompiledGuide any = schema("{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"string\", \"maxLength\": 1}]}");
        accepts(any, "12", "\"x\"");
        rejects(any, "\"xy\"", "true");
        CompiledGuide one = schema("""
                {"oneOf": [{"type": "object", "properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}, "required": ["kind"]},
                           {"type": "object", "properties": {"kind": {"const": "b"}}, "required": ["kind"]}]}""");
        accepts(one, "{\"kind\":\"a\",\"x\":1}", "{\"kind\":\"b\"}");
        rejects(one, "{\"kind\":\"c\"}");
    }

    @Test
    void numbersWithBounds() {
        CompiledGuide g = schema("{\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 1.5}");
        accepts(g, "0.1", "1", "1.5", "1.50", "0.0001");
        rejects(g, "0", "0.0", "-0.5", "1.51", "2", "1e0");
        CompiledGuide i = schema("{\"type\": \"integer\", \"minimum\": -3, \"exclusiveMaximum\": 10}");
        accepts(i, "-3", "0", "9");
        rejects(i, "-4", "10", "-0", "01", "5.0");
        CompiledGuide free = schema("{\"type\": \"number\"}");
        accepts(free, "-0", "1e5", "2.5E-3", "0.0");
        rejects(free, "01", ".5", "1.", "+1", "NaN");
    }

    @Test
    void recursiveReferencesNestWithoutBound() {
        CompiledGuide g = schema("""
                {"$defs": {"list": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"$ref": "#/$defs/list"}},
                 "required": ["v"]}}, "$ref": "#/$defs/list"}""");
        accepts(g, "{\"v\":1}", "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3}}}");
        rejects(g, "{\"next\":{\"v\":2}}", "{\"v\":1,\"next\":{}}");
        CompiledGuide root = schema("{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}, \"maxItems\": 2}");
        accepts(root, "[]", "[[],[[]]]");
    }

    @Test
    void whitespaceIsBounded() {
        CompiledGuide g = schema("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}", 3);
        accepts(g, "{ \"a\" : 1 }", "\n{\n  \"a\": 1\n}\n", "{\"a\":1}");
        rejects(g, "{    \"a\": 1}", "{\"a\":\u00a01}");
        CompiledGuide compact = schema("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}", 0);
        accepts(compact, "{\"a\":1}", "{}");
        rejects(compact, "{\"a\": 1}", " {}");
    }

    @Test
    void jsonObjectIsAnyObject() {
        CompiledGuide g = Languages.compile(GuidedDecodingParams.jsonObject());
        accepts(g, "{}", "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u20ac\"}", " { \"x\" : -1.5e3 } ");
        rejects(g, "[]", "1", "\"s\"", "{\"a\":}", "{a:1}", "{\"a\":1,}", "{\"a\":01}");
    }

    @Test
    void unsupportedKeywordsAreRefusedByNameAndPointer() {
        assertRefused("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", \"not\": {\"const\": \"x\"}}}}",
                "not", "/properties/a/not");
        assertRefused("{\"type\": \"array\", \"uniqueItems\": true}", "uniqueItems", "/uniqueItems");
        assertRefused("{\"allOf\": [{\"type\": \"string\"}, {\"maxLength\": 3}]}", "allOf", "/allOf");
        assertRefused("{\"type\": \"object\", \"patternProperties\": {\"^x\": {}}}", "patternProperties", "/patternProperties");
        assertRefused("{\"type\": \"integer\", \"multipleOf\": 2}", "multipleOf", "/multipleOf");
        assertRefused("{\"type\": \"string\", \"format\": \"idn-email\"}", "format", "/format");
        assertRefused("{\"$ref\": \"https://example.com/s.json\"}", "$ref", "/$ref");
        assertRefused("{\"$ref\": \"#/$defs/missing\"}", "$ref", "/$ref");
        assertRefused("{\"type\": \"string\", \"pattern\": \"(a)\\\\1\"}", "pattern", "/pattern");
        assertRefused("{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}", "oneOf", "/oneOf");
        assertRefused("{\"$ref\": \"#/$defs/a\", \"maxLength\": 2, \"$defs\": {\"a\": {\"type\": \"string\"}}}", "maxLength", "/maxLength");
        assertRefused("{\"type\": \"strin\"}", "type", "/type");
    }

    @Test
    void unsatisfiableSchemasSayWhy() {
        assertRefused("{\"type\": \"string\", \"minLength\": 3, \"maxLength\": 2}", "maxLength", "/maxLength");
        assertRefused("{\"type\": \"integer\", \"minimum\": 1.2, \"maximum\": 1.8}", "minimum", "/");
        assertRefused("{\"type\": \"object\", \"properties\": {\"a\": {}}, \"required\": [\"b\"]}", "required", "/required");
        assertRefused("{\"type\": \"string\", \"pattern\": \"^a$\", \"minLength\": 2}", "pattern", "/");
        assertThatThrownBy(() -> schema("{\"type\": "))
                .isInstanceOf(GuidedDecodingException.class).hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> schema("[1]"))
                .isInstanceOf(GuidedDecodingException.class).hasMessageContaining("must be an object or a boolean");
    }

    @Test
    void unknownKeywordsAndAnnotationsAreIgnored() {
        CompiledGuide g = schema("""
                {"title": "T", "description": "d", "x-vendor": 1, "nullable": true, "$schema": "https://json-schema.org/draft/2020-12/schema",
                 "type": "object", "properties": {"a": {"type": "integer", "default": 3, "examples": [1]}}, "required": ["a"]}""");
        accepts(g, "{\"a\":3}");
    }

    private static void assertRefused(String schema, String keyword, String pointer) {
        assertThatThrownBy(() -> schema(schema))
                .isInstanceOfSatisfying(GuidedDecodingException.class, e -> {
                    assertThat(e.keyword()).isEqualTo(keyword);
                    assertThat(e.pointer()).isEqualTo(pointer);
                    assertThat(e.getMessage()).contains(pointer);
                });
    }

    @Test
    void guidesAreCachedByTextAndVocabulary() {
        GuideVocabulary a = Vocabularies.bytes();
        GuideVocabulary b = Vocabularies.bytes();
        var params = GuidedDecodingParams.json("{\"type\": \"integer\"}");
        assertThat(GuidedDecoding.compile(params, a)).isSameAs(GuidedDecoding.compile(params, b));
        assertThat(GuidedDecoding.compile(params, a)).isNotSameAs(GuidedDecoding.compile(params, Vocabularies.small(false)));
        assertThat(GuidedDecoding.compile(GuidedDecodingParams.choice(List.of("x")), a))
                .isNotSameAs(GuidedDecoding.compile(GuidedDecodingParams.choice(List.of("y")), a));
    }
}
