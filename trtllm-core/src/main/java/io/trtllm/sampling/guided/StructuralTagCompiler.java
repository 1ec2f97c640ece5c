package io.trtllm.sampling.guided;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trtllm.api.config.GuidedDecodingException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * A structural tag to a grammar: xgrammar's format ({@code {"type": "structural_tag", "format": F}}), the
 * part of it that says what the whole output is. The format types:
 *
 * <ul>
 *   <li>{@code {"type": "const_string", "value": s}}: exactly {@code s};</li>
 *   <li>{@code {"type": "json_schema", "json_schema": schema}}: a JSON value valid against the schema (compiled as
 *       {@link JsonSchemaCompiler} does, its {@code $ref}s relative to this schema);</li>
 *   <li>{@code {"type": "regex", "pattern": p}}, {@code {"type": "grammar", "grammar": gbnf}};</li>
 *   <li>{@code {"type": "sequence", "elements": [F...]}}, {@code {"type": "or", "elements": [F...]}};</li>
 *   <li>{@code {"type": "tag", "begin": s, "content": F, "end": e}}: {@code s}, the content, {@code e};</li>
 *   <li>{@code {"type": "tags_with_separator", "tags": [tag...], "separator": s, "at_least_one": b,
 *       "stop_after_first": b}}: tags separated by {@code s}, none or more (at least one with
 *       {@code at_least_one}, at most one with {@code stop_after_first}).</li>
 * </ul>
 *
 * <p>What a tool call must look like is such a structure: Hermes' {@code <tool_call>\n{"name": "f",
 * "arguments": } + the parameters' schema + {@code }\n</tool_call>}, repeated with a separator. Free text
 * ({@code any_text}) and {@code triggered_tags} are refused: every output of a guide here is a sentence of
 * the structure. Errors name the format's JSON pointer ({@code /format/tags/0/content}); a schema's own
 * errors keep their keyword, with the pointer from the top of the structural tag.
 */
final class StructuralTagCompiler {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** Deepest nesting of formats within formats. */
    private static final int MAX_DEPTH = 32;
    private static final Set<String> KNOWN = Set.of("const_string", "json_schema", "regex", "grammar", "sequence",
            "or", "tag", "tags_with_separator");

    private final GuideOptions options;
    private final Map<String, Expr> rules = new LinkedHashMap<>();
    private int grammars;

    private StructuralTagCompiler(GuideOptions options) {
        this.options = options;
    }

    /** @throws GuidedDecodingException when the text is not a structural tag we support, or a part of it is invalid */
    static Grammar compile(String text, GuideOptions options) {
        JsonNode document;
        try {
            document = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new GuidedDecodingException("the structural tag is not valid JSON: " + e.getOriginalMessage());
        }
        if (document == null || !document.isObject()) {
            throw new GuidedDecodingException("a structural tag must be a JSON object");
        }
        if (!"structural_tag".equals(document.path("type").asText(null))) {
            throw new GuidedDecodingException("a structural tag must have \"type\": \"structural_tag\"");
        }
        if (!document.has("format")) {
            throw new GuidedDecodingException("the structural tag has no \"format\""
                    + (document.has("structures") ? " (the older structures/triggers form is not supported)" : ""));
        }
        StructuralTagCompiler c = new StructuralTagCompiler(options);
        Expr root = c.format(document.get("format"), "/format", 0);
        Map<String, Expr> all = new LinkedHashMap<>();
        all.put("root", root);
        all.putAll(c.rules);
        return new Grammar(all, "root");
    }

    private Expr format(JsonNode node, String ptr, int depth) {
        if (depth > MAX_DEPTH) {
            throw error("formats nested deeper than " + MAX_DEPTH, ptr);
        }
        if (!node.isObject()) {
            throw error("a format must be a JSON object", ptr);
        }
        String type = node.path("type").isTextual() ? node.get("type").asText() : "";
        if (!KNOWN.contains(type)) {
            throw error(type.isEmpty() ? "a format needs a \"type\"" : "format type \"" + shorten(type)
                    + "\" is not supported (supported: const_string, json_schema, regex, grammar, sequence, or, tag, "
                    + "tags_with_separator)", ptr);
        }
        return switch (type) {
            case "const_string" -> Expr.literal(string(node, "value", ptr, false));
            case "json_schema" -> {
                JsonNode schema = node.get("json_schema");
                if (schema == null || !(schema.isObject() || schema.isBoolean())) {
                    throw error("\"json_schema\" must be a schema (an object or a boolean)", ptr + "/json_schema");
                }
                try {
                    yield embed(JsonSchemaCompiler.compile(schema.toString(), options));
                } catch (GuidedDecodingException e) {
                    String inner = e.pointer() == null ? "" : e.pointer();
                    throw new GuidedDecodingException(e.getMessage(), e.keyword(), ptr + "/json_schema" + inner);
                }
            }
            case "regex" -> {
                try {
                    yield RegexParser.parse(string(node, "pattern", ptr, false), RegexParser.Mode.FULL_MATCH);
                } catch (GuidedDecodingException e) {
                    throw error(e.getMessage(), ptr + "/pattern");
                }
            }
            case "grammar" -> {
                try {
                    yield embed(GbnfParser.parse(string(node, "grammar", ptr, false)));
                } catch (GuidedDecodingException e) {
                    throw error(e.getMessage(), ptr + "/grammar");
                }
            }
            case "sequence", "or" -> {
                JsonNode elements = node.get("elements");
                if (elements == null || !elements.isArray() || elements.isEmpty()) {
                    throw error("\"elements\" must be a non-empty array of formats", ptr + "/elements");
                }
                List<Expr> items = new ArrayList<>();
                for (int i = 0; i < elements.size(); i++) {
                    items.add(format(elements.get(i), ptr + "/elements/" + i, depth + 1));
                }
                yield type.equals("sequence") ? Expr.seq(items) : Expr.alt(items);
            }
            case "tag" -> tag(node, ptr, depth);
            default -> tagsWithSeparator(node, ptr, depth);
        };
    }

