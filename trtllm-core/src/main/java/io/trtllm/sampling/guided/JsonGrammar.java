package io.trtllm.sampling.guided;

import java.util.ArrayList;
import java.util.List;

/**
 * The pieces of JSON (RFC 8259) as expressions over bytes: whitespace (bounded), strings, numbers,
 * literals, and any value (a recursive rule, {@link #ANY_CONTAINER}, for nested arrays and objects).
 */
final class JsonGrammar {
    /** The rule of an array or object of any JSON, recursive: containers nest through it, scalars do not. */
    static final String ANY_CONTAINER = "json:any-container";

    static final CodePointSet WHITESPACE = CodePointSet.of(' ', '\t', '\n', '\r');
    /** What a JSON string holds without an escape: anything but {@code "}, {@code \} and controls. */
    static final CodePointSet UNESCAPED = CodePointSet.range(0, 0x1F).union(CodePointSet.of('"', '\\')).complement();
    static final Expr HEX = Expr.chars(new CodePointSet.Builder().add('0', '9').add('A', 'F').add('a', 'f').build());
    static final Expr DIGIT = Expr.chars(CodePointSet.range('0', '9'));
    static final Expr NONZERO_DIGIT = Expr.chars(CodePointSet.range('1', '9'));

    /** One character of a string's content, as written in JSON: raw, or any escape (surrogate pairs as one). */
    static final Expr STRING_CHAR = new Expr.Lang(Automata.of(stringChar()));
    /** Any code point, canonically written (see {@link #canonicalChar}). */
    static final Expr CANONICAL_CHAR = new Expr.Lang(Automata.of(canonicalChar(CodePointSet.ALL)));

    private JsonGrammar() {
    }

    static Expr ws(GuideOptions options) {
        return options.maxWhitespace() == 0 ? Expr.EMPTY : Expr.repeat(Expr.chars(WHITESPACE), 0, options.maxWhitespace());
    }

    private static Expr stringChar() {
        Expr hexNotD = Expr.chars(new CodePointSet.Builder().add('0', '9').add('A', 'C').add('E', 'F')
                .add('a', 'c').add('e', 'f').build());
        Expr d = Expr.chars(CodePointSet.of('d', 'D'));
        Expr nonSurrogate = Expr.alt(Expr.seq(hexNotD, HEX, HEX, HEX), Expr.seq(d, Expr.chars(CodePointSet.range('0', '7')), HEX, HEX));
        Expr high = Expr.seq(d, Expr.chars(CodePointSet.of('8', '9', 'a', 'b', 'A', 'B')), HEX, HEX);
        Expr low = Expr.seq(d, Expr.chars(new CodePointSet.Builder().add('c', 'f').add('C', 'F').build()), HEX, HEX);
        return Expr.alt(
                Expr.chars(UNESCAPED),
                Expr.seq(Expr.literal("\\"), Expr.chars(CodePointSet.ofChars("\"\\/bfnrt"))),
                Expr.seq(Expr.literal("\\u"), nonSurrogate),
                Expr.seq(Expr.literal("\\u"), high, Expr.literal("\\u"), low));
    }

    /**
     * One code point of {@code set} as JSON writes it canonically: raw where it may be, else its short
     * escape ({@code \" \\ \b \f \n \r \t}) or {@code \\u00XX}. One spelling per code point, so that
     * languages built of these can be intersected and subtracted as sets of strings.
     */
    static Expr canonicalChar(CodePointSet set) {
        List<Expr> options = new ArrayList<>();
        CodePointSet raw = set.intersect(UNESCAPED);
        if (!raw.isEmpty()) {
            options.add(Expr.chars(raw));
        }
        CodePointSet escaped = set.minus(UNESCAPED);
        int[] r = escaped.ranges();
        for (int i = 0; i < r.length; i += 2) {
            for (int c = r[i]; c <= r[i + 1]; c++) {
                options.add(Expr.literal(escape(c)));
            }
        }
        return Expr.alt(options);
    }

    static String escape(int c) {
        return switch (c) {
            case '"' -> "\\\"";
            case '\\' -> "\\\\";
            case '\b' -> "\\b";
            case '\f' -> "\\f";
            case '\n' -> "\\n";
            case '\r' -> "\\r";
            case '\t' -> "\\t";
            default -> String.format("\\u%04x", c);
        };
    }

