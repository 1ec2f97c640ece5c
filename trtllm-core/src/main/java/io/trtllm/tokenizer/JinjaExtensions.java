package io.trtllm.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter.InterpreterScopeClosable;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.time.temporal.ChronoField;
import java.time.temporal.IsoFields;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The globals, filters and tags that transformers adds to Jinja2 for chat templates, written for
 * Jinjava: {@code raise_exception(msg)}, {@code strftime_now(fmt)}, a {@code tojson} with Python's
 * spelling, {@code trim} with Python's idea of whitespace, and the {@code {% generation %}} block
 * (which marks assistant text for training masks and renders its body unchanged).
 *
 * <p>Filters that take a size ({@code indent}'s width, {@code center}'s, {@code batch}'s count, the
 * widths in a {@code format} string) check it against the render's limits ({@link RenderBudget})
 * before building anything: {@code 'x'|center(2000000000)} would take gigabytes in one step, where
 * no check between template nodes could stop it.
 */
final class JinjaExtensions {
    private JinjaExtensions() {
    }

    /** What {@code raise_exception} throws; {@link ChatTemplate} finds it among Jinjava's errors. */
    static final class TemplateRaisedException extends RuntimeException {
        TemplateRaisedException(String message) {
            super(message);
        }
    }

    static List<ELFunctionDefinition> functions() {
        return List.of(
                new ELFunctionDefinition("", "raise_exception", JinjaExtensions.class, "raiseException", Object.class),
                new ELFunctionDefinition("", "strftime_now", JinjaExtensions.class, "strftimeNow", String.class),
                new ELFunctionDefinition("", JinjaPreprocessor.SLICE_FUNCTION, JinjaExtensions.class, "slice",
                        Object.class, Object.class, Object.class));
    }

    public static Object raiseException(@Nullable Object message) {
        throw new TemplateRaisedException(PythonJson.str(message));
    }

    /** Python's {@code datetime.now().strftime(format)}, local time, C locale. */
    public static String strftimeNow(String format) {
        return strftime(format, ZonedDateTime.now());
    }

    public static String slice(@Nullable Object start, @Nullable Object stop, @Nullable Object step) {
        return PythonStrings.sliceKey(start, stop, step);
    }