    private Expr tag(JsonNode node, String ptr, int depth) {
        if (!"tag".equals(node.path("type").asText(null))) {
            throw error("must be a format of type \"tag\"", ptr);
        }
        JsonNode content = node.get("content");
        if (content == null) {
            throw error("a tag needs its \"content\" (a format)", ptr + "/content");
        }
        return Expr.seq(Expr.literal(string(node, "begin", ptr, true)), format(content, ptr + "/content", depth + 1),
                Expr.literal(string(node, "end", ptr, true)));
    }

    private Expr tagsWithSeparator(JsonNode node, String ptr, int depth) {
        JsonNode tags = node.get("tags");
        if (tags == null || !tags.isArray() || tags.isEmpty()) {
            throw error("\"tags\" must be a non-empty array of tags", ptr + "/tags");
        }
        List<Expr> options = new ArrayList<>();
        for (int i = 0; i < tags.size(); i++) {
            options.add(tag(tags.get(i), ptr + "/tags/" + i, depth + 1));
        }
        Expr one = Expr.alt(options);
        String separator = node.has("separator") ? string(node, "separator", ptr, true) : "";
        boolean atLeastOne = flag(node, "at_least_one", ptr);
        boolean stopAfterFirst = flag(node, "stop_after_first", ptr);
        Expr some = stopAfterFirst ? one : Expr.seq(one, Expr.star(Expr.seq(Expr.literal(separator), one)));
        return atLeastOne ? some : Expr.optional(some);
    }

    /** The grammar's rules under names of their own (a "/" no GBNF or schema rule name has); its root's reference. */
    private Expr embed(Grammar grammar) {
        String prefix = "st" + grammars++ + "/";
        for (var rule : grammar.rules().entrySet()) {
            rules.put(prefix + rule.getKey(), rename(rule.getValue(), prefix));
        }
        return new Expr.Ref(prefix + grammar.root());
    }

    private static Expr rename(Expr e, String prefix) {
        return switch (e) {
            case Expr.Ref r -> new Expr.Ref(prefix + r.rule());
            case Expr.Seq s -> new Expr.Seq(s.items().stream().map(i -> rename(i, prefix)).toList());
            case Expr.Alt a -> new Expr.Alt(a.options().stream().map(i -> rename(i, prefix)).toList());
            case Expr.Repeat r -> new Expr.Repeat(rename(r.item(), prefix), r.min(), r.max());
            case Expr.Members m -> new Expr.Members(m.members().stream().map(i -> rename(i, prefix)).toList(),
                    m.required(), rename(m.separator(), prefix), m.extra() == null ? null : rename(m.extra(), prefix));
            case Expr.Bytes b -> b;
            case Expr.Chars c -> c;
            case Expr.Lang l -> l;
        };
    }

    private static String string(JsonNode node, String field, String ptr, boolean mayBeEmpty) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual() || (!mayBeEmpty && v.asText().isEmpty())) {
            throw error("\"" + field + "\" must be a" + (mayBeEmpty ? "" : " non-empty") + " string", ptr + "/" + field);
        }
        return v.asText();
    }

    private static boolean flag(JsonNode node, String field, String ptr) {
        JsonNode v = node.get(field);
        if (v == null) {
            return false;
        }
        if (!v.isBoolean()) {
            throw error("\"" + field + "\" must be a boolean", ptr + "/" + field);
        }
        return v.booleanValue();
    }

    private static String shorten(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }

    private static GuidedDecodingException error(@Nullable String message, String ptr) {
        return new GuidedDecodingException("structural tag at " + ptr + ": " + message, null, ptr);
    }
}