    /** Rewrites an expression over code points (a parsed pattern) into one over their canonical JSON spellings. */
    static Expr jsonEscaped(Expr e) {
        return switch (e) {
            case Expr.Chars c -> canonicalChar(c.set());
            case Expr.Seq s -> Expr.seq(s.items().stream().map(JsonGrammar::jsonEscaped).toList());
            case Expr.Alt a -> Expr.alt(a.options().stream().map(JsonGrammar::jsonEscaped).toList());
            case Expr.Repeat r -> Expr.repeat(jsonEscaped(r.item()), r.min(), r.max());
            case Expr.Members m -> throw new IllegalArgumentException("a pattern has no JSON members");
            case Expr.Bytes b -> throw new IllegalArgumentException("byte literals have no code points to escape");
            case Expr.Ref r -> throw new IllegalArgumentException("a pattern has no rules");
            case Expr.Lang l -> throw new IllegalArgumentException("a pattern has no prebuilt automata");
        };
    }

    /** {@code "} content {@code "}. */
    static Expr string(Expr content) {
        return Expr.seq(Expr.literal("\""), content, Expr.literal("\""));
    }

    /** Any string. */
    static Expr anyString() {
        return string(Expr.star(STRING_CHAR));
    }

    /**
     * Any number: {@code -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?}. The exponent has at most two
     * digits: JSON allows more, but parsers that read doubles overflow past 1e308 (validators included).
     */
    static Expr anyNumber() {
        return Expr.seq(Expr.optional(Expr.literal("-")), integerDigits(),
                Expr.optional(Expr.seq(Expr.literal("."), Expr.plus(DIGIT))),
                Expr.optional(Expr.seq(Expr.chars(CodePointSet.of('e', 'E')), Expr.optional(Expr.chars(CodePointSet.of('+', '-'))),
                        Expr.repeat(DIGIT, 1, 2))));
    }

    /** Any integer, without exponent or fraction: {@code -?(0|[1-9][0-9]*)}. */
    static Expr anyInteger() {
        return Expr.seq(Expr.optional(Expr.literal("-")), integerDigits());
    }

    /** A non-negative integer without leading zeros. */
    static Expr integerDigits() {
        return Expr.alt(Expr.literal("0"), Expr.seq(NONZERO_DIGIT, Expr.star(DIGIT)));
    }

    static Expr scalar() {
        return Expr.alt(anyString(), anyNumber(), Expr.literal("true"), Expr.literal("false"), Expr.literal("null"));
    }

    /** Any JSON value: a scalar, or a container through the recursive rule. */
    static Expr anyValue() {
        return Expr.alt(scalar(), new Expr.Ref(ANY_CONTAINER));
    }

    /** {@code { ws (member (ws , ws member)* ws)? }} with members of any value. */
    static Expr anyObject(GuideOptions options) {
        Expr ws = ws(options);
        Expr member = Expr.seq(anyString(), ws, Expr.literal(":"), ws, anyValue());
        return Expr.seq(Expr.literal("{"), ws,
                Expr.optional(Expr.seq(member, Expr.star(Expr.seq(ws, Expr.literal(","), ws, member)), ws)),
                Expr.literal("}"));
    }

    static Expr anyArray(GuideOptions options) {
        Expr ws = ws(options);
        return Expr.seq(Expr.literal("["), ws,
                Expr.optional(Expr.seq(anyValue(), Expr.star(Expr.seq(ws, Expr.literal(","), ws, anyValue())), ws)),
                Expr.literal("]"));
    }

    /** The rule {@link #ANY_CONTAINER}. */
    static Expr anyContainer(GuideOptions options) {
        return Expr.alt(anyObject(options), anyArray(options));
    }

    /** {@code value} as a JSON string, written canonically (see {@link #canonicalChar}). */
    static String canonicalJson(String value) {
        StringBuilder out = new StringBuilder(value.length() + 2).append('"');
        value.codePoints().forEach(c -> {
            if (UNESCAPED.contains(c)) {
                out.appendCodePoint(c);
            } else {
                out.append(escape(c));
            }
        });
        return out.append('"').toString();
    }

    /** The canonically written strings {@code "..."}, but not those whose value is in {@code excluded}. */
    static Expr canonicalStringExcept(List<String> excluded) {
        Dfa all = Automata.of(string(Expr.star(CANONICAL_CHAR)));
        if (excluded.isEmpty()) {
            return new Expr.Lang(all);
        }
        Dfa names = Automata.of(Expr.alt(excluded.stream().map(s -> Expr.literal(canonicalJson(s))).toList()));
        return new Expr.Lang(all.minus(names));
    }
}
