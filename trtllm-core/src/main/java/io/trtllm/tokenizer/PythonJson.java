package io.trtllm.tokenizer;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Python's {@code json.dumps} and {@code str()} for template values. Tool definitions reach the
 * prompt through {@code tojson}, and the model was trained on Python's exact spelling:
 * {@code {"a": 1, "b": [1, 2]}} with a space after {@code :} and {@code ,}, non-ASCII kept as is
 * (transformers' {@code tojson} passes {@code ensure_ascii=False}), floats as Python prints them.
 *
 * <p>Both stay within the render's limits ({@link RenderBudget}): the text they build is checked
 * before each string goes in (a list of 1,000 references to one long message would otherwise print
 * to gigabytes before any output limit sees it), and values nest at most
 * {@value RenderBudget#MAX_DEPTH} levels.
 */
final class PythonJson {
    private PythonJson() {
    }

    /**
     * {@code json.dumps(value, ensure_ascii=ensureAscii, indent=indent, separators=separators, sort_keys=sortKeys)}.
     *
     * @param indent     null for one line, else the string to indent each level with
     * @param separators null for Python's default ({@code ", "} and {@code ": "}, or {@code ","} with an indent),
     *                   else {@code [itemSeparator, keySeparator]}
     */
    static String dumps(@Nullable Object value, boolean ensureAscii, @Nullable String indent,
            @Nullable List<String> separators, boolean sortKeys) {
        String itemSep = separators != null ? separators.get(0) : indent == null ? ", " : ",";
        String keySep = separators != null ? separators.get(1) : ": ";
        StringBuilder sb = new StringBuilder();
        write(sb, value, ensureAscii, indent, itemSep, keySep, sortKeys, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, @Nullable Object v, boolean ascii, @Nullable String indent,
            String itemSep, String keySep, boolean sortKeys, int level) {
        RenderBudget.requireDepth(level, "tojson");
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (v instanceof Double || v instanceof Float) {
            sb.append(floatRepr(((Number) v).doubleValue(), true));
        } else if (v instanceof Number n) {
            sb.append(n instanceof BigDecimal bd ? bd.toPlainString() : n.toString());
        } else if (v instanceof CharSequence s) {
            quote(sb, s.toString(), ascii);
        } else if (v instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                sb.append("{}");
                return;
            }
            List<Map.Entry<String, Object>> entries = new ArrayList<>();
            map.forEach((k, x) -> entries.add(Map.entry(key(k), x == null ? NULL : x)));
            if (sortKeys) {
                entries.sort(Map.Entry.comparingByKey());
            }
            sb.append('{');
            for (int i = 0; i < entries.size(); i++) {
                sb.append(i == 0 ? "" : itemSep);
                newline(sb, indent, level + 1);
                quote(sb, entries.get(i).getKey(), ascii);
                sb.append(keySep);
                Object x = entries.get(i).getValue();
                write(sb, x == NULL ? null : x, ascii, indent, itemSep, keySep, sortKeys, level + 1);
            }
            newline(sb, indent, level);
            sb.append('}');
        } else {
            List<Object> items = PythonStrings.toList(v);
            if (items == null) {
                // Not JSON-serializable in Python; its text is the most useful thing to show.
                quote(sb, v.toString(), ascii);
                return;
            }
            if (items.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            for (int i = 0; i < items.size(); i++) {
                sb.append(i == 0 ? "" : itemSep);
                newline(sb, indent, level + 1);
                write(sb, items.get(i), ascii, indent, itemSep, keySep, sortKeys, level + 1);
            }
            newline(sb, indent, level);
            sb.append(']');
        }
    }

    private static final Object NULL = new Object();

    private static String key(@Nullable Object k) {
        if (k == null) {
            return "null";
        }
        if (k instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (k instanceof Double || k instanceof Float) {
            return floatRepr(((Number) k).doubleValue(), true);
        }
        return k.toString();
    }

    private static void newline(StringBuilder sb, @Nullable String indent, int level) {
        if (indent != null) {
            room(sb, 1 + (long) indent.length() * level, "tojson");
            sb.append('\n').append(indent.repeat(level));
        }
    }

    /** Refuses to let {@code sb} grow by {@code more} characters past the render's limit. */
    private static void room(StringBuilder sb, long more, String what) {
        RenderBudget.requireChars(sb.length() + more, what);
    }

    private static void quote(StringBuilder sb, String s, boolean ascii) {
        room(sb, s.length() + 2L, "tojson");
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ascii && c > 0x7E)) {
                        // ensure_ascii escapes each UTF-16 unit, which is what Python does for astral chars too.
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
        // Escapes grow a string up to sixfold.
        room(sb, 0, "tojson");
    }

    /**
     * Python's {@code repr(float)}: the shortest digits that round-trip (as Java's), positional for
     * exponents in [-4, 16), else {@code 1e-05} / {@code 1.5e+16}. JSON spells the non-finite values
     * {@code NaN}/{@code Infinity}; {@code str()} spells them {@code nan}/{@code inf}.
     */
    static String floatRepr(double d, boolean json) {
        if (Double.isNaN(d)) {
            return json ? "NaN" : "nan";
        }
        if (Double.isInfinite(d)) {
            return (d < 0 ? "-" : "") + (json ? "Infinity" : "inf");
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = bd.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - bd.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = bd.abs().toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        int e = Math.abs(exponent);
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (e < 10 ? "0" : "") + e;
    }

    /** Python's {@code str(value)}: how a template prints a value or turns it into a string. */
    static String str(@Nullable Object v) {
        if (v instanceof CharSequence s) {
            return s.toString();
        }
        return repr(v);
    }

    /** Python's {@code repr(value)}: {@code None}, {@code True}, {@code 'text'}, {@code [1, 'a']}, {@code {'k': 1}}. */
    static String repr(@Nullable Object v) {
        StringBuilder sb = new StringBuilder();
        repr(sb, v, 0);
        return sb.toString();
    }

    private static void repr(StringBuilder sb, @Nullable Object v, int level) {
        RenderBudget.requireDepth(level, "str()");
        if (v == null) {
            sb.append("None");
        } else if (v instanceof Boolean b) {
            sb.append(b ? "True" : "False");
        } else if (v instanceof Double || v instanceof Float) {
            sb.append(floatRepr(((Number) v).doubleValue(), false));
        } else if (v instanceof Number n) {
            sb.append(n instanceof BigDecimal bd ? bd.toPlainString() : n.toString());
        } else if (v instanceof CharSequence s) {
            reprString(sb, s.toString());
        } else if (v instanceof Map<?, ?> map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                sb.append(first ? "" : ", ");
                repr(sb, e.getKey(), level + 1);
                sb.append(": ");
                repr(sb, e.getValue(), level + 1);
                first = false;
            }
            sb.append('}');
        } else {
            List<Object> items = PythonStrings.toList(v);
            if (items == null) {
                String text = v.toString();
                room(sb, text.length(), "str()");
                sb.append(text);
                return;
            }
            sb.append('[');
            for (int i = 0; i < items.size(); i++) {
                sb.append(i == 0 ? "" : ", ");
                repr(sb, items.get(i), level + 1);
            }
            sb.append(']');
        }
    }

    private static void reprString(StringBuilder sb, String s) {
        room(sb, s.length() + 2L, "str()");
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        sb.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                sb.append('\\').appendCodePoint(cp);
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (isPrintable(cp)) {
                sb.appendCodePoint(cp);
            } else if (cp <= 0xFF) {
                sb.append(String.format("\\x%02x", cp));
            } else if (cp <= 0xFFFF) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.append(String.format("\\U%08x", cp));
            }
        }
        sb.append(quote);
        // Escapes grow a string up to tenfold.
        room(sb, 0, "str()");
    }

    /** Python's {@code str.isprintable()} for one code point: not a control, format, separator (but ' ') or unassigned. */
    private static boolean isPrintable(int cp) {
        if (cp == ' ') {
            return true;
        }
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }
}