    /** The C-locale {@code strftime} directives templates use ({@code %d %b %Y}, ...), plus glibc's {@code %-d}. */
    static String strftime(String format, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                sb.append(c);
                continue;
            }
            char d = format.charAt(++i);
            boolean pad = true;
            if (d == '-' && i + 1 < format.length()) {
                pad = false;
                d = format.charAt(++i);
            }
            switch (d) {
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b', 'h' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'd' -> number(sb, t.getDayOfMonth(), 2, pad);
                case 'e' -> sb.append(String.format("%2d", t.getDayOfMonth()));
                case 'm' -> number(sb, t.getMonthValue(), 2, pad);
                case 'y' -> number(sb, t.getYear() % 100, 2, pad);
                case 'Y' -> sb.append(t.getYear());
                case 'H' -> number(sb, t.getHour(), 2, pad);
                case 'I' -> number(sb, t.getHour() % 12 == 0 ? 12 : t.getHour() % 12, 2, pad);
                case 'M' -> number(sb, t.getMinute(), 2, pad);
                case 'S' -> number(sb, t.getSecond(), 2, pad);
                case 'f' -> number(sb, t.getNano() / 1000, 6, true);
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> number(sb, t.getDayOfYear(), 3, pad);
                case 'u' -> sb.append(t.getDayOfWeek().getValue());
                case 'w' -> sb.append(t.getDayOfWeek().getValue() % 7);
                case 'V' -> number(sb, t.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR), 2, pad);
                case 'G' -> sb.append(t.get(IsoFields.WEEK_BASED_YEAR));
                case 'z' -> {
                    int s = t.getOffset().getTotalSeconds();
                    sb.append(s < 0 ? '-' : '+');
                    number(sb, Math.abs(s) / 3600, 2, true);
                    number(sb, Math.abs(s) / 60 % 60, 2, true);
                }
                case 'Z' -> sb.append(t.getZone().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'F' -> sb.append(strftime("%Y-%m-%d", t));
                case 'D' -> sb.append(strftime("%m/%d/%y", t));
                case 'T' -> sb.append(strftime("%H:%M:%S", t));
                case 'R' -> sb.append(strftime("%H:%M", t));
                case 'c' -> sb.append(strftime("%a %b %e %H:%M:%S %Y", t));
                case 'x' -> sb.append(strftime("%m/%d/%y", t));
                case 'X' -> sb.append(strftime("%H:%M:%S", t));
                case 's' -> sb.append(t.toEpochSecond());
                case 'C' -> number(sb, t.get(ChronoField.YEAR) / 100, 2, pad);
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case '%' -> sb.append('%');
                default -> sb.append('%').append(pad ? "" : "-").append(d);
            }
        }
        return sb.toString();
    }

    private static void number(StringBuilder sb, int value, int width, boolean pad) {
        String s = Integer.toString(value);
        if (pad) {
            sb.append("0".repeat(Math.max(0, width - s.length())));
        }
        sb.append(s);
    }

    /** transformers' {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
    static final class ToJsonFilter implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            // Positional order of transformers' signature: ensure_ascii, indent, separators, sort_keys.
            Object ensureAscii = arg(args, kwargs, 0, "ensure_ascii");
            Object indent = arg(args, kwargs, 1, "indent");
            Object separators = arg(args, kwargs, 2, "separators");
            Object sortKeys = arg(args, kwargs, 3, "sort_keys");
            String indentText = indent == null ? null : indent instanceof Number n ? spaces(n, "tojson") : indent.toString();
            List<String> seps = null;
            if (separators != null) {
                List<Object> parts = PythonStrings.toList(separators);
                if (parts == null || parts.size() != 2) {
                    throw new IllegalStateException("tojson: separators must be a pair of strings, found " + separators);
                }
                seps = List.of(String.valueOf(parts.get(0)), String.valueOf(parts.get(1)));
            }
            return PythonJson.dumps(var, Boolean.TRUE.equals(ensureAscii), indentText, seps, Boolean.TRUE.equals(sortKeys));
        }
    }

    /** Jinja2's {@code trim(value, chars=None)}: Python's {@code str(value).strip(chars)}. */
    static final class TrimFilter implements Filter {
        @Override
        public String getName() {
            return "trim";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object chars = arg(args, kwargs, 0, "chars");
            String text = var == null ? "" : var instanceof String s ? s : PythonJson.str(var);
            return PythonStrings.strip(text, chars == null ? null : chars.toString(), true, true);
        }
    }

    /** Jinja2's {@code string} filter: Python's {@code str(value)} ({@code True}, {@code None}, {@code ['a', 1]}). */
    static final class StringFilter implements Filter {
        @Override
        public String getName() {
            return "string";
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, String... args) {
            return PythonJson.str(var);
        }
    }

    /** Jinja2's {@code items} filter (3.1): the (key, value) pairs of a mapping; nothing for undefined. */
    static final class ItemsFilter implements Filter {
        @Override
        public String getName() {
            return "items";
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, String... args) {
            List<List<Object>> pairs = new ArrayList<>();
            if (var instanceof Map<?, ?> map) {
                map.forEach((k, v) -> pairs.add(Arrays.asList(k, v)));
            } else if (var != null) {
                throw new IllegalArgumentException("items: expected a mapping, found " + var.getClass().getSimpleName());
            }
            return pairs;
        }
    }

    /**
     * Jinja2's {@code indent(s, width=4, first=False, blank=False)} (Jinjava's takes other argument
     * names): indents every line but the first, and blank lines only with {@code blank}.
     */
    static final class IndentFilter implements Filter {
        @Override
        public String getName() {
            return "indent";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object width = arg(args, kwargs, 0, "width");
            Object first = kwargs.containsKey("indentfirst") ? kwargs.get("indentfirst") : arg(args, kwargs, 1, "first");
            Object blank = arg(args, kwargs, 2, "blank");
            String indention = width == null ? "    " : width instanceof Number n ? spaces(n, "indent") : width.toString();
            String s = (var == null ? "" : PythonJson.str(var)) + "\n";
            List<String> lines = PythonStrings.splitlines(s);
            RenderBudget.requireChars(s.length() + (long) lines.size() * indention.length(), "indent");
            StringBuilder sb = new StringBuilder();
            if (Boolean.TRUE.equals(blank)) {
                sb.append(String.join("\n" + indention, lines));
            } else {
                sb.append(lines.getFirst());
                for (String line : lines.subList(1, lines.size())) {
                    sb.append('\n').append(line.isEmpty() ? "" : indention).append(line);
                }
            }
            return Boolean.TRUE.equals(first) ? indention + sb : sb.toString();
        }
    }

    /** Jinja2's {@code center(value, width=80)}: Python's {@code str(value).center(width)}. */
    static final class CenterFilter implements Filter {
        @Override
        public String getName() {
            return "center";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object width = arg(args, kwargs, 0, "width");
            long w = width == null ? 80 : number(width, "center").longValue();
            String s = var == null ? "" : PythonJson.str(var);
            long length = s.codePointCount(0, s.length());
            if (w <= length) {
                return s;
            }
            RenderBudget.requireChars(s.length() + (w - length), "center");
            // CPython's pad(): the odd space goes left when the width is odd.
            long margin = w - length;
            long left = margin / 2 + (margin & w & 1);
            return " ".repeat((int) left) + s + " ".repeat((int) (margin - left));
        }
    }

    /**
     * Jinja2's {@code striptags}: MarkupSafe's {@code Markup(value).striptags()}: comments, then tags
     * removed, whitespace runs collapsed to one space, character references unescaped (numeric ones,
     * and {@code &amp; &lt; &gt; &quot; &apos; &nbsp;}; Python's {@code html.unescape} knows all of
     * HTML5's names). Jinjava's own renders the value as a template first, which would run message
     * text as template code.
     */
    static final class StripTagsFilter implements Filter {
        @Override
        public String getName() {
            return "striptags";
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, String... args) {
            String s = var == null ? "" : PythonJson.str(var);
            s = removeSpans(removeSpans(s, "<!--", "-->"), "<", ">");
            StringBuilder words = new StringBuilder(s.length());
            for (int i = 0; i < s.length(); ) {
                int cp = s.codePointAt(i);
                if (PythonStrings.isPythonWhitespace(cp)) {
                    i += Character.charCount(cp);
                    continue;
                }
                int end = i;
                while (end < s.length() && !PythonStrings.isPythonWhitespace(s.codePointAt(end))) {
                    end += Character.charCount(s.codePointAt(end));
                }
                words.append(words.isEmpty() ? "" : " ").append(s, i, end);
                i = end;
            }
            return unescape(words.toString());
        }

        private static final Pattern REFERENCE = Pattern.compile("&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,7})|(amp|lt|gt|quot|nbsp)|(apos)(?=;));?");

        /** Python's {@code html.unescape} for numeric references and the common named ones. */
        static String unescape(String s) {
            if (s.indexOf('&') < 0) {
                return s;
            }
            return REFERENCE.matcher(s).replaceAll(m -> {
                String named = m.group(3) != null ? m.group(3) : m.group(4);
                if (named != null) {
                    return Matcher.quoteReplacement(switch (named) {
                        case "amp" -> "&";
                        case "lt" -> "<";
                        case "gt" -> ">";
                        case "quot" -> "\"";
                        case "apos" -> "'";
                        default -> "\u00a0";
                    });
                }
                int cp = m.group(1) != null ? Integer.parseInt(m.group(1)) : Integer.parseInt(m.group(2), 16);
                boolean valid = cp > 0 && cp <= Character.MAX_CODE_POINT && (cp < 0xD800 || cp > 0xDFFF);
                return Matcher.quoteReplacement(valid ? new String(Character.toChars(cp)) : "\ufffd");
            });
        }

        /**
         * MarkupSafe's loop, in one pass: while the text holds {@code open} with a {@code close} at or
         * after it, the first such span goes, and the search starts again from the text's beginning
         * (so {@code "<!-<!--x-->-y-->"} loses both comments). The text before the first {@code open}
         * holds none, so only its last few characters, joined with what follows, are searched again.
         */
        static String removeSpans(String s, String open, String close) {
            StringBuilder out = new StringBuilder(s.length());
            int i = 0; // the text is out + s[i..]
            while (true) {
                int o = out.length();
                int start = find(out, s, i, open, Math.max(0, o - open.length() + 1));
                int end = start < 0 ? -1 : find(out, s, i, close, start);
                if (end < 0) {
                    break;
                }
                // The open runs past out's end, so the close ends past it too: the rest resumes in s.
                int resume = i + (end + close.length() - o);
                if (start < o) {
                    out.setLength(start);
                } else {
                    out.append(s, i, i + (start - o));
                }
                i = resume;
            }
            return out.append(s, i, s.length()).toString();
        }

        /** Index in {@code out + s[i..]} of the first {@code needle} at or after {@code from}, or -1. */
        private static int find(StringBuilder out, String s, int i, String needle, int from) {
            int o = out.length();
            for (int v = from; v < o; v++) {
                if (startsAt(out, s, i, v, needle)) {
                    return v;
                }
            }
            int at = s.indexOf(needle, i + Math.max(0, from - o));
            return at < 0 ? -1 : o + (at - i);
        }

        private static boolean startsAt(StringBuilder out, String s, int i, int v, String needle) {
            for (int k = 0; k < needle.length(); k++) {
                int p = v + k;
                int q = i + (p - out.length());
                if (p >= out.length() && q >= s.length()) {
                    return false;
                }
                if ((p < out.length() ? out.charAt(p) : s.charAt(q)) != needle.charAt(k)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** Jinja2's {@code replace(s, old, new, count=None)}: Python's {@code str.replace}, within the limits. */
    static final class ReplaceFilter implements Filter {
        @Override
        public String getName() {
            return "replace";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object old = arg(args, kwargs, 0, "old");
            Object replacement = arg(args, kwargs, 1, "new");
            Object count = arg(args, kwargs, 2, "count");
            if (old == null || replacement == null) {
                throw new IllegalArgumentException("replace: expects old and new strings, found " + old + ", " + replacement);
            }
            String s = var == null ? "" : PythonJson.str(var);
            return PythonStrings.replace(s, PythonJson.str(old), PythonJson.str(replacement),
                    count == null ? -1 : number(count, "replace").longValue());
        }
    }

    /**
     * Jinja2's {@code pprint}: the value as Python prints it (for the short values templates hold,
     * {@code pprint.pformat} is {@code repr}; Jinjava's own prints its Java class and HTML escapes).
     */
    static final class PprintFilter implements Filter {
        @Override
        public String getName() {
            return "pprint";
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, String... args) {
            return PythonJson.repr(var);
        }
    }

    /** Jinjava's {@code batch}, whose count (the length its last batch is filled to) is held to the item limit. */
    static final class BatchFilter implements Filter {
        private final Filter batch = new com.hubspot.jinjava.lib.filter.BatchFilter();

        @Override
        public String getName() {
            return "batch";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, args, Map.of());
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object count = arg(args, kwargs, 0, "linecount");
            if (count != null) {
                RenderBudget.requireItems(number(count, "batch").longValue(), "batch");
            }
            return batch.filter(var, interpreter, args, kwargs);
        }
    }

    /**
     * Jinja2's {@code format} (printf style; Jinjava's, through Java's formatter), whose widths and
     * precisions ({@code %2000000000s}) are held to the string limit before the text is built.
     */
    static final class FormatFilter implements AdvancedFilter {
        private static final Pattern SIZES = Pattern.compile("%(?:\\d+\\$)?[-#+ 0,(<]*(\\d+)?(?:\\.(\\d+))?");

        private final AdvancedFilter format = new com.hubspot.jinjava.lib.filter.FormatFilter();

        @Override
        public String getName() {
            return "format";
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Matcher m = SIZES.matcher(var == null ? "" : var.toString());
            while (m.find()) {
                for (int g = 1; g <= 2; g++) {
                    if (m.group(g) != null) {
                        // Digits past a long are past any limit.
                        RenderBudget.requireChars(m.group(g).length() > 18 ? Long.MAX_VALUE : Long.parseLong(m.group(g)),
                                "format");
                    }
                }
            }
            return format.filter(var, interpreter, args, kwargs);
        }
    }

    /**
     * Every filter but the few that only pass references on: its value and arguments may be printed
     * with Java's {@code toString} (Jinjava's default for arguments, and what many of its filters do
     * with a list), so a value whose text would be over the string limit is refused first (see
     * {@link RenderBudget#requirePrintable}).
     */
    static final class PrintableInputs implements Filter {
        /** Filters that return a member, a count or references, and never print their list. */
        static final Set<String> PASS_REFERENCES = Set.of("length", "count", "first", "last", "list", "map", "select",
                "reject", "selectattr", "rejectattr", "sort", "unique", "reverse", "slice", "sum", "min", "max", "random",
                "dictsort", "groupby", "default", "d", "safe", "join");

        private final Filter filter;

        PrintableInputs(Filter filter) {
            this.filter = filter;
        }

        @Override
        public String getName() {
            return filter.getName();
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, String... args) {
            RenderBudget.requirePrintable(var, getName());
            return filter.filter(var, interpreter, args);
        }

        @Override
        public Object filter(@Nullable Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            RenderBudget.requirePrintable(var, getName());
            for (Object arg : args) {
                RenderBudget.requirePrintable(arg, getName());
            }
            for (Object arg : kwargs.values()) {
                RenderBudget.requirePrintable(arg, getName());
            }
            return filter.filter(var, interpreter, args, kwargs);
        }

        @Override
        public boolean preserveSafeString() {
            return filter.preserveSafeString();
        }
    }

    /** {@code {% generation %}...{% endgeneration %}}: transformers' assistant-mask marker; renders its body. */
    static final class GenerationTag implements Tag {
        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            try (InterpreterScopeClosable ignored = interpreter.enterScope()) {
                StringBuilder sb = new StringBuilder();
                for (Node child : tagNode.getChildren()) {
                    sb.append(child.render(interpreter).getValue());
                }
                return sb.toString();
            }
        }
    }

    /** {@code n} spaces, for a width a template passes (e.g. {@code indent(4)}), within the string limit. */
    private static String spaces(Number n, String what) {
        long width = Math.max(0, n.longValue());
        RenderBudget.requireChars(width, what);
        return " ".repeat((int) width);
    }

    private static Number number(Object value, String what) {
        if (value instanceof Number n) {
            return n;
        }
        try {
            return Long.parseLong(value.toString().strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + ": expects an integer, found " + value);
        }
    }

    private static @Nullable Object arg(Object[] args, Map<String, Object> kwargs, int position, String name) {
        if (kwargs.containsKey(name)) {
            return kwargs.get(name);
        }
        return position < args.length ? args[position] : null;
    }
}
