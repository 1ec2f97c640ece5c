package io.trtllm.sampling.guided;

import java.util.LinkedHashMap;
import java.util.Map;

/** The schemas of the generation property tests and the benchmark. */
public final class TestSchemas {
    private TestSchemas() {
    }

    /** Ten schemas: nested objects, arrays with item counts, enums, numbers, integers, strings with patterns and lengths. */
    public static final Map<String, String> TEN = new LinkedHashMap<>();

    static {
        TEN.put("person", """
                {"type": "object", "properties": {
                   "name": {"type": "string", "minLength": 1, "maxLength": 20},
                   "age": {"type": "integer", "minimum": 0, "maximum": 150},
                   "email": {"type": "string", "format": "email"}},
                 "required": ["name", "age"]}""");
        TEN.put("nested", """
                {"type": "object", "properties": {
                   "user": {"type": "object", "properties": {
                       "id": {"type": "string", "format": "uuid"},
                       "profile": {"type": "object", "properties": {
                           "nickname": {"type": "string", "pattern": "^[a-z]{3,8}$"},
                           "verified": {"type": "boolean"}}, "required": ["nickname", "verified"]}},
                     "required": ["id", "profile"]},
                   "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3}},
                 "required": ["user"]}""");
        TEN.put("bounded-array", """
                {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 5}, "minItems": 2, "maxItems": 4}""");
        TEN.put("enums", """
                {"type": "object", "properties": {
                   "color": {"enum": ["red", "green", "blue sky", "ünïcödé"]},
                   "size": {"enum": [1, 2.5, null, true, {"k": [1]}]},
                   "mode": {"const": "fixed"}},
                 "required": ["color", "size", "mode"]}""");
        TEN.put("numbers", """
                {"type": "object", "properties": {
                   "price": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000.5},
                   "ratio": {"type": "number", "minimum": -1, "maximum": 1},
                   "delta": {"type": "number"},
                   "count": {"type": "integer", "exclusiveMinimum": -10, "exclusiveMaximum": 1000000}},
                 "required": ["price", "ratio", "delta", "count"]}""");
        TEN.put("strings", """
                {"type": "object", "properties": {
                   "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
                   "note": {"type": "string", "maxLength": 12},
                   "word": {"type": "string", "pattern": "^(yes|no|maybe)$"},
                   "day": {"type": "string", "format": "date"},
                   "at": {"type": "string", "format": "date-time"},
                   "host": {"type": "string", "format": "ipv4"}},
                 "required": ["code", "note", "word", "day", "at", "host"]}""");
        TEN.put("one-of", """
                {"type": "object", "properties": {
                   "shape": {"oneOf": [
                     {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number", "minimum": 0}}, "required": ["kind", "r"]},
                     {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "integer", "minimum": 1}}, "required": ["kind", "side"]}]},
                   "label": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]}},
                 "required": ["shape", "label"]}""");
        TEN.put("tree", """
                {"$defs": {"node": {"type": "object", "properties": {
                     "value": {"type": "integer"},
                     "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
                   "required": ["value"]}},
                 "$ref": "#/$defs/node"}""");
        TEN.put("open-object", """
                {"type": "object", "properties": {"a": {"type": "string", "maxLength": 4}, "b": {"type": "integer"}},
                 "additionalProperties": {"type": "boolean"}}""");
        TEN.put("tuple", """
                {"type": "array", "prefixItems": [{"type": "string", "maxLength": 8}, {"type": ["integer", "null"]}, {"type": "boolean"}],
                 "items": false, "minItems": 1}""");
    }

    /** A schema of 20 properties of assorted types, the benchmark's. */
    static String twentyProperties() {
        StringBuilder s = new StringBuilder("{\"type\": \"object\", \"properties\": {");
        String[] types = {
            "{\"type\": \"string\"}",
            "{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 1000}",
            "{\"type\": \"number\"}",
            "{\"type\": \"boolean\"}",
            "{\"type\": \"string\", \"maxLength\": 32}",
            "{\"enum\": [\"low\", \"medium\", \"high\"]}",
            "{\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"maxItems\": 5}",
            "{\"type\": \"string\", \"format\": \"date\"}",
            "{\"type\": [\"string\", \"null\"]}",
            "{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"number\"}, \"y\": {\"type\": \"number\"}}, \"required\": [\"x\", \"y\"]}"};
        StringBuilder required = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            if (i > 0) {
                s.append(", ");
            }
            s.append("\"field_").append(i).append("\": ").append(types[i % types.length]);
            if (i % 3 != 2) {
                required.append(required.isEmpty() ? "" : ", ").append("\"field_").append(i).append('"');
            }
        }
        return s.append("}, \"required\": [").append(required).append("]}").toString();
    }
}
