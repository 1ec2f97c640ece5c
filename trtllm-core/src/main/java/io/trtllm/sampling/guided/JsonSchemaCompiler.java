package io.trtllm.sampling.guided;

import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.GuidedDecodingException;
import java.math.BigDecimal;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Translates a JSON Schema into a {@link Grammar} whose language is a subset of the JSON texts valid
 * against the schema (docs/GUIDED-DECODING.md lists the keywords): every output the guide allows
 * validates, while some valid texts are never generated (properties come in the schema's order,
 * numbers with bounds without exponent, strings with a pattern or format escape only what JSON must).
 *
 * <p>Unknown keywords are ignored, as JSON Schema itself ignores them; annotations ({@code title},
 * {@code description}, {@code default}, ...) too. Known keywords that we do not enforce are refused with
 * a {@link GuidedDecodingException} naming the keyword and its JSON pointer, never silently dropped.
 *
 * <p>Objects: {@code additionalProperties} left out means none where {@code properties} are declared (as
 * xgrammar's strict mode and OpenAI's strict structured outputs) and any where none are ({@code {"type":
 * "object"}} is a free-form object); {@code true} or a schema allows further properties after the
 * declared ones. A recursive {@code $ref} stays a rule (unbounded but for {@link GuideOptions#maxDepth()}).
 */
final class JsonSchemaCompiler {
    /** Deepest nesting of schemas within schemas that we compile. */
    static final int MAX_SCHEMA_DEPTH = 64;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static final Set<String> UNSUPPORTED = Set.of("not", "if", "then", "else", "dependentRequired",
            "dependentSchemas", "dependencies", "patternProperties", "propertyNames", "minProperties",
            "maxProperties", "contains", "minContains", "maxContains", "multipleOf", "unevaluatedItems",
            "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor");
    /** Keywords that neither constrain nor need a type: they may stand beside anything. */
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$comment", "default", "examples",
            "deprecated", "readOnly", "writeOnly", "$schema", "$id", "$defs", "definitions", "contentEncoding",
            "contentMediaType", "contentSchema", "$anchor", "$vocabulary", "format-annotation");
    /** Keywords that constrain, which we enforce. */
    private static final Set<String> SUPPORTED = Set.of("type", "enum", "const", "properties", "required",
            "additionalProperties", "unevaluatedProperties", "items", "prefixItems", "additionalItems", "minItems",
            "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
            "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref");
    private static final Set<String> STRING_KEYWORDS = Set.of("minLength", "maxLength", "pattern", "format");
    /** OpenAPI's integer formats and their ranges. */
    private static final java.util.Map<String, BigDecimal[]> INTEGER_FORMATS = java.util.Map.of(
            "int32", new BigDecimal[] {BigDecimal.valueOf(Integer.MIN_VALUE), BigDecimal.valueOf(Integer.MAX_VALUE)},
            "int64", new BigDecimal[] {BigDecimal.valueOf(Long.MIN_VALUE), BigDecimal.valueOf(Long.MAX_VALUE)});
    private static final Set<String> NUMBER_KEYWORDS = Set.of("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum");
    private static final Set<String> ARRAY_KEYWORDS = Set.of("items", "prefixItems", "additionalItems", "minItems",
            "maxItems", "uniqueItems");
    private static final Set<String> OBJECT_KEYWORDS = Set.of("properties", "required", "additionalProperties",
            "unevaluatedProperties");

    enum Type { NULL, BOOLEAN, OBJECT, ARRAY, NUMBER, INTEGER, STRING }

    private final JsonNode document;
    private final GuideOptions options;
    private final Expr ws;
    private final Map<String, Expr> rules = new LinkedHashMap<>();
    private final Map<String, String> refRules = new LinkedHashMap<>();

    private JsonSchemaCompiler(JsonNode document, GuideOptions options) {
        this.document = document;
        this.options = options;
        this.ws = JsonGrammar.ws(options);
    }

    /** Any JSON object, with whitespace before and after. */
    static Grammar jsonObject(GuideOptions options) {
        Expr ws = JsonGrammar.ws(options);
        Map<String, Expr> rules = new LinkedHashMap<>();
        rules.put("root", Expr.seq(ws, JsonGrammar.anyObject(options), ws));
        rules.put(JsonGrammar.ANY_CONTAINER, JsonGrammar.anyContainer(options));
        return new Grammar(rules, "root");
    }

    /**
     * @throws GuidedDecodingException when the text is not JSON, not a schema, uses a keyword we do not
     *                                 enforce, or admits no value
     */
    static Grammar compile(String schemaText, GuideOptions options) {
        JsonNode document;
        try {
            document = JSON.readTree(schemaText);
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            throw new GuidedDecodingException("the JSON schema is not valid JSON"
                    + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")")
                    + ": " + e.getOriginalMessage());
        }
        if (document == null || document.isMissingNode()) {
            throw new GuidedDecodingException("the JSON schema is empty");
        }
        JsonSchemaCompiler c = new JsonSchemaCompiler(document, options);
        Expr value = c.schema(document, "", 0);
        c.rules.put("root", Expr.seq(c.ws, value, c.ws));
        c.rules.put(JsonGrammar.ANY_CONTAINER, JsonGrammar.anyContainer(options));
        return new Grammar(c.rules, "root");
    }

    private Expr schema(JsonNode node, String ptr, int depth) {
        if (depth > MAX_SCHEMA_DEPTH) {
            throw error("schemas nested deeper than " + MAX_SCHEMA_DEPTH, null, ptr);
        }
        if (node.isBoolean()) {
            if (!node.booleanValue()) {
                throw error("the schema false admits no value", null, ptr);
            }
            return JsonGrammar.anyValue();
        }
        if (!node.isObject()) {
            throw error("a schema must be an object or a boolean, found " + node.getNodeType().name().toLowerCase(),
                    null, ptr);
        }
        checkKeywords(node, ptr);
        if (node.has("$ref")) {
            onlyBeside(node, ptr, "$ref", Set.of());
            return ref(node.get("$ref"), ptr + "/$ref", depth);
        }
        if (node.has("allOf")) {
            JsonNode all = node.get("allOf");
            if (!all.isArray() || all.size() != 1) {
                throw error("allOf is supported only with a single schema", "allOf", ptr + "/allOf");
            }
            onlyBeside(node, ptr, "allOf", Set.of());
            return schema(all.get(0), ptr + "/allOf/0", depth + 1);
        }
        if (node.has("enum") || node.has("const")) {
            return enumeration(node, ptr);
        }
        if (node.has("anyOf") || node.has("oneOf")) {
            String keyword = node.has("anyOf") ? "anyOf" : "oneOf";
            onlyBeside(node, ptr, keyword, Set.of());
            return union(node.get(keyword), keyword, ptr + "/" + keyword, depth);
        }
        Set<Type> types = types(node, ptr);
        if (types.contains(Type.NUMBER)) {
            types.remove(Type.INTEGER);
        }
        List<Expr> options = new ArrayList<>();
        for (Type t : types) {
            options.add(switch (t) {
                case NULL -> Expr.literal("null");
                case BOOLEAN -> Expr.alt(Expr.literal("true"), Expr.literal("false"));
                case STRING -> string(node, ptr);
                case NUMBER -> number(node, ptr, false);
                case INTEGER -> number(node, ptr, true);
                case ARRAY -> array(node, ptr, depth);
                case OBJECT -> object(node, ptr, depth);
            });
        }
        return Expr.alt(options);
    }

    private void checkKeywords(JsonNode node, String ptr) {
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (UNSUPPORTED.contains(k)) {
                throw error("the keyword " + k + " is not supported", k, ptr + "/" + escapePointer(k));
            }
        }
        JsonNode unique = node.get("uniqueItems");
        if (unique != null && unique.asBoolean(false) && !(node.path("maxItems").canConvertToInt() && node.path("maxItems").asInt() <= 1)) {
            throw error("the keyword uniqueItems: true is not supported", "uniqueItems", ptr + "/uniqueItems");
        }
        JsonNode unevaluated = node.get("unevaluatedProperties");
        if (unevaluated != null && !(unevaluated.isBoolean() && !unevaluated.booleanValue())) {
            throw error("the keyword unevaluatedProperties is supported only as false", "unevaluatedProperties",
                    ptr + "/unevaluatedProperties");
        }
    }

    /** Refuses keywords that constrain beside {@code keyword} (but those in {@code allowed}). */
    private void onlyBeside(JsonNode node, String ptr, String keyword, Set<String> allowed) {
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals(keyword) && SUPPORTED.contains(k) && !allowed.contains(k)) {
                throw error("the keyword " + k + " beside " + keyword + " is not supported", k,
                        ptr + "/" + escapePointer(k));
            }
        }
    }

    /** The types a schema without enum/const/anyOf/oneOf admits: its type keyword, or its keywords' types. */
    private Set<Type> types(JsonNode node, String ptr) {
        JsonNode type = node.get("type");
        Set<Type> types = EnumSet.noneOf(Type.class);
        if (type != null) {
            if (type.isTextual()) {
                types.add(typeNamed(type.asText(), ptr + "/type"));
            } else if (type.isArray() && !type.isEmpty()) {
                int i = 0;
                for (JsonNode t : type) {
                    if (!t.isTextual()) {
                        throw error("type must be a string or an array of strings", "type", ptr + "/type/" + i);
                    }
                    types.add(typeNamed(t.asText(), ptr + "/type/" + i));
                    i++;
                }
            } else {
                throw error("type must be a string or a non-empty array of strings", "type", ptr + "/type");
            }
            return types;
        }
        // Without type, a keyword applies to values of its type; we generate values of those types.
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (STRING_KEYWORDS.contains(k)) {
                types.add(Type.STRING);
            } else if (NUMBER_KEYWORDS.contains(k)) {
                types.add(Type.NUMBER);
            } else if (ARRAY_KEYWORDS.contains(k)) {
                types.add(Type.ARRAY);
            } else if (OBJECT_KEYWORDS.contains(k)) {
                types.add(Type.OBJECT);
            }
        }
        return types.isEmpty() ? EnumSet.allOf(Type.class) : types;
    }

    private Type typeNamed(String name, String ptr) {
        return switch (name) {
            case "null" -> Type.NULL;
            case "boolean" -> Type.BOOLEAN;
            case "object" -> Type.OBJECT;
            case "array" -> Type.ARRAY;
            case "number" -> Type.NUMBER;
            case "integer" -> Type.INTEGER;
            case "string" -> Type.STRING;
            default -> throw error("unknown type \"" + name + "\"", "type", ptr);
        };
    }

    // ---- $ref ----

    private Expr ref(JsonNode ref, String ptr, int depth) {
        if (!ref.isTextual()) {
            throw error("$ref must be a string", "$ref", ptr);
        }
        String target = ref.asText();
        if (!target.startsWith("#") || (target.length() > 1 && target.charAt(1) != '/')) {
            throw error("only local references (#, #/$defs/...) are supported, not " + RegexParser.abbreviate(target),
                    "$ref", ptr);
        }
        String pointer = URLDecoder.decode(target.substring(1), StandardCharsets.UTF_8);
        String rule = refRules.get(pointer);
        if (rule != null) {
            return new Expr.Ref(rule);
        }
        JsonNode node;
        try {
            node = document.at(JsonPointer.compile(pointer));
        } catch (IllegalArgumentException e) {
            throw error("$ref " + RegexParser.abbreviate(target) + " is not a JSON pointer", "$ref", ptr);
        }
        if (node.isMissingNode()) {
            throw error("$ref " + RegexParser.abbreviate(target) + " points at nothing", "$ref", ptr);
        }
        rule = "ref:" + pointer;
        refRules.put(pointer, rule);
        rules.put(rule, Expr.NOTHING); // placeholder while the target compiles: recursion refers to the rule
        rules.put(rule, schema(node, pointer, depth + 1));
        return new Expr.Ref(rule);
    }

    // ---- enum, const ----

    private Expr enumeration(JsonNode node, String ptr) {
        onlyBeside(node, ptr, node.has("enum") ? "enum" : "const", Set.of("type", "enum", "const"));
        List<JsonNode> values = new ArrayList<>();
        if (node.has("enum")) {
            JsonNode e = node.get("enum");
            if (!e.isArray()) {
                throw error("enum must be an array", "enum", ptr + "/enum");
            }
            e.forEach(values::add);
        }
        if (node.has("const")) {
            JsonNode c = node.get("const");
            values = node.has("enum") ? values.stream().filter(v -> sameValue(v, c)).toList() : List.of(c);
        }
        Set<Type> types = node.has("type") ? types(node, ptr) : EnumSet.allOf(Type.class);
        List<Expr> options = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (JsonNode v : values) {
            if (!admits(types, v)) {
                continue;
            }
            String text = v.isTextual() ? JsonGrammar.canonicalJson(checkedString(v.asText(), ptr)) : write(v);
            if (seen.add(text)) {
                options.add(Expr.literal(text));
            }
        }
        if (options.isEmpty()) {
            throw error("no value of enum/const is admitted" + (node.has("type") ? " by type" : ""),
                    node.has("enum") ? "enum" : "const", ptr);
        }
        return Expr.alt(options);
    }

    private static boolean sameValue(JsonNode a, JsonNode b) {
        if (a.isNumber() && b.isNumber()) {
            return a.decimalValue().compareTo(b.decimalValue()) == 0;
        }
        return a.equals(b);
    }

    private static boolean admits(Set<Type> types, JsonNode v) {
        return switch (v.getNodeType()) {
            case NULL -> types.contains(Type.NULL);
            case BOOLEAN -> types.contains(Type.BOOLEAN);
            case OBJECT -> types.contains(Type.OBJECT);
            case ARRAY -> types.contains(Type.ARRAY);
            case STRING -> types.contains(Type.STRING);
            case NUMBER -> types.contains(Type.NUMBER) || (types.contains(Type.INTEGER) && isIntegral(v));
            default -> false;
        };
    }

    private static boolean isIntegral(JsonNode v) {
        return v.isIntegralNumber() || v.decimalValue().stripTrailingZeros().scale() <= 0;
    }

    private static String write(JsonNode v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write a parsed JSON value", e);
        }
    }

    private String checkedString(String s, String ptr) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw error("a string with an unpaired surrogate (\\u" + Integer.toHexString(c) + ") cannot be written as UTF-8",
                        null, ptr);
            }
        }
        return s;
    }

    // ---- anyOf, oneOf ----

    private Expr union(JsonNode branches, String keyword, String ptr, int depth) {
        if (!branches.isArray() || branches.isEmpty()) {
            throw error(keyword + " must be a non-empty array", keyword, ptr);
        }
        if (keyword.equals("oneOf")) {
            checkDisjoint(branches, ptr);
        }
        List<Expr> options = new ArrayList<>();
        for (int i = 0; i < branches.size(); i++) {
            options.add(schema(branches.get(i), ptr + "/" + i, depth + 1));
        }
        return Expr.alt(options);
    }

    /**
     * oneOf needs exactly one branch to match; we generate from any branch, so branches must not
     * overlap: they must admit different types, or be objects that a required property with
     * const/enum values tells apart (a discriminator).
     */
    private void checkDisjoint(JsonNode branches, String ptr) {
        List<Set<Type>> types = new ArrayList<>();
        for (JsonNode b : branches) {
            types.add(possibleTypes(b, new HashSet<>()));
        }
        for (int i = 0; i < branches.size(); i++) {
            for (int j = i + 1; j < branches.size(); j++) {
                if (overlap(types.get(i), types.get(j)) && !discriminated(branches.get(i), branches.get(j))) {
                    throw error("the branches " + i + " and " + j + " of oneOf may both match a value; oneOf is "
                            + "supported when its branches admit different types or differ in the const/enum "
                            + "value of a required property (else use anyOf)", "oneOf", ptr);
                }
            }
        }
    }

    private static boolean overlap(Set<Type> a, Set<Type> b) {
        for (Type t : a) {
            if (b.contains(t) || (t == Type.NUMBER && b.contains(Type.INTEGER)) || (t == Type.INTEGER && b.contains(Type.NUMBER))) {
                return true;
            }
        }
        return false;
    }

    /** Types a schema may admit, following local $refs (all types on a cycle or anything unclear). */
    private Set<Type> possibleTypes(JsonNode node, Set<String> visiting) {
        if (node.isBoolean()) {
            return node.booleanValue() ? EnumSet.allOf(Type.class) : EnumSet.noneOf(Type.class);
        }
        if (!node.isObject()) {
            return EnumSet.allOf(Type.class);
        }
        JsonNode ref = node.get("$ref");
        if (ref != null) {
            String target = ref.asText("");
            if (!target.startsWith("#") || !visiting.add(target)) {
                return EnumSet.allOf(Type.class);
            }
            JsonNode resolved;
            try {
                resolved = document.at(JsonPointer.compile(URLDecoder.decode(target.substring(1), StandardCharsets.UTF_8)));
            } catch (IllegalArgumentException e) {
                return EnumSet.allOf(Type.class);
            }
            return possibleTypes(resolved, visiting);
        }
        if (node.has("enum") || node.has("const")) {
            Set<Type> out = EnumSet.noneOf(Type.class);
            List<JsonNode> values = new ArrayList<>();
            node.path("enum").forEach(values::add);
            if (node.has("const")) {
                values.add(node.get("const"));
            }
            for (JsonNode v : values) {
                out.add(switch (v.getNodeType()) {
                    case NULL -> Type.NULL;
                    case BOOLEAN -> Type.BOOLEAN;
                    case OBJECT -> Type.OBJECT;
                    case ARRAY -> Type.ARRAY;
                    case STRING -> Type.STRING;
                    default -> Type.NUMBER;
                });
            }
            return out;
        }
        for (String k : List.of("anyOf", "oneOf", "allOf")) {
            if (node.has(k) && node.get(k).isArray()) {
                Set<Type> out = EnumSet.noneOf(Type.class);
                node.get(k).forEach(b -> out.addAll(possibleTypes(b, visiting)));
                return out;
            }
        }
        try {
            return types(node, "");
        } catch (GuidedDecodingException e) {
            return EnumSet.allOf(Type.class); // reported where the branch itself compiles
        }
    }

    /** Whether two object schemas require a property whose const/enum values differ entirely. */
    private boolean discriminated(JsonNode a, JsonNode b) {
        a = resolveShallow(a);
        b = resolveShallow(b);
        JsonNode pa = a.path("properties");
        JsonNode pb = b.path("properties");
        for (var it = pa.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!required(a, name) || !required(b, name) || !pb.has(name)) {
                continue;
            }
            List<JsonNode> va = constValues(resolveShallow(pa.get(name)));
            List<JsonNode> vb = constValues(resolveShallow(pb.get(name)));
            if (va != null && vb != null && va.stream().noneMatch(x -> vb.stream().anyMatch(y -> sameValue(x, y)))) {
                return true;
            }
        }
        return false;
    }

    private JsonNode resolveShallow(JsonNode node) {
        for (int i = 0; i < 8 && node.isObject() && node.has("$ref"); i++) {
            String target = node.get("$ref").asText("");
            if (!target.startsWith("#")) {
                break;
            }
            try {
                node = document.at(JsonPointer.compile(URLDecoder.decode(target.substring(1), StandardCharsets.UTF_8)));
            } catch (IllegalArgumentException e) {
                break;
            }
        }
        return node;
    }

    private static boolean required(JsonNode schema, String name) {
        for (JsonNode r : schema.path("required")) {
            if (r.asText().equals(name)) {
                return true;
            }
        }
        return false;
    }

    private static @Nullable List<JsonNode> constValues(JsonNode schema) {
        if (schema.has("const")) {
            return List.of(schema.get("const"));
        }
        if (schema.has("enum") && schema.get("enum").isArray()) {
            List<JsonNode> out = new ArrayList<>();
            schema.get("enum").forEach(out::add);
            return out;
        }
        return null;
    }

    // ---- strings ----

    private Expr string(JsonNode node, String ptr) {
        int min = nonNegativeInt(node, "minLength", ptr, 0);
        int max = node.has("maxLength") ? nonNegativeInt(node, "maxLength", ptr, 0) : Expr.UNBOUNDED;
        if (max != Expr.UNBOUNDED && max < min) {
            throw error("maxLength " + max + " is below minLength " + min, "maxLength", ptr + "/maxLength");
        }
        Expr lengths = Expr.repeat(JsonGrammar.STRING_CHAR, min, max);
        List<Dfa> constraints = new ArrayList<>();
        if (node.has("pattern")) {
            JsonNode p = node.get("pattern");
            if (!p.isTextual()) {
                throw error("pattern must be a string", "pattern", ptr + "/pattern");
            }
            Expr parsed;
            try {
                parsed = RegexParser.parse(p.asText(), RegexParser.Mode.SEARCH);
            } catch (GuidedDecodingException e) {
                throw error(e.getMessage(), "pattern", ptr + "/pattern");
            }
            constraints.add(Automata.of(JsonGrammar.jsonEscaped(parsed)));
        }
        if (node.has("format")) {
            JsonNode f = node.get("format");
            if (!f.isTextual()) {
                throw error("format must be a string", "format", ptr + "/format");
            }
            constraints.add(Automata.of(JsonFormats.content(f.asText(), ptr + "/format")));
        }
        if (constraints.isEmpty()) {
            return JsonGrammar.string(lengths);
        }
        Dfa content = Automata.of(lengths);
        for (Dfa c : constraints) {
            content = content.intersect(c);
        }
        if (content.isEmpty()) {
            throw error("no string satisfies " + String.join(" and ", present(node, List.of("pattern", "format",
                    "minLength", "maxLength"))), node.has("pattern") ? "pattern" : "format", ptr);
        }
        return JsonGrammar.string(new Expr.Lang(content));
    }

    private static List<String> present(JsonNode node, List<String> keywords) {
        return keywords.stream().filter(node::has).toList();
    }

    // ---- numbers ----

    private Expr number(JsonNode node, String ptr, boolean integer) {
        BigDecimal lo = null;
        boolean loExclusive = false;
        BigDecimal hi = null;
        boolean hiExclusive = false;
        if (node.has("minimum")) {
            lo = decimal(node, "minimum", ptr);
        }
        if (node.has("maximum")) {
            hi = decimal(node, "maximum", ptr);
        }
        JsonNode exMin = node.get("exclusiveMinimum");
        if (exMin != null) {
            if (exMin.isBoolean()) { // draft 4: modifies minimum
                loExclusive = exMin.booleanValue() && lo != null;
            } else {
                BigDecimal v = decimal(node, "exclusiveMinimum", ptr);
                if (lo == null || v.compareTo(lo) >= 0) {
                    lo = v;
                    loExclusive = true;
                }
            }
        }
        JsonNode exMax = node.get("exclusiveMaximum");
        if (exMax != null) {
            if (exMax.isBoolean()) {
                hiExclusive = exMax.booleanValue() && hi != null;
            } else {
                BigDecimal v = decimal(node, "exclusiveMaximum", ptr);
                if (hi == null || v.compareTo(hi) <= 0) {
                    hi = v;
                    hiExclusive = true;
                }
            }
        }
        // OpenAPI's integer formats (what schema generators write for Java's int and long): their range, so
        // that a generated value fits the type it is read into.
        JsonNode format = node.get("format");
        if (integer && format != null && format.isTextual() && INTEGER_FORMATS.containsKey(format.textValue())) {
            BigDecimal[] range = INTEGER_FORMATS.get(format.textValue());
            if (lo == null || lo.compareTo(range[0]) < 0) {
                lo = range[0];
                loExclusive = false;
            }
            if (hi == null || hi.compareTo(range[1]) > 0) {
                hi = range[1];
                hiExclusive = false;
            }
        }
        if (lo == null && hi == null) {
            return integer ? JsonGrammar.anyInteger() : JsonGrammar.anyNumber();
        }
        Dfa a = JsonNumbers.range(integer, lo, loExclusive, hi, hiExclusive);
        if (a == null) {
            throw error("no " + (integer ? "integer" : "number") + " lies between the bounds",
                    node.has("minimum") ? "minimum" : "exclusiveMinimum", ptr);
        }
        return new Expr.Lang(a);
    }

    private BigDecimal decimal(JsonNode node, String keyword, String ptr) {
        JsonNode v = node.get(keyword);
        if (!v.isNumber()) {
            throw error(keyword + " must be a number", keyword, ptr + "/" + keyword);
        }
        return v.decimalValue();
    }

    // ---- arrays ----

    private Expr array(JsonNode node, String ptr, int depth) {
        List<JsonNode> prefix = new ArrayList<>();
        String prefixKeyword = null;
        JsonNode items = node.get("items");
        JsonNode rest;
        String restPtr;
        if (node.has("prefixItems")) {
            prefixKeyword = "prefixItems";
            if (!node.get("prefixItems").isArray()) {
                throw error("prefixItems must be an array", "prefixItems", ptr + "/prefixItems");
            }
            node.get("prefixItems").forEach(prefix::add);
            rest = items == null ? BooleanNodeHolder.TRUE : items;
            restPtr = ptr + "/items";
        } else if (items != null && items.isArray()) { // draft 4-7 tuples
            prefixKeyword = "items";
            items.forEach(prefix::add);
            rest = node.has("additionalItems") ? node.get("additionalItems") : BooleanNodeHolder.TRUE;
            restPtr = ptr + "/additionalItems";
        } else {
            rest = items == null ? BooleanNodeHolder.TRUE : items;
            restPtr = ptr + "/items";
        }
        int min = nonNegativeInt(node, "minItems", ptr, 0);
        int max = node.has("maxItems") ? nonNegativeInt(node, "maxItems", ptr, 0) : Expr.UNBOUNDED;
        boolean restAllowed = !(rest.isBoolean() && !rest.booleanValue());
        int n = prefix.size();
        if (!restAllowed) {
            max = max == Expr.UNBOUNDED ? n : Math.min(max, n);
        }
        if (max != Expr.UNBOUNDED && max < min) {
            throw error("no array satisfies minItems " + min + " with at most " + max + " items", "minItems", ptr);
        }
        if (max != Expr.UNBOUNDED && max > RegexParser.MAX_REPEAT || min > RegexParser.MAX_REPEAT) {
            throw error("item counts above " + RegexParser.MAX_REPEAT + " are not supported", "maxItems", ptr);
        }
        List<Expr> prefixExprs = new ArrayList<>();
        int limit = max == Expr.UNBOUNDED ? n : Math.min(n, max);
        for (int i = 0; i < limit; i++) {
            prefixExprs.add(schema(prefix.get(i), ptr + "/" + prefixKeyword + "/" + i, depth + 1));
        }
        Expr restItem = restAllowed && (max == Expr.UNBOUNDED || max > n) ? schema(rest, restPtr, depth + 1) : null;
        Expr sep = Expr.seq(ws, Expr.literal(","), ws);
        // Items after k emitted, each after a separator, built from the end.
        Expr tail;
        if (restItem != null) {
            int from = Math.max(limit, 1);
            int tailMin = Math.max(0, min - from);
            int tailMax = max == Expr.UNBOUNDED ? Expr.UNBOUNDED : max - from;
            tail = Expr.repeat(Expr.seq(sep, restItem), tailMin, tailMax);
        } else {
            tail = Expr.EMPTY;
        }
        Expr itemsExpr;
        if (limit == 0) {
            // No prefix: the first item is of the rest, then the tail.
            itemsExpr = restItem == null || max == 0 ? null : Expr.seq(restItem, tail);
        } else {
            Expr after = tail; // after prefix item limit-1 (k = limit emitted)
            for (int k = limit - 1; k >= 1; k--) {
                Expr next = Expr.seq(sep, prefixExprs.get(k), after);
                after = k >= min ? Expr.optional(next) : next;
            }
            itemsExpr = Expr.seq(prefixExprs.get(0), after);
        }
        if (itemsExpr == null) {
            if (min > 0) {
                throw error("no array satisfies minItems " + min, "minItems", ptr);
            }
            return Expr.seq(Expr.literal("["), ws, Expr.literal("]"));
        }
        Expr body = Expr.seq(itemsExpr, ws);
        return Expr.seq(Expr.literal("["), ws, min > 0 ? body : Expr.optional(body), Expr.literal("]"));
    }

    /** The schema {@code true} where a keyword is absent. */
    private static final class BooleanNodeHolder {
        static final JsonNode TRUE = com.fasterxml.jackson.databind.node.BooleanNode.TRUE;
    }

    // ---- objects ----

    private Expr object(JsonNode node, String ptr, int depth) {
        JsonNode props = node.path("properties");
        if (!props.isMissingNode() && !props.isObject()) {
            throw error("properties must be an object", "properties", ptr + "/properties");
        }
        Set<String> required = new HashSet<>();
        JsonNode req = node.get("required");
        if (req != null) {
            if (!req.isArray()) {
                throw error("required must be an array of strings", "required", ptr + "/required");
            }
            for (JsonNode r : req) {
                if (!r.isTextual()) {
                    throw error("required must be an array of strings", "required", ptr + "/required");
                }
                required.add(r.asText());
            }
        }
        JsonNode additional = node.get("additionalProperties");
        if (additional == null && props.isMissingNode() && !node.has("unevaluatedProperties")) {
            additional = BooleanNodeHolder.TRUE; // {"type": "object"} alone: any members
        }
        boolean extras = additional != null && !(additional.isBoolean() && !additional.booleanValue());
        List<String> names = new ArrayList<>();
        List<String> declared = new ArrayList<>();
        List<Expr> members = new ArrayList<>();
        List<Boolean> mandatory = new ArrayList<>();
        for (var it = props.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = checkedString(e.getKey(), ptr + "/properties");
            JsonNode sub = e.getValue();
            String subPtr = ptr + "/properties/" + escapePointer(name);
            declared.add(name);
            if (sub.isBoolean() && !sub.booleanValue()) {
                if (required.contains(name)) {
                    throw error("the required property \"" + name + "\" has the schema false", "required", subPtr);
                }
                continue;
            }
            names.add(name);
            members.add(Expr.seq(Expr.literal(JsonGrammar.canonicalJson(name)), ws, Expr.literal(":"), ws,
                    schema(sub, subPtr, depth + 1)));
            mandatory.add(required.contains(name));
        }
        for (String r : required) {
            if (!names.contains(r)) {
                throw error("the required property \"" + r + "\" is not in properties"
                        + (extras ? " (required additional properties are not supported)" : ""), "required",
                        ptr + "/required");
            }
        }
        Expr extra = null;
        if (extras) {
            Expr value = schema(additional, ptr + "/additionalProperties", depth + 1);
            extra = Expr.seq(JsonGrammar.canonicalStringExcept(declared), ws, Expr.literal(":"), ws, value);
        }
        Expr body = Expr.seq(new Expr.Members(members, mandatory, Expr.seq(ws, Expr.literal(","), ws), extra), ws);
        return Expr.seq(Expr.literal("{"), ws, required.isEmpty() ? Expr.optional(body) : body, Expr.literal("}"));
    }

    // ---- helpers ----

    private int nonNegativeInt(JsonNode node, String keyword, String ptr, int absent) {
        JsonNode v = node.get(keyword);
        if (v == null) {
            return absent;
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && isIntegral(v))) {
            throw error(keyword + " must be a non-negative integer", keyword, ptr + "/" + keyword);
        }
        BigDecimal d = v.decimalValue();
        if (d.signum() < 0) {
            throw error(keyword + " must be a non-negative integer", keyword, ptr + "/" + keyword);
        }
        if (d.compareTo(BigDecimal.valueOf(RegexParser.MAX_REPEAT)) > 0) {
            throw error(keyword + " above " + RegexParser.MAX_REPEAT + " is not supported", keyword, ptr + "/" + keyword);
        }
        return d.intValueExact();
    }

    static String escapePointer(String name) {
        return name.replace("~", "~0").replace("/", "~1");
    }

    private static GuidedDecodingException error(String message, @Nullable String keyword, String ptr) {
        String where = ptr.isEmpty() ? "/" : ptr;
        return new GuidedDecodingException("JSON schema at " + RegexParser.abbreviate(where) + ": " + message, keyword, where);
    }
}
